//! `.fid` archives: tar + bzip2 with one top-level `{name}-{version}/`
//! directory (fidius 0.5 compatible), packed reproducibly and unpacked
//! safely: no links, no escaping paths, bounded size, ratio and entry
//! count, and an existing destination is never half-overwritten.

use crate::digest::{package_files, skipped_dir, PACKAGE_SIG_FILE};
use crate::manifest::{load_manifest_untyped, MANIFEST_FILE};
use crate::PackageError;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read};
use std::path::{Component, Path, PathBuf};

/// What [`pack_package`] produced.
#[derive(Debug, Clone)]
pub struct PackResult {
    /// The archive.
    pub path: PathBuf,
    /// Whether the package had no `package.sig`.
    pub unsigned: bool,
}

/// For a Python package without `vendor/`, installs its requirements file
/// (`[python] requirements`, default `requirements.txt`) there with pip, as
/// fidius 0.5 does at pack time. An existing `vendor/` is used as it is. A
/// signed package that would need vendoring is refused: the signature could
/// not cover what pip adds.
fn vendor_python(
    dir: &Path,
    manifest: &crate::PackageManifest<toml::Value>,
) -> Result<(), PackageError> {
    let Some(py) = &manifest.python else {
        return Ok(());
    };
    let vendor = dir.join("vendor");
    if vendor.exists() {
        return Ok(());
    }
    let rel = py.requirements_path();
    if Path::new(rel)
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(PackageError::InvalidManifest(format!(
            "[python] requirements '{rel}' must be a path inside the package"
        )));
    }
    let req = dir.join(rel);
    if !req.is_file() {
        tracing::warn!(package = %dir.display(), "Python package without vendor/ or {rel}: packing it as it is");
        return Ok(());
    }
    if dir.join(PACKAGE_SIG_FILE).is_file() {
        return Err(PackageError::ArchiveError(format!(
            "{} is signed but has no vendor/: vendoring {rel} now would add files its signature does not cover; pack (or `pip install -r {rel} --target vendor`) before signing, then sign again",
            dir.display()
        )));
    }
    let python = std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
    let out = std::process::Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "-r",
        ])
        .arg(&req)
        .arg("--target")
        .arg(&vendor)
        .output()
        .map_err(|e| {
            PackageError::ArchiveError(format!(
                "could not run {} -m pip to vendor {rel}: {e}",
                python.to_string_lossy()
            ))
        })?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&vendor);
        return Err(PackageError::ArchiveError(format!(
            "pip could not vendor {}: {}",
            req.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Packs the package in `dir` into `output` (default
/// `./{name}-{version}.{extension}`). Entries are sorted with zeroed
/// timestamps and owners, so the same package packs to the same bytes.
pub fn pack_package(dir: &Path, output: Option<&Path>) -> Result<PackResult, PackageError> {
    let manifest = load_manifest_untyped(dir)?;
    let h = &manifest.package;
    check_component("name", &h.name)?;
    check_component("version", &h.version)?;
    check_component("extension", h.extension())?;
    vendor_python(dir, &manifest)?;
    let top = format!("{}-{}", h.name, h.version);
    let path = match output {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from(format!("{top}.{}", h.extension())),
    };
    let unsigned = !dir.join(PACKAGE_SIG_FILE).is_file();
    let files = package_files(dir, true)?;
    let out = BufWriter::new(File::create(&path)?);
    let enc = bzip2::write::BzEncoder::new(out, bzip2::Compression::best());
    let mut tar = tar::Builder::new(enc);
    tar.mode(tar::HeaderMode::Deterministic);
    let arch_err = |e: io::Error| PackageError::ArchiveError(e.to_string());
    for (rel, abs) in files {
        let mut f = File::open(&abs)?;
        let len = f.metadata()?.len();
        let mut header = tar::Header::new_gnu();
        header.set_size(len);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, format!("{top}/{rel}"), &mut f)
            .map_err(arch_err)?;
    }
    let enc = tar.into_inner().map_err(arch_err)?;
    let mut out = enc.finish().map_err(arch_err)?;
    io::Write::flush(&mut out).map_err(arch_err)?;
    Ok(PackResult { path, unsigned })
}

/// A manifest field that becomes part of a file name: non-empty, at most 128
/// characters of `[A-Za-z0-9._+-]`, not starting with `.` or `-`.
fn check_component(what: &str, value: &str) -> Result<(), PackageError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && !value.starts_with(['.', '-'])
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'));
    if ok {
        Ok(())
    } else {
        Err(PackageError::InvalidManifest(format!(
            "[package] {what} {value:?} cannot be part of an archive name: use letters, digits and . _ + - (not first . or -), at most 128 characters"
        )))
    }
}

/// Limits applied while unpacking.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Most decompressed bytes (default 500 MiB).
    pub max_decompressed: u64,
    /// Most decompressed bytes per compressed byte (default 10; 0 disables).
    pub max_ratio: u64,
    /// Most entries (default 10 000).
    pub max_entries: u32,
    /// Replace an existing package directory (atomically) instead of refusing.
    pub overwrite: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        Self {
            max_decompressed: 500 << 20,
            max_ratio: 10,
            max_entries: 10_000,
            overwrite: false,
        }
    }
}

