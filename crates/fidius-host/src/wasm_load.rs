//! Loading WASM packages through [`PluginHost`]: find the package, read it
//! once and verify exactly those bytes, take limits and capabilities from
//! the (verified) manifest, and hand the component to the WASM executor.

use crate::error::LoadError;
use crate::executor::wasm::{load_package_component, EgressPolicy, WasmOptions};
use crate::executor::CallLimits;
use crate::handle::PluginHandle;
use crate::host::PluginHost;
use crate::info::{PluginInfo, PluginRuntimeKind};
use fidius_core::wasm_descriptor::WasmInterfaceDescriptor;
use fidius_core::BufferStrategyKind;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Largest component (or `.cwasm`) file a package may hold.
pub const MAX_COMPONENT_BYTES: u64 = 512 << 20;

/// How one WASM load differs from the package's defaults.
#[derive(Default)]
pub(crate) struct WasmLoad {
    pub config: Option<Vec<u8>>,
    pub capabilities: Option<Vec<String>>,
    pub limits: Option<CallLimits>,
    /// A per-plugin egress policy, `Some(None)` for none at all (`None`:
    /// the host-wide one).
    pub egress: Option<Option<Arc<dyn EgressPolicy>>>,
}

fn wasm_err(dir: &Path, msg: impl std::fmt::Display) -> LoadError {
    LoadError::WasmLoad(format!("{}: {msg}", dir.display()))
}

