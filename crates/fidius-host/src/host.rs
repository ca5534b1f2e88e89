//! [`PluginHost`]: search paths, signature policy and interface expectations;
//! discovers plugins and loads one by name.

use crate::error::LoadError;
use crate::info::{PluginInfo, PluginRuntimeKind};
use crate::loader::{self, check_info, LoadedPlugin};
use crate::signing;
use ed25519_dalek::VerifyingKey;
use fidius_core::BufferStrategyKind;
use std::path::{Path, PathBuf};

/// How signatures are treated beyond [`PluginHostBuilder::require_signature`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadPolicy {
    /// A library that carries a `.sig` file must verify against the trusted
    /// keys (when keys are configured) even if signatures are not required:
    /// a signed-then-modified library is always refused.
    #[default]
    Strict,
    /// Signatures are checked only when required; a `.sig` next to a library
    /// is otherwise ignored. Required signatures are never relaxed.
    Lenient,
}

/// Builder of a [`PluginHost`].
#[derive(Debug, Default)]
pub struct PluginHostBuilder {
    search_paths: Vec<PathBuf>,
    policy: LoadPolicy,
    require_signature: bool,
    trusted_keys: Vec<VerifyingKey>,
    pub(crate) interface_hash: Option<u64>,
    pub(crate) buffer_strategy: Option<BufferStrategyKind>,
    pub(crate) wasm_limits: Option<crate::executor::CallLimits>,
    pub(crate) wasm_cache_dir: Option<Option<PathBuf>>,
    #[cfg(feature = "wasm")]
    pub(crate) egress: EgressSlot,
    #[cfg(target_os = "linux")]
    pub(crate) isolation: crate::process::Isolation,
    #[cfg(target_os = "linux")]
    pub(crate) isolated: Vec<(String, Option<crate::process::ProcessOptions>)>,
    #[cfg(target_os = "linux")]
    pub(crate) process: crate::process::ProcessOptions,
    /// `[package] isolation = "process"` in a package's manifest is ignored.
    #[cfg(target_os = "linux")]
    pub(crate) ignore_package_isolation: bool,
}

/// The host-wide egress policy (a newtype so the builder stays `Debug`).
#[cfg(feature = "wasm")]
#[derive(Default, Clone)]
pub(crate) struct EgressSlot(pub Option<std::sync::Arc<dyn crate::executor::wasm::EgressPolicy>>);

#[cfg(feature = "wasm")]
impl std::fmt::Debug for EgressSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(EgressPolicy)"
        } else {
            "None"
        })
    }
}

