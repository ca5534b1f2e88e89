//! Mapping exactly the bytes that were verified: a library is `dlopen`ed from
//! a sealed in-memory copy of the bytes the host read (and checked), never by
//! reopening its path, so a file swapped after verification cannot run.
//!
//! The same path with the same bytes maps once (as `dlopen` of one path
//! would); copies at other paths map separately. A path that is still mapped
//! from other bytes is refused.

use crate::error::LoadError;
use libloading::Library;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

type Digest32 = [u8; 32];

/// Live mappings by canonical path, with the digest of the bytes mapped.
type Mapped = HashMap<PathBuf, (Digest32, Weak<Library>)>;

fn mapped() -> &'static Mutex<Mapped> {
    static M: OnceLock<Mutex<Mapped>> = OnceLock::new();
    M.get_or_init(Default::default)
}

/// Runs between reading (and verifying) a library and mapping it; tests use
/// it to change the file in that window. Not a public API.
#[doc(hidden)]
pub static BEFORE_MAP_HOOK: Mutex<Option<fn(&Path)>> = Mutex::new(None);

/// Maps `data` (the bytes read from `path`) as a library.
pub(crate) fn open_exact(path: &Path, data: &[u8]) -> Result<Arc<Library>, LoadError> {
    if let Some(hook) = BEFORE_MAP_HOOK.lock().ok().and_then(|h| *h) {
        hook(path);
    }
    let digest: Digest32 = Sha256::digest(data).into();
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut m = mapped().lock().unwrap_or_else(|p| p.into_inner());
    if let Some((d, live)) = m.get(&key) {
        if let Some(lib) = live.upgrade() {
            if *d == digest {
                return Ok(lib);
            }
            return Err(LoadError::LibraryChangedWhileLoaded {
                path: path.display().to_string(),
            });
        }
    }
    let lib = Arc::new(map_bytes(path, data)?);
    m.retain(|_, (_, w)| w.strong_count() > 0);
    m.insert(key, (digest, Arc::downgrade(&lib)));
    Ok(lib)
}

/// A sealed (read-only for ever) memfd holding `data`, close-on-exec.
#[cfg(target_os = "linux")]
pub(crate) fn sealed_memfd(label: &str, data: &[u8]) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::io::Write;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let name = std::ffi::CString::new(format!("fidius:{label}"))
        .unwrap_or_else(|_| c"fidius:library".to_owned());
    // SAFETY: `name` is a valid NUL-terminated string; the flags are valid.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by memfd_create and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(owned);
    file.write_all(data)?;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
    // SAFETY: `fd` is a valid memfd created with MFD_ALLOW_SEALING.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file.into())
}

/// Everything a memfd holds (read from offset 0, whatever its file offset).
#[cfg(all(target_os = "linux", feature = "remote"))]
pub(crate) fn read_memfd(fd: &std::os::fd::OwnedFd) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::from(fd.try_clone()?);
    let len = file.metadata()?.len();
    let mut data = vec![0; usize::try_from(len).map_err(std::io::Error::other)?];
    file.read_exact_at(&mut data, 0)?;
    Ok(data)
}

#[cfg(target_os = "linux")]
fn map_bytes(path: &Path, data: &[u8]) -> Result<Library, LoadError> {
    use std::os::fd::AsRawFd;
    let io = |e: std::io::Error| crate::arch::io_error(path, e);
    let label = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = sealed_memfd(&label, data).map_err(io)?;
    let fd = file.as_raw_fd();
    let proc_path = format!("/proc/self/fd/{fd}");
    // SAFETY: loading a library runs its initialisers. This is the trust
    // boundary of the cdylib tier: the caller verified exactly these bytes
    // (signature policy, architecture gate), and the sealed memfd cannot change.
    let lib = unsafe { Library::new(&proc_path) }.map_err(LoadError::LibLoading)?;
    // The memfd stays open for the life of the process: the dynamic loader
    // remembers libraries by name, so the `/proc/self/fd/N` name must never be
    // reused by another library while this one may still be resident.
    std::mem::forget(file);
    Ok(lib)
}

#[cfg(not(target_os = "linux"))]
fn map_bytes(path: &Path, data: &[u8]) -> Result<Library, LoadError> {
    // A private copy in a fresh directory only this process writes to.
    let io = |e: std::io::Error| crate::arch::io_error(path, e);
    let dir = tempfile::Builder::new()
        .prefix("fidius-lib-")
        .tempdir()
        .map_err(io)?;
    let copy = dir
        .path()
        .join(path.file_name().unwrap_or(std::ffi::OsStr::new("plugin")));
    std::fs::write(&copy, data).map_err(io)?;
    // SAFETY: as on Linux; the copy lives in a directory created for this load.
    let lib = unsafe { Library::new(&copy) }.map_err(LoadError::LibLoading)?;
    // Keep the directory (and the unique name) for the life of the process.
    std::mem::forget(dir);
    Ok(lib)
}