/// A relative path inside the package (no `..`, not absolute).
fn inside(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// `[wasm.limits]` of a manifest: `deadline_ms`, `fuel`, `max_memory_bytes`,
/// and `[wasm] reuse_instances`.
fn manifest_limits(dir: &Path, text: &str) -> Result<(CallLimits, bool), LoadError> {
    let v: toml::Value = toml::from_str(text).map_err(|e| wasm_err(dir, e))?;
    let wasm = v.get("wasm");
    let reuse = wasm
        .and_then(|w| w.get("reuse_instances"))
        .and_then(toml::Value::as_bool)
        .unwrap_or(false);
    let mut limits = CallLimits::default();
    if let Some(l) = wasm.and_then(|w| w.get("limits")) {
        let num = |key: &str| -> Result<Option<u64>, LoadError> {
            match l.get(key) {
                None => Ok(None),
                Some(toml::Value::Integer(i)) if *i > 0 => Ok(Some(*i as u64)),
                Some(other) => Err(wasm_err(
                    dir,
                    format!("[wasm.limits] {key} must be a positive integer, got {other}"),
                )),
            }
        };
        if let Some(t) = l.as_table() {
            for k in t.keys() {
                if !["deadline_ms", "fuel", "max_memory_bytes"].contains(&k.as_str()) {
                    return Err(wasm_err(
                        dir,
                        format!("unknown key [wasm.limits] {k} (allowed: deadline_ms, fuel, max_memory_bytes)"),
                    ));
                }
            }
        }
        limits.deadline = num("deadline_ms")?.map(Duration::from_millis);
        limits.fuel = num("fuel")?;
        limits.max_memory = num("max_memory_bytes")?;
    }
    Ok((limits, reuse))
}

impl PluginHost {
    /// The directory of WASM package `name` in the search paths.
    pub fn find_wasm_package(&self, name: &str) -> Result<PathBuf, LoadError> {
        self.find_package(name, "wasm")
    }

    /// Loads WASM package `name` as a zero-config plugin of the interface
    /// `desc` (`<Trait>_WASM_DESCRIPTOR`).
    pub fn load_wasm(
        &self,
        name: &str,
        desc: &'static WasmInterfaceDescriptor,
    ) -> Result<PluginHandle, LoadError> {
        self.load_wasm_with(name, desc, WasmLoad::default())
    }

    /// Loads WASM package `name` as a configured instance: `config` crosses
    /// once per instance (bincode, through `fidius-configure`).
    pub fn load_wasm_configured<C: serde::Serialize + ?Sized>(
        &self,
        name: &str,
        desc: &'static WasmInterfaceDescriptor,
        config: &C,
    ) -> Result<PluginHandle, LoadError> {
        let bytes = crate::handle::encode_config(config)?;
        self.load_wasm_with(
            name,
            desc,
            WasmLoad {
                config: Some(bytes),
                ..WasmLoad::default()
            },
        )
    }

    /// [`Self::load_wasm_configured`] with capabilities that replace the
    /// manifest's (a tenant's grants, say) and an explicit egress policy
    /// (fidius 0.5 signature). `egress: None` means no policy for this
    /// plugin, even if the host has one.
    pub fn load_wasm_configured_with_grants<C: serde::Serialize + ?Sized>(
        &self,
        name: &str,
        desc: &'static WasmInterfaceDescriptor,
        config: &C,
        capabilities: Vec<String>,
        egress: Option<Arc<dyn EgressPolicy>>,
    ) -> Result<PluginHandle, LoadError> {
        let bytes = crate::handle::encode_config(config)?;
        self.load_wasm_with(
            name,
            desc,
            WasmLoad {
                config: Some(bytes),
                capabilities: Some(capabilities),
                limits: None,
                egress: Some(egress),
            },
        )
    }

    /// [`Self::load_wasm`] with a per-plugin egress policy, which brokers the
    /// package's `http`, `tcp` and `udp` capabilities in place of the
    /// host-wide one (fidius 0.5 API).
    pub fn load_wasm_with_egress(
        &self,
        name: &str,
        desc: &'static WasmInterfaceDescriptor,
        egress: impl EgressPolicy,
    ) -> Result<PluginHandle, LoadError> {
        self.load_wasm_with(
            name,
            desc,
            WasmLoad {
                egress: Some(Some(Arc::new(egress))),
                ..WasmLoad::default()
            },
        )
    }

    /// [`Self::load_wasm`] with limits that replace the package's and the host's.
    pub fn load_wasm_with_limits(
        &self,
        name: &str,
        desc: &'static WasmInterfaceDescriptor,
        limits: CallLimits,
    ) -> Result<PluginHandle, LoadError> {
        self.load_wasm_with(
            name,
            desc,
            WasmLoad {
                limits: Some(limits),
                ..WasmLoad::default()
            },
        )
    }

    pub(crate) fn load_wasm_with(
        &self,
        name: &str,
        desc: &'static WasmInterfaceDescriptor,
        how: WasmLoad,
    ) -> Result<PluginHandle, LoadError> {
        let dir = self.find_wasm_package(name)?;
        self.load_wasm_dir(&dir, desc, how)
    }

    /// Loads the WASM package in `dir` (which need not be on a search path).
    pub fn load_wasm_package_dir(
        &self,
        dir: &Path,
        desc: &'static WasmInterfaceDescriptor,
    ) -> Result<PluginHandle, LoadError> {
        self.load_wasm_dir(dir, desc, WasmLoad::default())
    }

    fn load_wasm_dir(
        &self,
        dir: &Path,
        desc: &'static WasmInterfaceDescriptor,
        how: WasmLoad,
    ) -> Result<PluginHandle, LoadError> {
        // Read once; everything below uses these bytes, which are the ones verified.
        let snapshot = fidius_package::snapshot_package(
            dir,
            &|rel| {
                rel == fidius_package::MANIFEST_FILE
                    || rel.ends_with(".wasm")
                    || rel.ends_with(".cwasm")
            },
            MAX_COMPONENT_BYTES,
        )
        .map_err(|e| wasm_err(dir, e))?;
        let verified = self.gate_package(dir, &snapshot)?;
        let (text, manifest) =
            fidius_package::snapshot_manifest(&snapshot, fidius_package::PackageRuntime::Wasm)
                .map_err(|e| wasm_err(dir, e))?;
        let Some(wasm) = manifest.wasm.as_ref() else {
            return Err(wasm_err(dir, "manifest is missing the [wasm] section"));
        };
        if !inside(&wasm.component) {
            return Err(wasm_err(
                dir,
                format!(
                    "[wasm] component '{}' must be a path inside the package",
                    wasm.component
                ),
            ));
        }
        let bytes = snapshot.files.get(&wasm.component).ok_or_else(|| {
            wasm_err(
                dir,
                format!(
                    "wasm component `{}` not found in the package",
                    wasm.component
                ),
            )
        })?;
        let cwasm_name = wasm.precompiled.clone().unwrap_or_else(|| {
            Path::new(&wasm.component)
                .with_extension("cwasm")
                .to_string_lossy()
                .into_owned()
        });
        let cwasm = match snapshot.files.get(&cwasm_name) {
            Some(art) if verified && inside(&cwasm_name) => Some(art.as_slice()),
            Some(_) => {
                tracing::warn!(package = %dir.display(), "ignoring the precompiled .cwasm of an unverified package (native code); compiling the component");
                None
            }
            None => None,
        };
        let (pkg_limits, reuse) = manifest_limits(dir, &text)?;
        let limits = how.limits.or(self.cfg.wasm_limits).unwrap_or(pkg_limits);
        let opts = WasmOptions {
            capabilities: how
                .capabilities
                .unwrap_or_else(|| wasm.capabilities.clone()),
            limits,
            reuse_instances: reuse,
            cache_dir: match &self.cfg.wasm_cache_dir {
                Some(d) => d.clone(),
                None => crate::executor::wasm::default_cache_dir(),
            },
            egress: how.egress.unwrap_or_else(|| self.cfg.egress.0.clone()),
            ..WasmOptions::default()
        };
        let info = PluginInfo {
            name: manifest.package.name.clone(),
            interface_name: desc.interface_name.to_owned(),
            interface_hash: desc.interface_hash,
            interface_version: manifest.package.interface_version,
            capabilities: 0,
            buffer_strategy: BufferStrategyKind::PluginAllocated,
            runtime: PluginRuntimeKind::Wasm,
        };
        let mut exec =
            load_package_component(bytes, cwasm, desc, info, &opts).map_err(|e| match e {
                LoadError::WasmLoad(m) => wasm_err(dir, m),
                other => other,
            })?;
        if let Some(cfg) = &how.config {
            exec.configure(cfg)
                .map_err(|e| LoadError::ConstructFailed {
                    plugin: manifest.package.name.clone(),
                    reason: e.to_string(),
                })?;
        }
        Ok(PluginHandle::from_wasm(exec))
    }
}
