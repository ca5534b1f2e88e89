//! The package digest (SHA-256 over every file's relative path and content,
//! fidius 0.5 compatible) and `package.sig`, an Ed25519 signature of it.
//!
//! The digest covers `package.toml`, so a signature also covers the
//! manifest. `target/` and `.git/` directories and `*.sig` files are skipped.

use crate::PackageError;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The signature file in a package root.
pub const PACKAGE_SIG_FILE: &str = "package.sig";

/// Directories never part of a package: build output, VCS data, and the
/// bytecode caches Python writes beside imported sources (so importing a
/// package does not change its digest; hosts never run that bytecode).
pub(crate) fn skipped_dir(name: &str) -> bool {
    name == "target" || name == ".git" || name == "__pycache__"
}

/// Every file of a package: (relative path with `/` separators, absolute path), sorted.
/// Symbolic links are refused: a package is plain files. `.sig` files are
/// never part of it, except the root `package.sig` when `include_sigs` (what
/// an archive carries; the unpacker drops any other `.sig`).
pub(crate) fn package_files(
    dir: &Path,
    include_sigs: bool,
) -> Result<Vec<(String, PathBuf)>, PackageError> {
    fn walk(
        root: &Path,
        dir: &Path,
        include_sigs: bool,
        out: &mut Vec<(String, PathBuf)>,
    ) -> Result<(), PackageError> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let ft = entry.file_type()?;
            if ft.is_symlink() {
                return Err(PackageError::InvalidManifest(format!(
                    "symbolic links are not allowed in packages: {}",
                    path.display()
                )));
            }
            if ft.is_dir() {
                if !skipped_dir(&name) {
                    walk(root, &path, include_sigs, out)?;
                }
            } else if ft.is_file()
                && (!name.ends_with(".sig")
                    || (include_sigs && dir == root && name == PACKAGE_SIG_FILE))
            {
                let rel = path
                    .strip_prefix(root)
                    .expect("walked below the root")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((rel, path));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, include_sigs, &mut out)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// SHA-256 over, per file in path order: `u64 LE` path length, path bytes,
/// `u64 LE` content length, content.
pub fn package_digest(dir: &Path) -> Result<[u8; 32], PackageError> {
    let mut h = Sha256::new();
    for (rel, path) in package_files(dir, false)? {
        let content = std::fs::read(&path)?;
        h.update((rel.len() as u64).to_le_bytes());
        h.update(rel.as_bytes());
        h.update((content.len() as u64).to_le_bytes());
        h.update(&content);
    }
    Ok(h.finalize().into())
}

/// A package read once: the digest of exactly the bytes read, and the
/// contents of the files the caller asked to keep. Loading from a snapshot
/// means the bytes used are the bytes that were verified, even if the
/// directory changes meanwhile.
#[derive(Debug, Clone)]
pub struct PackageSnapshot {
    /// [`package_digest`] of the bytes read.
    pub digest: [u8; 32],
    /// Kept files, by relative path (`/` separators).
    pub files: std::collections::BTreeMap<String, Vec<u8>>,
}

/// Reads every file of the package once, hashing it as [`package_digest`]
/// does and keeping the contents of files for which `keep(relative_path)`
/// is true. Files over `max_file` bytes are refused.
pub fn snapshot_package(
    dir: &Path,
    keep: &dyn Fn(&str) -> bool,
    max_file: u64,
) -> Result<PackageSnapshot, PackageError> {
    use std::io::Read;
    let mut h = Sha256::new();
    let mut files = std::collections::BTreeMap::new();
    for (rel, path) in package_files(dir, false)? {
        let f = std::fs::File::open(&path)?;
        let mut content = Vec::new();
        f.take(max_file + 1).read_to_end(&mut content)?;
        if content.len() as u64 > max_file {
            return Err(PackageError::SizeLimitExceeded {
                limit: max_file,
                actual: content.len() as u64,
            });
        }
        h.update((rel.len() as u64).to_le_bytes());
        h.update(rel.as_bytes());
        h.update((content.len() as u64).to_le_bytes());
        h.update(&content);
        if keep(&rel) {
            files.insert(rel, content);
        }
    }
    Ok(PackageSnapshot {
        digest: h.finalize().into(),
        files,
    })
}

/// The manifest of a snapshot (its `package.toml` text and parsed form),
/// checked to be for `runtime`.
pub fn snapshot_manifest(
    snapshot: &PackageSnapshot,
    runtime: crate::PackageRuntime,
) -> Result<(String, crate::PackageManifest<toml::Value>), PackageError> {
    let text = snapshot
        .files
        .get(crate::MANIFEST_FILE)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .ok_or_else(|| PackageError::InvalidManifest("no package.toml".into()))?;
    let manifest = crate::parse_manifest::<toml::Value>(&text)?;
    if manifest.package.runtime() != runtime {
        return Err(PackageError::InvalidManifest(format!(
            "package runtime is '{}', not {runtime}",
            manifest.package.runtime()
        )));
    }
    Ok((text, manifest))
}

/// Verifies `package.sig` of `dir` against a snapshot's digest.
pub fn verify_snapshot(
    dir: &Path,
    snapshot: &PackageSnapshot,
    keys: &[VerifyingKey],
) -> Result<(), PackageError> {
    verify_digest(dir, &snapshot.digest, keys)
}

/// Signs the package, writing `package.sig`; returns its path.
pub fn sign_package(dir: &Path, key: &SigningKey) -> Result<PathBuf, PackageError> {
    if !dir.join(crate::MANIFEST_FILE).is_file() {
        return Err(PackageError::ManifestNotFound {
            path: dir.join(crate::MANIFEST_FILE),
        });
    }
    let digest = package_digest(dir)?;
    let path = dir.join(PACKAGE_SIG_FILE);
    std::fs::write(&path, key.sign(&digest).to_bytes())?;
    Ok(path)
}

/// Verifies `package.sig` against any of `keys`.
pub fn verify_package(dir: &Path, keys: &[VerifyingKey]) -> Result<(), PackageError> {
    verify_with(dir, || package_digest(dir), keys)
}

fn verify_digest(dir: &Path, digest: &[u8; 32], keys: &[VerifyingKey]) -> Result<(), PackageError> {
    verify_with(dir, || Ok(*digest), keys)
}

/// Reads `package.sig` (a missing one is `SignatureNotFound` before any
/// hashing), then checks it over `digest()` against every trusted key.
fn verify_with(
    dir: &Path,
    digest: impl FnOnce() -> Result<[u8; 32], PackageError>,
    keys: &[VerifyingKey],
) -> Result<(), PackageError> {
    let sig_path = dir.join(PACKAGE_SIG_FILE);
    let bytes = match std::fs::read(&sig_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PackageError::SignatureNotFound { path: sig_path })
        }
        Err(e) => return Err(e.into()),
    };
    let invalid = || PackageError::SignatureInvalid {
        path: dir.to_path_buf(),
    };
    let sig: [u8; 64] = bytes.as_slice().try_into().map_err(|_| invalid())?;
    let sig = Signature::from_bytes(&sig);
    let digest = digest()?;
    if keys.iter().any(|k| k.verify_strict(&digest, &sig).is_ok()) {
        Ok(())
    } else {
        Err(invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_covers_manifest_and_skips_build_output() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("package.toml"), "x").unwrap();
        std::fs::create_dir_all(d.path().join("src")).unwrap();
        std::fs::write(d.path().join("src/lib.rs"), "fn a() {}").unwrap();
        let a = package_digest(d.path()).unwrap();
        std::fs::create_dir_all(d.path().join("target/debug")).unwrap();
        std::fs::write(d.path().join("target/debug/junk"), "junk").unwrap();
        std::fs::write(d.path().join("other.sig"), "sig").unwrap();
        assert_eq!(package_digest(d.path()).unwrap(), a);
        std::fs::write(d.path().join("package.toml"), "y").unwrap();
        assert_ne!(package_digest(d.path()).unwrap(), a);
    }

    #[test]
    fn sign_and_verify() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("package.toml"), "[package]").unwrap();
        let key = SigningKey::from_bytes(&[3; 32]);
        let other = SigningKey::from_bytes(&[4; 32]);
        assert!(matches!(
            verify_package(d.path(), &[key.verifying_key()]),
            Err(PackageError::SignatureNotFound { .. })
        ));
        sign_package(d.path(), &key).unwrap();
        verify_package(d.path(), &[other.verifying_key(), key.verifying_key()]).unwrap();
        assert!(matches!(
            verify_package(d.path(), &[other.verifying_key()]),
            Err(PackageError::SignatureInvalid { .. })
        ));
        std::fs::write(d.path().join("package.toml"), "[package] # changed").unwrap();
        assert!(matches!(
            verify_package(d.path(), &[key.verifying_key()]),
            Err(PackageError::SignatureInvalid { .. })
        ));
    }
}
