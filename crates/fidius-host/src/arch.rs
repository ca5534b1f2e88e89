//! Architecture gate: identifies a library's object format and CPU before
//! `dlopen`, so a file for another OS or CPU, or not a library at all, is a
//! typed error instead of a loader failure or crash.

use crate::error::LoadError;
use object::{Architecture, FileKind, Object};
use std::fmt;
use std::path::Path;

/// Object file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryFormat {
    /// ELF (Linux, BSDs).
    Elf,
    /// Mach-O (macOS), including universal binaries.
    MachO,
    /// PE (Windows).
    Pe,
    /// Anything else.
    Unknown,
}

/// CPU architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// x86-64.
    X86_64,
    /// 64-bit ARM.
    Aarch64,
    /// 32-bit x86.
    X86,
    /// 32-bit ARM.
    Arm,
    /// Another or unknown CPU (or several, for universal binaries).
    Unknown,
}

impl fmt::Display for BinaryFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Elf => "ELF",
            Self::MachO => "Mach-O",
            Self::Pe => "PE",
            Self::Unknown => "unknown format",
        })
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::X86_64 => "x86_64",
            Self::Aarch64 => "aarch64",
            Self::X86 => "x86",
            Self::Arm => "arm",
            Self::Unknown => "unknown",
        })
    }
}

/// Format and CPU of a binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinaryInfo {
    /// Object format.
    pub format: BinaryFormat,
    /// CPU.
    pub arch: Arch,
}

impl fmt::Display for BinaryInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.format, self.arch)
    }
}

/// The format and CPU this host loads.
pub fn host_info() -> BinaryInfo {
    let format = if cfg!(target_vendor = "apple") {
        BinaryFormat::MachO
    } else if cfg!(windows) {
        BinaryFormat::Pe
    } else {
        BinaryFormat::Elf
    };
    let arch = if cfg!(target_arch = "x86_64") {
        Arch::X86_64
    } else if cfg!(target_arch = "aarch64") {
        Arch::Aarch64
    } else if cfg!(target_arch = "x86") {
        Arch::X86
    } else if cfg!(target_arch = "arm") {
        Arch::Arm
    } else {
        Arch::Unknown
    };
    BinaryInfo { format, arch }
}

fn map_arch(a: Architecture) -> Arch {
    match a {
        Architecture::X86_64 => Arch::X86_64,
        Architecture::Aarch64 => Arch::Aarch64,
        Architecture::I386 => Arch::X86,
        Architecture::Arm => Arch::Arm,
        _ => Arch::Unknown,
    }
}

/// Identifies the binary in `data`.
///
/// `Err(reason)` if it is not a parsable ELF, Mach-O or PE file (e.g. truncated).
pub fn detect_bytes(data: &[u8]) -> Result<BinaryInfo, String> {
    let kind = FileKind::parse(data).map_err(|_| "not an ELF, Mach-O or PE file".to_string())?;
    let format = match kind {
        FileKind::Elf32 | FileKind::Elf64 => BinaryFormat::Elf,
        FileKind::MachO32 | FileKind::MachO64 => BinaryFormat::MachO,
        FileKind::MachOFat32 | FileKind::MachOFat64 => {
            return Ok(BinaryInfo {
                format: BinaryFormat::MachO,
                arch: Arch::Unknown,
            })
        }
        FileKind::Pe32 | FileKind::Pe64 => BinaryFormat::Pe,
        other => return Err(format!("unsupported object kind {other:?}")),
    };
    let file = object::File::parse(data).map_err(|e| format!("malformed {format} file: {e}"))?;
    Ok(BinaryInfo {
        format,
        arch: map_arch(file.architecture()),
    })
}

/// Largest library file a host reads (1 GiB): a bigger one is
/// [`LoadError::FileTooLarge`], never read into memory.
pub const MAX_LIBRARY_BYTES: u64 = 1 << 30;

/// Why [`read_regular`] read nothing.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Opening or reading failed.
    Io(std::io::Error),
    /// A directory, FIFO, socket or device (never read: it could block or never end).
    NotRegular,
    /// Longer than the limit (its size, or the limit + 1 when it grew while read).
    TooLarge(u64),
}

/// Reads the regular file at `path`, at most `limit` bytes. A FIFO or
/// device is refused without blocking on it (opened non-blocking, checked
/// on the open descriptor, so a swap between a check and the open cannot
/// make the host read something else).
pub(crate) fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let file = opts.open(path).map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge(meta.len()));
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut data)
        .map_err(ReadError::Io)?;
    if data.len() as u64 > limit {
        return Err(ReadError::TooLarge(data.len() as u64));
    }
    Ok(data)
}