impl PluginHostBuilder {
    /// Adds a directory to scan (non-recursive; missing directories are skipped).
    pub fn search_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.search_paths.push(path.into());
        self
    }

    /// Sets the [`LoadPolicy`] (default `Strict`).
    pub fn load_policy(mut self, policy: LoadPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Requires every loaded library to carry a valid `<file>.sig`.
    pub fn require_signature(mut self, required: bool) -> Self {
        self.require_signature = required;
        self
    }

    /// Sets the trusted public keys (any one may have signed a library).
    pub fn trusted_keys(mut self, keys: &[VerifyingKey]) -> Self {
        self.trusted_keys = keys.to_vec();
        self
    }

    /// Only accept plugins with this interface hash.
    pub fn interface_hash(mut self, hash: u64) -> Self {
        self.interface_hash = Some(hash);
        self
    }

    /// Only accept plugins with this buffer strategy.
    pub fn buffer_strategy(mut self, strategy: BufferStrategyKind) -> Self {
        self.buffer_strategy = Some(strategy);
        self
    }

    /// Limits for every WASM plugin this host loads, replacing the ones in
    /// the packages' `[wasm.limits]` (a per-load override wins over both).
    pub fn wasm_limits(mut self, limits: crate::executor::CallLimits) -> Self {
        self.wasm_limits = Some(limits);
        self
    }

    /// Where compiled WASM components are cached on disk (`None`: memory
    /// only). The default is `$FIDIUS_WASM_CACHE`, else the user's cache
    /// directory (`$XDG_CACHE_HOME/fidius/wasm` or `~/.cache/fidius/wasm`);
    /// the directory must be private to the user (mode 0700) to be used.
    pub fn wasm_cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.wasm_cache_dir = Some(dir);
        self
    }

    /// A host-wide egress policy for WASM guests: it brokers every outbound
    /// request of plugins granted `http`, `tcp` or `udp` (fidius 0.5 API; a
    /// per-plugin policy from `load_wasm_with_egress` takes its place).
    #[cfg(feature = "wasm")]
    pub fn egress(self, policy: impl crate::executor::wasm::EgressPolicy) -> Self {
        self.egress_policy(std::sync::Arc::new(policy))
    }

    /// [`Self::egress`], already shared.
    #[cfg(feature = "wasm")]
    pub fn egress_policy(
        mut self,
        policy: std::sync::Arc<dyn crate::executor::wasm::EgressPolicy>,
    ) -> Self {
        self.egress = EgressSlot(Some(policy));
        self
    }

    /// Where cdylib plugins run: [`crate::process::Isolation::Process`] puts
    /// every one in its own child process (generated clients included).
    #[cfg(target_os = "linux")]
    pub fn isolation(mut self, isolation: crate::process::Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// Runs plugin `name` in a child process (with the host's process options).
    #[cfg(target_os = "linux")]
    pub fn isolate(mut self, name: impl Into<String>) -> Self {
        self.isolated.push((name.into(), None));
        self
    }

    /// Whether a package's own suggestion, `isolation = "process"` under
    /// `[package]` in its `package.toml`, runs it in a child process (with
    /// the host's [`crate::process::ProcessOptions`]) when the host's
    /// policy would run it in process (default: honoured). A package can
    /// only ask for more isolation, never less.
    #[cfg(target_os = "linux")]
    pub fn package_isolation_hints(mut self, honour: bool) -> Self {
        self.ignore_package_isolation = !honour;
        self
    }

    /// Runs plugin `name` in a child process with its own options.
    #[cfg(target_os = "linux")]
    pub fn isolate_with(
        mut self,
        name: impl Into<String>,
        options: crate::process::ProcessOptions,
    ) -> Self {
        self.isolated.push((name.into(), Some(options)));
        self
    }

    /// Options of process-isolated plugins (deadline, restarts, limits,
    /// environment, runner).
    #[cfg(target_os = "linux")]
    pub fn process_options(mut self, options: crate::process::ProcessOptions) -> Self {
        self.process = options;
        self
    }

    /// Builds the host. Fails if signatures are required but no key is trusted.
    pub fn build(self) -> Result<PluginHost, LoadError> {
        if self.require_signature && self.trusted_keys.is_empty() {
            return Err(LoadError::SignatureInvalid {
                path: "<configuration: require_signature(true) needs at least one trusted key>"
                    .into(),
            });
        }
        Ok(PluginHost { cfg: self })
    }
}

/// Discovers and loads plugins from search paths under a signature policy.
#[derive(Debug)]
pub struct PluginHost {
    pub(crate) cfg: PluginHostBuilder,
}

/// What a generated `<Trait>Client` tells the host about its interface, so
/// that [`PluginHost::load_plugin_handle`] can load a plugin of any backend.
#[derive(Debug, Clone, Copy)]
pub struct ClientInterface {
    /// Interface hash.
    pub hash: u64,
    /// Buffer strategy (cdylib plugins).
    pub buffer: BufferStrategyKind,
    /// How to call a WASM component of the interface.
    pub wasm: &'static fidius_core::wasm_descriptor::WasmInterfaceDescriptor,
    /// How to call a Python module of the interface.
    pub python: &'static fidius_core::python_descriptor::PythonInterfaceDescriptor,
}

/// A config handed to [`PluginHost::load_plugin_handle`] (any `Serialize`).
pub struct ConfigRef<'a, C: ?Sized>(pub &'a C);

impl<C: serde::Serialize + ?Sized> serde::Serialize for ConfigRef<'_, C> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// The `[package]` name of the package in `dir` (empty if unreadable).
#[cfg_attr(not(feature = "python"), allow(dead_code))]
pub(crate) fn package_name(dir: &Path) -> String {
    package_identity(dir).map(|(n, _)| n).unwrap_or_default()
}

