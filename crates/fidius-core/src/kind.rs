//! Per-method call kinds, recorded in each descriptor under the reserved
//! `fidius.kind` method-metadata key so hosts can refuse mismatched calls.

use std::fmt;

/// Metadata key under which the macro records each method's [`MethodKind`].
/// fidius 0.5 hosts see it as ordinary metadata and ignore it.
pub const KIND_META_KEY: &str = "fidius.kind";

/// The reserved metadata key prefix; user metadata may not use it.
pub const RESERVED_META_PREFIX: &str = "fidius.";

/// How a vtable slot must be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MethodKind {
    /// bincode arguments tuple in, bincode value out.
    Unary,
    /// `#[wire(raw)]`: raw bytes in, raw bytes out.
    Raw,
    /// Returns a `Stream<T>` (the plugin produces).
    ServerStream,
    /// Takes a `Stream<T>` argument (the host produces).
    ClientStream,
    /// Takes and returns a stream.
    BidiStream,
}

impl MethodKind {
    /// The metadata spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unary => "unary",
            Self::Raw => "raw",
            Self::ServerStream => "server_stream",
            Self::ClientStream => "client_stream",
            Self::BidiStream => "bidi_stream",
        }
    }

    /// Parses the metadata spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "unary" => Self::Unary,
            "raw" => Self::Raw,
            "server_stream" => Self::ServerStream,
            "client_stream" => Self::ClientStream,
            "bidi_stream" => Self::BidiStream,
            _ => return None,
        })
    }

    /// The C-string spelling, for descriptor metadata.
    pub const fn as_cstr(self) -> &'static std::ffi::CStr {
        match self {
            Self::Unary => c"unary",
            Self::Raw => c"raw",
            Self::ServerStream => c"server_stream",
            Self::ClientStream => c"client_stream",
            Self::BidiStream => c"bidi_stream",
        }
    }
}

impl fmt::Display for MethodKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
