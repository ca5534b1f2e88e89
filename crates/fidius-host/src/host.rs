//! [`PluginHost`]: search paths, signature policy and interface expectations;
//! discovers plugins and loads one by name.

use crate::error::LoadError;
use crate::info::PluginInfo;
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
    interface_hash: Option<u64>,
    buffer_strategy: Option<BufferStrategyKind>,
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
    cfg: PluginHostBuilder,
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

    /// Reads a library and applies the signature policy to its exact bytes.
    fn gate(&self, path: &Path) -> Result<Vec<u8>, LoadError> {
        let bytes = std::fs::read(path).map_err(LoadError::Io)?;
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
    pub fn discover(&self) -> Result<Vec<PluginInfo>, LoadError> {
        let mut found = Vec::new();
        for path in self.candidates() {
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
        Ok(found)
    }

    /// Loads plugin `name`: the first library (in search order) that passes
    /// the signature policy and declares it. Signature checks apply to each
    /// library before it is opened; a library that fails them is never
    /// opened. If `name` is not found, the gate error of a skipped library is
    /// returned when there is one (so an unsigned or tampered plugin reports
    /// why), else `PluginNotFound`.
    pub fn load(&self, name: &str) -> Result<LoadedPlugin, LoadError> {
        let mut first_gate_error = None;
        for path in self.candidates() {
            let bytes = match self.gate(&path) {
                Ok(b) => b,
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "library refused by signature policy");
                    first_gate_error.get_or_insert(e);
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
            if let Some(p) = lib.plugins.into_iter().find(|p| p.info.name == name) {
                check_info(&p.info, self.cfg.interface_hash, self.cfg.buffer_strategy)?;
                return Ok(p);
            }
        }
        Err(
            first_gate_error.unwrap_or_else(|| LoadError::PluginNotFound {
                name: name.to_owned(),
            }),
        )
    }
}
