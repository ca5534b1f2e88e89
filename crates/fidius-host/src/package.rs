//! Packages from the host's side (fidius 0.5 `fidius_host::package` names):
//! typed manifests, discovery of package directories, verified unpacking and
//! building source packages. The format itself lives in `fidius-package`.

pub use fidius_package::*;

use std::path::{Path, PathBuf};

/// Parses `dir/package.toml` with the host's metadata schema `M`.
pub fn load_package_manifest<M: serde::de::DeserializeOwned>(
    dir: &Path,
) -> Result<PackageManifest<M>, PackageError> {
    load_manifest(dir)
}

/// Immediate subdirectories of `dir` that hold a `package.toml`, sorted.
pub fn discover_packages(dir: &Path) -> Result<Vec<PathBuf>, PackageError> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.join(MANIFEST_FILE).is_file())
        .collect();
    out.sort();
    Ok(out)
}

/// Unpacks a `.fid` archive safely into `dest` and returns the package
/// directory; an unsigned package is accepted with a warning (fidius 0.5
/// shape). Use [`unpack_fid_verified`] to require a trusted signature.
pub fn unpack_fid(archive: &Path, dest: &Path) -> Result<PathBuf, PackageError> {
    let dir = unpack_package(archive, dest)?;
    if !dir.join(PACKAGE_SIG_FILE).exists() {
        tracing::warn!(package = %dir.display(), "unpacked an unsigned package");
    }
    Ok(dir)
}

/// Unpacks a `.fid` archive into `dest`, verifying the package's signature
/// with `keys` before it leaves staging: a package that fails verification
/// never appears in `dest`.
pub fn unpack_fid_verified(
    archive: &Path,
    dest: &Path,
    keys: &[ed25519_dalek::VerifyingKey],
) -> Result<PathBuf, PackageError> {
    unpack_package_verified(archive, dest, &UnpackOptions::default(), keys)
}

/// Builds a Rust source package (any crate with a cdylib) with cargo and
/// returns the library; cargo's diagnostics go to stderr.
pub fn build_package(dir: &Path, release: bool) -> Result<PathBuf, PackageError> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(PackageError::BuildFailed(format!(
            "no Cargo.toml in {}",
            dir.display()
        )));
    }
    let mut cmd =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args([
        "build",
        "--lib",
        "--message-format=json-render-diagnostics",
        "--manifest-path",
    ])
    .arg(&manifest)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::inherit());
    if release {
        cmd.arg("--release");
    }
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(PackageError::BuildFailed(format!(
            "cargo build failed for {} (see its messages above)",
            dir.display()
        )));
    }
    let ext = std::env::consts::DLL_EXTENSION;
    let mut found = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let cdylib = msg["target"]["crate_types"]
            .as_array()
            .is_some_and(|t| t.iter().any(|k| k == "cdylib"));
        if msg["reason"] == "compiler-artifact" && cdylib {
            found = msg["filenames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(&format!(".{ext}")))
                .map(PathBuf::from)
                .or(found);
        }
    }
    found.ok_or_else(|| {
        PackageError::BuildFailed(format!(
            "{} built no cdylib: add `crate-type = [\"cdylib\"]` under [lib]",
            dir.display()
        ))
    })
}
