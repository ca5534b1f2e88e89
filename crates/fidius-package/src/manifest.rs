//! `package.toml`: the `[package]` header, the host-defined `[metadata]`
//! table (any serde type `M`), and runtime sections (`[python]`, `[wasm]`).

use crate::PackageError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

/// The manifest file name.
pub const MANIFEST_FILE: &str = "package.toml";

/// Which runtime a package targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PackageRuntime {
    /// A Rust cdylib built from source.
    #[default]
    Rust,
    /// A Python module.
    Python,
    /// A WebAssembly component.
    Wasm,
}

impl PackageRuntime {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rust => "rust",
            Self::Python => "python",
            Self::Wasm => "wasm",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "rust" => Self::Rust,
            "python" => Self::Python,
            "wasm" => Self::Wasm,
            _ => return None,
        })
    }
}

impl fmt::Display for PackageRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `[package]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageHeader {
    /// Package name.
    pub name: String,
    /// Version (free-form).
    pub version: String,
    /// Interface the package implements.
    pub interface: String,
    /// Interface version.
    pub interface_version: u32,
    /// Archive extension (default `fid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// `rust` (default), `python` or `wasm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// `"process"` suggests that hosts run the plugin in a killable child
    /// process (fidius's process tier); hosts honour it unless they opt out,
    /// and never take it as a reason to isolate less than their own policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
}

impl PackageHeader {
    /// The archive extension.
    pub fn extension(&self) -> &str {
        self.extension.as_deref().unwrap_or("fid")
    }

    /// The runtime; unknown values read as Rust.
    pub fn runtime(&self) -> PackageRuntime {
        self.runtime
            .as_deref()
            .and_then(PackageRuntime::parse)
            .unwrap_or_default()
    }

    /// The runtime; unknown values are an error.
    pub fn runtime_strict(&self) -> Result<PackageRuntime, PackageError> {
        match self.runtime.as_deref() {
            None => Ok(PackageRuntime::Rust),
            Some(s) => PackageRuntime::parse(s).ok_or_else(|| {
                PackageError::InvalidManifest(format!(
                    "unknown runtime '{s}': allowed values are \"rust\", \"python\", \"wasm\""
                ))
            }),
        }
    }
}

/// The `[python]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonPackageMeta {
    /// Dotted module imported by the Python runtime.
    pub entry_module: String,
    /// Requirements file (default `requirements.txt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requirements: Option<String>,
}

impl PythonPackageMeta {
    /// The requirements file name.
    pub fn requirements_path(&self) -> &str {
        self.requirements.as_deref().unwrap_or("requirements.txt")
    }
}

/// The `[wasm]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WasmPackageMeta {
    /// Component file name.
    pub component: String,
    /// Precompiled `.cwasm` file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precompiled: Option<String>,
    /// WASI capability allow-list (empty = deny all).
    #[serde(default)]
    pub capabilities: Vec<String>,
}

/// A parsed `package.toml` with the host's metadata schema `M`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageManifest<M> {
    /// `[package]`.
    pub package: PackageHeader,
    /// `[metadata]` (required; may be empty).
    pub metadata: M,
    /// `[python]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<PythonPackageMeta>,
    /// `[wasm]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm: Option<WasmPackageMeta>,
}

impl<M> PackageManifest<M> {
    /// Checks that runtime sections match the runtime.
    pub fn validate_runtime(&self) -> Result<(), PackageError> {
        let runtime = self.package.runtime_strict()?;
        let bad = |m: &str| Err(PackageError::InvalidManifest(m.to_owned()));
        match runtime {
            PackageRuntime::Python if self.python.is_none() => {
                bad("runtime = \"python\" needs a [python] section with entry_module")
            }
            PackageRuntime::Wasm if self.wasm.is_none() => {
                bad("runtime = \"wasm\" needs a [wasm] section with component")
            }
            r if r != PackageRuntime::Python && self.python.is_some() => {
                bad("a [python] section needs runtime = \"python\"")
            }
            r if r != PackageRuntime::Wasm && self.wasm.is_some() => {
                bad("a [wasm] section needs runtime = \"wasm\"")
            }
            _ => Ok(()),
        }
    }
}

/// Parses and validates `dir/package.toml` with metadata schema `M`.
pub fn load_manifest<M: DeserializeOwned>(dir: &Path) -> Result<PackageManifest<M>, PackageError> {
    let path = dir.join(MANIFEST_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PackageError::ManifestNotFound { path })
        }
        Err(e) => return Err(e.into()),
    };
    parse_manifest(&text)
}

/// Parses and validates the text of a `package.toml`.
pub fn parse_manifest<M: DeserializeOwned>(text: &str) -> Result<PackageManifest<M>, PackageError> {
    let manifest: PackageManifest<M> = toml::from_str(text)?;
    manifest.validate_runtime()?;
    Ok(manifest)
}

/// [`load_manifest`] with the metadata as an untyped TOML value.
pub fn load_manifest_untyped(dir: &Path) -> Result<PackageManifest<toml::Value>, PackageError> {
    load_manifest(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) {
        std::fs::write(dir.join(MANIFEST_FILE), text).unwrap();
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Meta {
        category: String,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[test]
    fn typed_metadata_and_validation() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "[package]\nname = \"p\"\nversion = \"1.0.0\"\ninterface = \"i\"\ninterface_version = 2\n\n[metadata]\ncategory = \"filters\"\nunknown = 1\n",
        );
        let m = load_manifest::<Meta>(d.path()).unwrap();
        assert_eq!(
            m.metadata,
            Meta {
                category: "filters".into(),
                tags: vec![]
            }
        );
        assert_eq!(m.package.extension(), "fid");
        assert_eq!(m.package.runtime(), PackageRuntime::Rust);
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Strict {
            required: u32,
        }
        assert!(matches!(
            load_manifest::<Strict>(d.path()),
            Err(PackageError::ParseError(_))
        ));
        write(d.path(), "[package]\nname = \"p\"\nversion = \"1\"\ninterface = \"i\"\ninterface_version = 1\nruntime = \"cobol\"\n[metadata]\n");
        assert!(
            matches!(load_manifest_untyped(d.path()), Err(PackageError::InvalidManifest(m)) if m.contains("cobol"))
        );
        write(d.path(), "[package]\nname = \"p\"\nversion = \"1\"\ninterface = \"i\"\ninterface_version = 1\nruntime = \"wasm\"\n[metadata]\n");
        assert!(matches!(
            load_manifest_untyped(d.path()),
            Err(PackageError::InvalidManifest(_))
        ));
        write(
            d.path(),
            "[package]\nname = \"p\"\nversion = \"1\"\ninterface = \"i\"\ninterface_version = 1\n",
        );
        assert!(
            matches!(
                load_manifest_untyped(d.path()),
                Err(PackageError::ParseError(_))
            ),
            "[metadata] is required"
        );
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            load_manifest_untyped(empty.path()),
            Err(PackageError::ManifestNotFound { .. })
        ));
    }
}
