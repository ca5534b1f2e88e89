//! Loading Python packages through [`PluginHost`]: find the package, read it
//! once and verify exactly those bytes, copy them to a private directory and
//! import the entry module from there (the package directory is never run).

use crate::error::LoadError;
use crate::executor::python::{import_plugin, private_copy};
use crate::handle::PluginHandle;
use crate::host::PluginHost;
use crate::info::{PluginInfo, PluginRuntimeKind};
use fidius_core::python_descriptor::PythonInterfaceDescriptor;
use fidius_core::BufferStrategyKind;
use std::path::{Path, PathBuf};

/// Largest single file a Python package may hold.
pub const MAX_PYTHON_FILE_BYTES: u64 = 256 << 20;

fn py_err(dir: &Path, msg: impl std::fmt::Display) -> LoadError {
    LoadError::PythonLoad(format!("{}: {msg}", dir.display()))
}

/// A dotted Python module name (`pkg.mod`), each part an identifier.
fn valid_module(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
                && chars.all(|c| c == '_' || c.is_alphanumeric())
        })
}

impl PluginHost {
    /// The directory of Python package `name` in the search paths.
    pub fn find_python_package(&self, name: &str) -> Result<PathBuf, LoadError> {
        self.find_package(name, "python")
    }

    /// Loads Python package `name` as a plugin of the interface `desc`
    /// (`<Trait>_PYTHON_DESCRIPTOR`): methods are the module's functions.
    pub fn load_python(
        &self,
        name: &str,
        desc: &'static PythonInterfaceDescriptor,
    ) -> Result<PluginHandle, LoadError> {
        let dir = self.find_python_package(name)?;
        self.load_python_dir(&dir, desc, None)
    }

    /// Loads Python package `name` as a configured instance: the module's
    /// `__fidius_configure__(config)` receives `config` (as dicts, lists and
    /// scalars) and returns the object whose methods are called.
    pub fn load_python_configured<C: serde::Serialize + ?Sized>(
        &self,
        name: &str,
        desc: &'static PythonInterfaceDescriptor,
        config: &C,
    ) -> Result<PluginHandle, LoadError> {
        let cfg = serde_json::to_value(config)
            .map_err(|e| LoadError::ConfigSerialization(e.to_string()))?;
        let dir = self.find_python_package(name)?;
        self.load_python_dir(&dir, desc, Some(&cfg))
    }

    /// Loads the Python package in `dir` (which need not be on a search path).
    pub fn load_python_package_dir(
        &self,
        dir: &Path,
        desc: &'static PythonInterfaceDescriptor,
    ) -> Result<PluginHandle, LoadError> {
        self.load_python_dir(dir, desc, None)
    }

    /// Reads the package in `dir` once, applies the signature policy to
    /// exactly those bytes, checks the manifest and writes the private copy
    /// Python will import.
    pub(crate) fn prepare_python(&self, dir: &Path) -> Result<PreparedPython, LoadError> {
        // Read once; the private copy below holds exactly the bytes verified.
        let snapshot = fidius_package::snapshot_package(dir, &|_| true, MAX_PYTHON_FILE_BYTES)
            .map_err(|e| py_err(dir, e))?;
        self.gate_package(dir, &snapshot)?;
        let (_, manifest) =
            fidius_package::snapshot_manifest(&snapshot, fidius_package::PackageRuntime::Python)
                .map_err(|e| py_err(dir, e))?;
        let Some(python) = manifest.python.as_ref() else {
            return Err(py_err(dir, "manifest is missing the [python] section"));
        };
        let entry = python.entry_module.clone();
        if !valid_module(&entry) {
            return Err(py_err(
                dir,
                format!("[python] entry_module '{entry}' is not a dotted Python module name"),
            ));
        }
        let (files, root) = private_copy(&snapshot.files)
            .map_err(|e| py_err(dir, format!("copying the package: {e}")))?;
        Ok(PreparedPython {
            name: manifest.package.name.clone(),
            interface_version: manifest.package.interface_version,
            entry,
            files,
            root,
        })
    }

    pub(crate) fn load_python_dir(
        &self,
        dir: &Path,
        desc: &'static PythonInterfaceDescriptor,
        config: Option<&serde_json::Value>,
    ) -> Result<PluginHandle, LoadError> {
        #[cfg(target_os = "linux")]
        if let Some(opts) = self.isolation_for_package(dir) {
            return self.load_python_isolated(dir, desc, config, opts.clone());
        }
        let p = self.prepare_python(dir)?;
        let handle = import_plugin(&p.root, &p.entry, desc, config, Some(p.files), dir, None)?;
        let info = PluginInfo {
            name: p.name,
            interface_name: desc.interface_name.to_owned(),
            interface_hash: desc.interface_hash,
            interface_version: p.interface_version,
            capabilities: 0,
            buffer_strategy: BufferStrategyKind::PluginAllocated,
            runtime: PluginRuntimeKind::Python,
        };
        Ok(PluginHandle::from_python(handle, info))
    }

    /// [`Self::load_python_dir`] in a runner child (the process tier): the
    /// host verifies and copies the package; the child imports the copy.
    #[cfg(target_os = "linux")]
    fn load_python_isolated(
        &self,
        dir: &Path,
        desc: &'static PythonInterfaceDescriptor,
        config: Option<&serde_json::Value>,
        opts: crate::process::ProcessOptions,
    ) -> Result<PluginHandle, LoadError> {
        use crate::process::executor::{ProcessExecutor, StartError};
        let p = self.prepare_python(dir)?;
        let target = crate::process::frame::PythonTarget {
            root: p.root.to_string_lossy().into_owned(),
            shown: dir.display().to_string(),
            entry: p.entry,
            package_name: p.name,
            interface_version: p.interface_version,
            interface_name: desc.interface_name.to_owned(),
            interface_hash: desc.interface_hash,
            methods: desc
                .methods
                .iter()
                .map(|m| (m.name.to_owned(), m.wire_raw))
                .collect(),
            config_json: config.map(|c| c.to_string()),
            stream_args: crate::executor::python::stream_arg_positions(desc),
        };
        match ProcessExecutor::start_python(target, Box::new(p.files), opts) {
            Ok(exec) => Ok(PluginHandle::new(exec)),
            Err(StartError::Load(LoadError::ProcessStart(m)) | StartError::Runner(m)) => {
                Err(LoadError::ProcessStart(m))
            }
            Err(StartError::Load(e)) => Err(e),
            Err(_) => Err(LoadError::ProcessStart(format!(
                "the runner did not serve the Python package {}",
                dir.display()
            ))),
        }
    }
}

/// A verified Python package, copied where Python will import it.
pub(crate) struct PreparedPython {
    name: String,
    interface_version: u32,
    entry: String,
    files: tempfile::TempDir,
    root: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::valid_module;

    #[test]
    fn module_names() {
        for ok in ["plugin", "pkg.mod", "_x1", "a.b_c.d9"] {
            assert!(valid_module(ok), "{ok}");
        }
        for bad in ["", ".x", "x.", "a..b", "1x", "a-b", "../x", "a/b"] {
            assert!(!valid_module(bad), "{bad}");
        }
    }
}