/// Counts decompressed bytes and fails past a limit (declared sizes can lie).
struct Limited<R> {
    inner: R,
    read: u64,
    limit: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::other(LimitHit(self.read)));
        }
        Ok(n)
    }
}

#[derive(Debug)]
struct LimitHit(u64);
impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "decompressed size limit reached at {} bytes", self.0)
    }
}
impl std::error::Error for LimitHit {}

/// Unpacks `archive` into `dest` with the default limits; returns the package directory.
pub fn unpack_package(archive: &Path, dest: &Path) -> Result<PathBuf, PackageError> {
    unpack_package_with_options(archive, dest, &UnpackOptions::default())
}

/// A safe relative path for an entry, or the reason it is refused.
fn checked_path(raw: &Path) -> Result<PathBuf, PackageError> {
    let shown = raw.display().to_string();
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err(PackageError::PathTraversal { entry: shown }),
            Component::RootDir | Component::Prefix(_) => {
                return Err(PackageError::AbsolutePath { entry: shown })
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(PackageError::InvalidArchive(format!(
            "empty entry path '{shown}'"
        )));
    }
    Ok(out)
}

/// Whether the package digest covers an archive entry at `rel`
/// (`{top}/...`): nothing in a `target`, `.git` or `__pycache__`
/// directory, and no `.sig` file but the root `package.sig`.
fn covered_by_digest(rel: &Path, is_dir: bool) -> bool {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    // The top directory itself is not a package path.
    let inner = parts.get(1..).unwrap_or_default();
    let dirs = if is_dir {
        inner
    } else {
        &inner[..inner.len().saturating_sub(1)]
    };
    if dirs.iter().any(|d| skipped_dir(d)) {
        return false;
    }
    match (is_dir, inner) {
        (false, [only]) if only == PACKAGE_SIG_FILE => true,
        (false, [.., file]) => !file.ends_with(".sig"),
        _ => true,
    }
}