/// Whether the package in `dir` suggests the process tier
/// (`isolation = "process"` under `[package]`; a lenient read, since the
/// hint can only add isolation).
#[cfg_attr(not(feature = "python"), allow(dead_code))]
pub(crate) fn package_suggests_process(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join(fidius_package::MANIFEST_FILE)) else {
        return false;
    };
    toml::from_str::<toml::Value>(&text).is_ok_and(|v| {
        v.get("package")
            .and_then(|p| p.get("isolation"))
            .and_then(toml::Value::as_str)
            == Some("process")
    })
}

/// The `[package]` name and runtime of the package in `dir`, if it has a
/// readable `package.toml` (a lenient read: validation comes at load).
fn package_identity(dir: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(dir.join(fidius_package::MANIFEST_FILE)).ok()?;
    let v: toml::Value = toml::from_str(&text).ok()?;
    let pkg = v.get("package")?;
    let name = pkg.get("name")?.as_str()?.to_owned();
    let runtime = pkg
        .get("runtime")
        .and_then(toml::Value::as_str)
        .unwrap_or("rust")
        .to_owned();
    Some((name, runtime))
}

impl PluginHost {
    /// A builder.
    pub fn builder() -> PluginHostBuilder {
        PluginHostBuilder::default()
    }

    /// Candidate library files, in search-path order then file-name order.
    pub fn candidates(&self) -> Vec<PathBuf> {
        let ext = loader::dylib_extension();
        let mut out = Vec::new();
        for dir in &self.cfg.search_paths {
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == ext))
                .collect();
            files.sort();
            out.extend(files);
        }
        out
    }

    /// Package directories (immediate subdirectories with a `package.toml`)
    /// in search-path order.
    pub fn package_dirs(&self) -> Vec<PathBuf> {
        self.cfg
            .search_paths
            .iter()
            .filter_map(|d| crate::package::discover_packages(d).ok())
            .flatten()
            .collect()
    }

    /// The first package named `name` whose runtime is `runtime`.
    pub(crate) fn find_package(&self, name: &str, runtime: &str) -> Result<PathBuf, LoadError> {
        let mut other = None;
        for dir in self.package_dirs() {
            match package_identity(&dir) {
                Some((n, r)) if n == name && r == runtime => return Ok(dir),
                Some((n, r)) if n == name => other = Some((dir, r)),
                _ => {}
            }
        }
        if let Some((dir, r)) = other {
            tracing::debug!(package = %dir.display(), runtime = %r, "package of that name has another runtime");
        }
        Err(LoadError::PluginNotFound {
            name: name.to_owned(),
        })
    }

    /// Whether signatures must be checked for a package in `dir`.
    fn must_check_package(&self, dir: &Path) -> bool {
        self.cfg.require_signature
            || (self.cfg.policy == LoadPolicy::Strict
                && dir.join(fidius_package::PACKAGE_SIG_FILE).exists()
                && !self.cfg.trusted_keys.is_empty())
    }

    /// Applies the signature policy to a package snapshot; `Ok(true)` if its
    /// signature was verified.
    #[cfg(any(feature = "wasm", feature = "python"))]
    pub(crate) fn gate_package(
        &self,
        dir: &Path,
        snapshot: &fidius_package::PackageSnapshot,
    ) -> Result<bool, LoadError> {
        if !self.must_check_package(dir) {
            return Ok(false);
        }
        fidius_package::verify_snapshot(dir, snapshot, &self.cfg.trusted_keys)
            .map(|()| true)
            .map_err(|e| crate::signing::package_signature_error(dir, e))
    }

    /// Loads plugin `name` whatever backend runs it: a cdylib in the search
    /// paths, else a WASM package (with feature `wasm`); `config` makes a
    /// configured instance. Generated `<Trait>Client::load` calls this.
    pub fn load_plugin_handle(
        &self,
        name: &str,
        iface: &ClientInterface,
        config: Option<&dyn erased_serde::Serialize>,
    ) -> Result<crate::PluginHandle, LoadError> {
        #[cfg(target_os = "linux")]
        if let Some(opts) = self.isolation_for(name) {
            let bytes = config.map(crate::handle::encode_config).transpose()?;
            match self.load_isolated_with(
                name,
                Some((iface.hash, iface.buffer)),
                bytes,
                opts.clone(),
            ) {
                Err(LoadError::PluginNotFound { .. }) => {
                    return self.load_package_handle(
                        name,
                        iface,
                        config,
                        Err(LoadError::PluginNotFound {
                            name: name.to_owned(),
                        }),
                    )
                }
                other => return other,
            }
        }
        let native = self.load(name);
        let not_found = matches!(native, Err(LoadError::PluginNotFound { .. }))
            || (native.is_err()
                && (self.find_package(name, "wasm").is_ok()
                    || self.find_package(name, "python").is_ok()));
        if !not_found {
            let plugin = native?;
            check_info(&plugin.info, Some(iface.hash), Some(iface.buffer))?;
            return match config {
                None => crate::PluginHandle::try_from_loaded(plugin),
                Some(c) => crate::PluginHandle::configure_from_loaded(plugin, c),
            };
        }
        self.load_package_handle(name, iface, config, native.map(|_| ()))
    }

    /// The package part of [`Self::load_plugin_handle`]: a WASM or Python
    /// package named `name`, else `native`'s error.
    fn load_package_handle(
        &self,
        name: &str,
        iface: &ClientInterface,
        config: Option<&dyn erased_serde::Serialize>,
        native: Result<(), LoadError>,
    ) -> Result<crate::PluginHandle, LoadError> {
        let _ = &config;
        #[cfg(feature = "wasm")]
        if self.find_package(name, "wasm").is_ok() {
            let mut how = crate::wasm_load::WasmLoad::default();
            if let Some(c) = config {
                how.config = Some(crate::handle::encode_config(c)?);
            }
            return self.load_wasm_with(name, iface.wasm, how);
        }
        #[cfg(not(feature = "wasm"))]
        if let Ok(dir) = self.find_package(name, "wasm") {
            return Err(LoadError::WasmLoad(format!(
                "plugin '{name}' is the WASM package {}; enable the `wasm` feature of fidius (or fidius-host) to load it",
                dir.display()
            )));
        }
        #[cfg(feature = "python")]
        if let Ok(dir) = self.find_package(name, "python") {
            let cfg = config
                .map(|c| {
                    erased_serde::serialize(c, serde_json::value::Serializer)
                        .map_err(|e| LoadError::ConfigSerialization(e.to_string()))
                })
                .transpose()?;
            return self.load_python_dir(&dir, iface.python, cfg.as_ref());
        }
        #[cfg(not(feature = "python"))]
        if let Ok(dir) = self.find_package(name, "python") {
            let _ = iface.python;
            return Err(LoadError::PythonLoad(format!(
                "plugin '{name}' is the Python package {}; enable the `python` feature of fidius (or fidius-host) to load it",
                dir.display()
            )));
        }
        match native {
            Err(e) => Err(e),
            Ok(()) => Err(LoadError::PluginNotFound {
                name: name.to_owned(),
            }),
        }
    }

    /// Reads a library and applies the signature policy to its exact bytes.
    pub(crate) fn gate(&self, path: &Path) -> Result<Vec<u8>, LoadError> {
        let bytes = crate::arch::read_library(path)?;
        let sig_exists = signing::sig_path_for(path).exists();
        let check = self.cfg.require_signature
            || (self.cfg.policy == LoadPolicy::Strict
                && sig_exists
                && !self.cfg.trusted_keys.is_empty());
        if check {
            signing::verify_bytes(path, &bytes, &self.cfg.trusted_keys)?;
        }
        Ok(bytes)
    }

    /// Lists every plugin that passes the signature policy, the library gates
    /// and the expected interface. Libraries that fail are skipped (logged).
    /// Under `Isolation::Process` the libraries are read by runner children,
    /// so no plugin code runs in the host.
    pub fn discover(&self) -> Result<Vec<PluginInfo>, LoadError> {
        let mut found = Vec::new();
        #[cfg(target_os = "linux")]
        let isolated = self.cfg.isolation == crate::process::Isolation::Process;
        #[cfg(not(target_os = "linux"))]
        let isolated = false;
        #[cfg(target_os = "linux")]
        if isolated {
            found = self.discover_isolated();
        }
        for path in self.candidates().into_iter().filter(|_| !isolated) {
            let lib = match self
                .gate(&path)
                .and_then(|bytes| loader::load_library_checked(&path, &bytes))
            {
                Ok(lib) => lib,
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "skipping library");
                    continue;
                }
            };
            for p in lib.plugins {
                if check_info(&p.info, self.cfg.interface_hash, self.cfg.buffer_strategy).is_ok() {
                    found.push(p.info);
                }
            }
        }
        // WASM and Python packages: listed from their (policy-checked) manifests.
        for dir in self.package_dirs() {
            let Ok(manifest) = fidius_package::load_manifest_untyped(&dir) else {
                continue;
            };
            let runtime = match manifest.package.runtime() {
                fidius_package::PackageRuntime::Wasm => PluginRuntimeKind::Wasm,
                fidius_package::PackageRuntime::Python => PluginRuntimeKind::Python,
                fidius_package::PackageRuntime::Rust => continue,
            };
            if self.must_check_package(&dir)
                && fidius_package::verify_package(&dir, &self.cfg.trusted_keys).is_err()
            {
                tracing::debug!(package = %dir.display(), "skipping package refused by signature policy");
                continue;
            }
            found.push(PluginInfo {
                name: manifest.package.name.clone(),
                interface_name: manifest.package.interface.clone(),
                interface_hash: 0,
                interface_version: manifest.package.interface_version,
                capabilities: 0,
                buffer_strategy: BufferStrategyKind::PluginAllocated,
                runtime,
            });
        }
        Ok(found)
    }

    /// Loads plugin `name`: the first library (in search order) that passes
    /// the signature policy, declares it and matches the expected interface.
    /// Signature checks apply to each library before it is opened; a library
    /// that fails them is never opened. A library that declares `name` with
    /// another interface is skipped and the search goes on. If nothing fits:
    /// the gate error of a refused library that names the plugin (so an
    /// unsigned or tampered plugin reports why), else the first interface
    /// mismatch, else `PluginNotFound`; what was skipped is logged.
    pub fn load(&self, name: &str) -> Result<LoadedPlugin, LoadError> {
        let mut gate_error = None;
        let mut mismatch = None;
        for path in self.candidates() {
            let bytes = match self.gate(&path) {
                Ok(b) => b,
                Err(e) => {
                    // Unopened, so only its bytes can say whether it is the plugin.
                    if file_names(&path, name) {
                        tracing::info!(path = %path.display(), error = %e, plugin = name, "a library naming the plugin was refused by the signature policy");
                        gate_error.get_or_insert(e);
                    } else {
                        tracing::debug!(path = %path.display(), error = %e, "skipping an unrelated library the signature policy refuses");
                    }
                    continue;
                }
            };
            let lib = match loader::load_library_checked(&path, &bytes) {
                Ok(lib) => lib,
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "skipping library");
                    continue;
                }
            };
            for p in lib.plugins.into_iter().filter(|p| p.info.name == name) {
                match check_info(&p.info, self.cfg.interface_hash, self.cfg.buffer_strategy) {
                    Ok(()) => return Ok(p),
                    Err(e) => {
                        tracing::info!(path = %path.display(), error = %e, plugin = name, "skipping a plugin of that name with another interface");
                        mismatch.get_or_insert(e);
                    }
                }
            }
        }
        Err(gate_error
            .or(mismatch)
            .unwrap_or_else(|| LoadError::PluginNotFound {
                name: name.to_owned(),
            }))
    }
}

/// Whether the file at `path` holds `name` as a NUL-terminated string, as a
/// library declaring a plugin of that name does (read, never opened).
pub(crate) fn file_names(path: &Path, name: &str) -> bool {
    crate::arch::read_library(path).is_ok_and(|bytes| bytes_name(&bytes, name))
}

/// Whether `bytes` hold `name` as a NUL-terminated string.
pub(crate) fn bytes_name(bytes: &[u8], name: &str) -> bool {
    let mut needle = name.as_bytes().to_vec();
    needle.push(0);
    !name.is_empty() && bytes.windows(needle.len()).any(|w| w == needle.as_slice())
}
