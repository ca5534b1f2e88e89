//! Loading a cdylib plugin into a child process: the host's search, its
//! signature policy and architecture gate, then the runner's handshake.

use crate::error::LoadError;
use crate::host::PluginHost;
use crate::loader::check_info;
use crate::process::{Isolation, ProcessExecutor, ProcessOptions};
use crate::PluginHandle;
use fidius_core::BufferStrategyKind;

impl PluginHost {
    /// The process options that apply to plugin `name`, when host policy
    /// runs it in a child process.
    pub fn isolation_for(&self, name: &str) -> Option<&ProcessOptions> {
        if let Some((_, opts)) = self.cfg.isolated.iter().find(|(n, _)| n == name) {
            return Some(opts.as_ref().unwrap_or(&self.cfg.process));
        }
        (self.cfg.isolation == Isolation::Process).then_some(&self.cfg.process)
    }

    /// The process options for the package in `dir`: the host's policy for
    /// its name, else the host's options if the package suggests the
    /// process tier and the host honours such hints.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub(crate) fn isolation_for_package(&self, dir: &std::path::Path) -> Option<&ProcessOptions> {
        self.isolation_for(&crate::host::package_name(dir))
            .or_else(|| {
                (!self.cfg.ignore_package_isolation && crate::host::package_suggests_process(dir))
                    .then_some(&self.cfg.process)
            })
    }

    /// Loads plugin `name` into a child process (with the host's
    /// [`ProcessOptions`]), whatever the isolation policy says.
    pub fn load_isolated(&self, name: &str) -> Result<PluginHandle, LoadError> {
        let opts = self
            .isolation_for(name)
            .unwrap_or(&self.cfg.process)
            .clone();
        self.load_isolated_with(name, None, None, opts)
    }

    /// [`Self::load_isolated`] for a configured plugin (re-configured with
    /// the same config after every restart).
    pub fn load_isolated_configured<C: serde::Serialize + ?Sized>(
        &self,
        name: &str,
        config: &C,
    ) -> Result<PluginHandle, LoadError> {
        let opts = self
            .isolation_for(name)
            .unwrap_or(&self.cfg.process)
            .clone();
        let bytes = crate::handle::encode_config(config)?;
        self.load_isolated_with(name, None, Some(bytes), opts)
    }

    /// [`Self::discover`]'s cdylib part under `Isolation::Process`: each
    /// library that passes the signature policy and the architecture gate is
    /// listed by a runner child, so no plugin code runs in the host.
    pub(crate) fn discover_isolated(&self) -> Vec<crate::PluginInfo> {
        let mut found = Vec::new();
        for path in self.candidates() {
            let listed = self.gate(&path).and_then(|bytes| {
                crate::arch::check_bytes(&path, &bytes)?;
                crate::process::executor::list_library(
                    path.display().to_string(),
                    &bytes,
                    &self.cfg.process,
                )
            });
            match listed {
                Ok(infos) => found.extend(infos.into_iter().filter(|i| {
                    check_info(i, self.cfg.interface_hash, self.cfg.buffer_strategy).is_ok()
                })),
                Err(e) => tracing::debug!(path = %path.display(), error = %e, "skipping library"),
            }
        }
        found
    }

    /// The search of [`Self::load`], without opening any library in this
    /// process: each candidate that passes the signature policy and the
    /// architecture gate and whose bytes name the plugin is handed to a
    /// runner child, which reports what the library holds.
    pub(crate) fn load_isolated_with(
        &self,
        name: &str,
        expect: Option<(u64, BufferStrategyKind)>,
        config: Option<Vec<u8>>,
        opts: ProcessOptions,
    ) -> Result<PluginHandle, LoadError> {
        let (hash, buffer) = match expect {
            Some((h, b)) => (Some(h), Some(b)),
            None => (self.cfg.interface_hash, self.cfg.buffer_strategy),
        };
        let mut refused = None;
        let mut mismatch = None;
        for path in self.candidates() {
            let bytes = match self.gate(&path) {
                Ok(b) => b,
                Err(e) => {
                    if crate::host::file_names(&path, name) {
                        tracing::info!(path = %path.display(), error = %e, plugin = name, "a library naming the plugin was refused by the signature policy");
                        refused.get_or_insert(e);
                    }
                    continue;
                }
            };
            if !crate::host::bytes_name(&bytes, name) {
                continue;
            }
            if let Err(e) = crate::arch::check_bytes(&path, &bytes) {
                tracing::debug!(path = %path.display(), error = %e, "skipping library");
                continue;
            }
            let label = path.display().to_string();
            let exec =
                match ProcessExecutor::start(label, &bytes, name, config.clone(), opts.clone()) {
                    Ok(exec) => exec,
                    Err(crate::process::executor::StartError::NotFound) => continue,
                    Err(crate::process::executor::StartError::Load(e)) => return Err(e),
                    Err(crate::process::executor::StartError::Runner(m)) => {
                        return Err(LoadError::ProcessStart(m))
                    }
                    Err(
                        crate::process::executor::StartError::Stopped(_)
                        | crate::process::executor::StartError::Listing(_),
                    ) => {
                        return Err(LoadError::ProcessStart(
                            "the handshake was stopped before it completed".into(),
                        ))
                    }
                };
            match check_info(crate::PluginExecutor::info(&exec), hash, buffer) {
                Ok(()) => return Ok(PluginHandle::new(exec)),
                Err(e) => {
                    tracing::info!(path = %path.display(), error = %e, plugin = name, "skipping a plugin of that name with another interface");
                    mismatch.get_or_insert(e);
                }
            }
        }
        Err(refused
            .or(mismatch)
            .unwrap_or_else(|| LoadError::PluginNotFound {
                name: name.to_owned(),
            }))
    }
}