/// Unpacks `archive` into `dest`: extraction is staged in a temporary
/// directory inside `dest`, checked, then renamed into place in one step.
pub fn unpack_package_with_options(
    archive: &Path,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<PathBuf, PackageError> {
    unpack_staged(archive, dest, opts, None)
}

/// As [`unpack_package_with_options`], but the package's signature must
/// verify against one of `keys` while it is still in the staging directory:
/// an unsigned or tampered package never appears in `dest`.
pub fn unpack_package_verified(
    archive: &Path,
    dest: &Path,
    opts: &UnpackOptions,
    keys: &[ed25519_dalek::VerifyingKey],
) -> Result<PathBuf, PackageError> {
    unpack_staged(archive, dest, opts, Some(keys))
}

fn unpack_staged(
    archive: &Path,
    dest: &Path,
    opts: &UnpackOptions,
    keys: Option<&[ed25519_dalek::VerifyingKey]>,
) -> Result<PathBuf, PackageError> {
    let compressed = std::fs::metadata(archive)?.len();
    let limit = if opts.max_ratio == 0 {
        opts.max_decompressed
    } else {
        opts.max_decompressed
            .min(compressed.saturating_mul(opts.max_ratio).max(64 * 1024))
    };
    std::fs::create_dir_all(dest)?;
    let staging = tempfile::Builder::new()
        .prefix(".fidius-unpack-")
        .tempdir_in(dest)?;
    let reader = Limited {
        inner: bzip2::read::BzDecoder::new(BufReader::new(File::open(archive)?)),
        read: 0,
        limit,
    };
    let mut tar = tar::Archive::new(reader);
    let map_io = |e: io::Error| -> PackageError {
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<LimitHit>())
        {
            Some(LimitHit(n)) => PackageError::SizeLimitExceeded { limit, actual: *n },
            None => PackageError::InvalidArchive(e.to_string()),
        }
    };
    let mut count: u32 = 0;
    let mut declared: u64 = 0;
    for entry in tar.entries().map_err(map_io)? {
        let mut entry = entry.map_err(map_io)?;
        count += 1;
        if count > opts.max_entries {
            return Err(PackageError::TooManyEntries {
                limit: opts.max_entries,
            });
        }
        let raw = entry.path().map_err(map_io)?.into_owned();
        let shown = raw.display().to_string();
        let kind = entry.header().entry_type();
        if kind.is_symlink() {
            return Err(PackageError::SymlinkRejected { entry: shown });
        }
        if kind.is_hard_link() {
            return Err(PackageError::HardlinkRejected { entry: shown });
        }
        let rel = checked_path(&raw)?;
        declared = declared.saturating_add(entry.header().size().map_err(map_io)?);
        if declared > limit {
            return Err(PackageError::SizeLimitExceeded {
                limit,
                actual: declared,
            });
        }
        if !covered_by_digest(&rel, kind == tar::EntryType::Directory) {
            // Not part of the package by definition (its digest, and so its
            // signature, never sees it): never extracted, so nothing unsigned
            // can ride along with a signed package.
            tracing::warn!(entry = %shown, archive = %archive.display(), "dropped an archive entry the package digest does not cover");
            continue;
        }
        let target = staging.path().join(&rel);
        match kind {
            tar::EntryType::Directory => std::fs::create_dir_all(&target)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut out = File::create(&target)?;
                io::copy(&mut entry, &mut out).map_err(map_io)?;
            }
            tar::EntryType::XGlobalHeader
            | tar::EntryType::XHeader
            | tar::EntryType::GNULongName => {}
            other => {
                return Err(PackageError::InvalidArchive(format!(
                    "entry '{shown}' has unsupported type {other:?} (packages hold plain files)"
                )))
            }
        }
    }
    // The package is the top-level directory holding package.toml.
    let mut tops: Vec<PathBuf> = std::fs::read_dir(staging.path())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.join(MANIFEST_FILE).is_file())
        .collect();
    tops.sort();
    if tops.len() > 1 {
        let names: Vec<String> = tops
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        return Err(PackageError::InvalidArchive(format!(
            "more than one top-level package directory ({}): a .fid holds exactly one",
            names.join(", ")
        )));
    }
    let Some(top) = tops.into_iter().next() else {
        return Err(PackageError::InvalidArchive(
            "no top-level directory with a package.toml".into(),
        ));
    };
    let manifest = load_manifest_untyped(&top)?;
    if let Some(keys) = keys {
        crate::verify_package(&top, keys)?;
    }
    // The install directory comes from the (signed) manifest, never from
    // the archive's top directory, which no signature covers.
    let h = &manifest.package;
    check_component("name", &h.name)?;
    check_component("version", &h.version)?;
    let name = format!("{}-{}", h.name, h.version);
    if top.file_name().is_some_and(|t| t != name.as_str()) {
        tracing::warn!(
            archive = %archive.display(),
            top = %top.file_name().unwrap_or_default().to_string_lossy(),
            "the archive's top directory is not the manifest's {name}: installing as {name}"
        );
    }
    let final_dir = dest.join(&name);
    if final_dir.exists() {
        if !opts.overwrite {
            return Err(PackageError::DestinationExists { path: final_dir });
        }
        // Swap in one rename each way; the old copy goes only after the new one is in place.
        let old = tempfile::Builder::new()
            .prefix(".fidius-old-")
            .tempdir_in(dest)?;
        let parked = old.path().join("package");
        std::fs::rename(&final_dir, &parked)?;
        if let Err(e) = std::fs::rename(&top, &final_dir) {
            if std::fs::rename(&parked, &final_dir).is_err() {
                // Never delete the only copy of the old package: leave it parked.
                let kept = old.keep();
                tracing::error!(
                    old = %kept.join("package").display(),
                    "could not restore the previous package after a failed overwrite"
                );
            }
            return Err(e.into());
        }
    } else {
        std::fs::rename(&top, &final_dir)?;
    }
    Ok(final_dir)
}

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn manifest_fields_that_would_escape_the_output_path_are_refused() {
        for (name, version, ext) in [
            ("/etc/cron.d/x", "1", "fid"),
            ("../up", "1", "fid"),
            ("ok", "1/../../x", "fid"),
            ("ok", "1", "fid/../x"),
            ("", "1", "fid"),
            (".hidden", "1", "fid"),
        ] {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(
                d.path().join("package.toml"),
                format!("[package]\nname = {name:?}\nversion = {version:?}\ninterface = \"i\"\ninterface_version = 1\nextension = {ext:?}\n[metadata]\n"),
            )
            .unwrap();
            match pack_package(d.path(), None) {
                Err(PackageError::InvalidManifest(m)) => assert!(m.contains("archive name"), "{m}"),
                other => panic!("{name}/{version}/{ext}: expected a refusal, got {other:?}"),
            }
        }
    }
}
