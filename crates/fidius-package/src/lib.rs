//! fidius packages: a directory with a `package.toml` (manifest with a
//! host-defined `[metadata]` schema), signed as a whole by a directory
//! digest, and distributed as a `.fid` archive (tar + bzip2).
//!
//! Modules: [`manifest`] (parse and validate), [`digest`] (content hash and
//! Ed25519 signatures), [`archive`] (pack, and unpack safely).

#![warn(missing_docs)]

pub mod archive;
pub mod digest;
pub mod manifest;

pub use archive::{
    pack_package, unpack_package, unpack_package_verified, unpack_package_with_options, PackResult,
    UnpackOptions,
};
pub use digest::{
    package_digest, sign_package, snapshot_manifest, snapshot_package, verify_package,
    verify_snapshot, PackageSnapshot, PACKAGE_SIG_FILE,
};
pub use manifest::{
    load_manifest, load_manifest_untyped, parse_manifest, PackageHeader, PackageManifest,
    PackageRuntime, PythonPackageMeta, WasmPackageMeta, MANIFEST_FILE,
};

use std::path::PathBuf;

/// Why a package operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// No `package.toml` in the directory.
    #[error("package manifest not found: {path} (a package directory needs a package.toml)")]
    ManifestNotFound {
        /// Expected manifest path.
        path: PathBuf,
    },
    /// The manifest is not valid TOML or does not match the schema.
    #[error("invalid package.toml: {0}")]
    ParseError(#[from] toml::de::Error),
    /// An I/O error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A build failed.
    #[error("build failed: {0}")]
    BuildFailed(String),
    /// No `package.sig`.
    #[error("package signature not found: {path} (sign it with `fidius package sign`)")]
    SignatureNotFound {
        /// Expected signature path.
        path: PathBuf,
    },
    /// The signature does not verify against any trusted key.
    #[error("package signature invalid: {path} (an untrusted key signed it, or the package changed after signing)")]
    SignatureInvalid {
        /// The package directory.
        path: PathBuf,
    },
    /// Creating an archive failed.
    #[error("archive error: {0}")]
    ArchiveError(String),
    /// An archive is malformed or not a package.
    #[error("invalid archive: {0}")]
    InvalidArchive(String),
    /// The manifest is well-formed TOML but inconsistent.
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    /// An entry tries to leave the destination (`..`).
    #[error("archive entry escapes the destination: {entry}")]
    PathTraversal {
        /// Entry path.
        entry: String,
    },
    /// An entry has an absolute path.
    #[error("archive entry has an absolute path: {entry}")]
    AbsolutePath {
        /// Entry path.
        entry: String,
    },
    /// An entry is a symbolic link.
    #[error("archive entry is a symbolic link (not allowed in packages): {entry}")]
    SymlinkRejected {
        /// Entry path.
        entry: String,
    },
    /// An entry is a hard link.
    #[error("archive entry is a hard link (not allowed in packages): {entry}")]
    HardlinkRejected {
        /// Entry path.
        entry: String,
    },
    /// Decompressed content exceeds a limit.
    #[error("archive too large: limit {limit} bytes, reached {actual}")]
    SizeLimitExceeded {
        /// The limit.
        limit: u64,
        /// What was reached.
        actual: u64,
    },
    /// Too many entries.
    #[error("archive has more than {limit} entries")]
    TooManyEntries {
        /// The limit.
        limit: u32,
    },
    /// The unpack destination already holds this package.
    #[error("destination already exists: {path} (remove it, or unpack with overwrite)")]
    DestinationExists {
        /// The existing directory.
        path: PathBuf,
    },
}