/// Reads a library file (regular, at most [`MAX_LIBRARY_BYTES`]).
pub(crate) fn read_library(path: &Path) -> Result<Vec<u8>, LoadError> {
    read_regular(path, MAX_LIBRARY_BYTES).map_err(|e| match e {
        ReadError::Io(e) => io_error(path, e),
        ReadError::NotRegular => LoadError::InvalidDescriptor {
            path: path.display().to_string(),
            reason: "not a regular file (a directory, FIFO, socket or device is never read)".into(),
        },
        ReadError::TooLarge(size) => LoadError::FileTooLarge {
            path: path.display().to_string(),
            size,
            limit: MAX_LIBRARY_BYTES,
        },
    })
}

/// Identifies the binary at `path`.
pub fn detect_architecture(path: &Path) -> Result<BinaryInfo, LoadError> {
    let data = read_library(path)?;
    detect_bytes(&data).map_err(|reason| LoadError::InvalidDescriptor {
        path: path.display().to_string(),
        reason: format!("not a loadable library: {reason}"),
    })
}

pub(crate) fn io_error(path: &Path, e: std::io::Error) -> LoadError {
    if e.kind() == std::io::ErrorKind::NotFound {
        LoadError::LibraryNotFound {
            path: path.display().to_string(),
        }
    } else {
        LoadError::Io(e)
    }
}

/// Checks already-read library bytes against this host.
pub fn check_bytes(path: &Path, data: &[u8]) -> Result<BinaryInfo, LoadError> {
    let info = detect_bytes(data).map_err(|reason| LoadError::InvalidDescriptor {
        path: path.display().to_string(),
        reason: format!("not a loadable library: {reason}"),
    })?;
    let host = host_info();
    let format_ok = info.format == host.format;
    let arch_ok =
        info.arch == Arch::Unknown || host.arch == Arch::Unknown || info.arch == host.arch;
    if format_ok && arch_ok {
        Ok(info)
    } else {
        Err(LoadError::ArchitectureMismatch {
            expected: host.to_string(),
            got: info.to_string(),
        })
    }
}

/// Rejects a file that is not a library for this host's OS and CPU
/// (fidius 0.5 shape; [`check_library_architecture`] also says what it found).
pub fn check_architecture(path: &Path) -> Result<(), LoadError> {
    check_library_architecture(path).map(|_| ())
}

/// Rejects a file that is not a library for this host's OS and CPU, else
/// returns the format and architecture it has.
pub fn check_library_architecture(path: &Path) -> Result<BinaryInfo, LoadError> {
    let data = read_library(path)?;
    check_bytes(path, &data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf_header(machine: u16) -> Vec<u8> {
        // A minimal, valid 64-bit little-endian ELF header with no sections.
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2; // 64-bit
        h[5] = 1; // little-endian
        h[6] = 1; // version
        h[16..18].copy_from_slice(&3u16.to_le_bytes()); // ET_DYN
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h[20..24].copy_from_slice(&1u32.to_le_bytes());
        h[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        h
    }

    #[test]
    fn detects_elf_machines() {
        assert_eq!(
            detect_bytes(&elf_header(0x3E)).unwrap(),
            BinaryInfo {
                format: BinaryFormat::Elf,
                arch: Arch::X86_64
            }
        );
        assert_eq!(detect_bytes(&elf_header(0xB7)).unwrap().arch, Arch::Aarch64);
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(detect_bytes(b"hello, I am not a library").is_err());
        assert!(detect_bytes(&[]).is_err());
        assert!(detect_bytes(&elf_header(0x3E)[..20]).is_err());
    }

    #[test]
    fn wrong_arch_is_a_mismatch() {
        let other = if cfg!(target_arch = "aarch64") {
            0x3E
        } else {
            0xB7
        };
        let err = check_bytes(Path::new("x.so"), &elf_header(other)).unwrap_err();
        if cfg!(target_os = "linux") {
            assert!(
                matches!(err, LoadError::ArchitectureMismatch { .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn mach_o_on_linux_is_a_mismatch() {
        let mut macho = vec![0u8; 32];
        macho[..4].copy_from_slice(&0xfeedfacfu32.to_le_bytes());
        macho[4..8].copy_from_slice(&0x0100000cu32.to_le_bytes());
        if cfg!(target_os = "linux") {
            let err = check_bytes(Path::new("x.dylib"), &macho).unwrap_err();
            assert!(
                matches!(
                    err,
                    LoadError::ArchitectureMismatch { .. } | LoadError::InvalidDescriptor { .. }
                ),
                "{err}"
            );
        }
    }
}
