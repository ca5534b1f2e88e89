//! The fidius ABI contract, shared by plugins and hosts.
//!
//! This crate owns the `#[repr(C)]` layouts that cross a plugin boundary
//! ([`descriptor`]), the status codes ([`status`]), the bincode wire
//! ([`wire`]), the interface hash ([`hash`]), the per-library registry
//! ([`registry`]), the error type plugins return ([`error`]) and the neutral
//! [`value::Value`] tree used by non-bincode backends. It carries no loading
//! or host-only dependency and builds for `wasm32-wasip2`; the package format
//! is re-exported as [`package`] (feature `package`, native targets) only
//! because fidius 0.5 users import it from here.

#![warn(missing_docs)]

pub mod depth;
pub mod descriptor;
pub mod error;
pub mod hash;
pub mod host_ffi;
pub mod host_registry;
pub mod kind;
/// The package format (`package.toml`, digests, `.fid` archives), from
/// `fidius-package`; fidius 0.5 path.
#[cfg(all(feature = "package", not(target_family = "wasm")))]
pub mod package {
    pub use fidius_package::*;
}
pub mod python_descriptor;
pub mod registry;
pub mod rt;
pub mod status;
pub mod stream_ffi;
pub mod stream_marker;
pub mod value;
pub mod wasm_descriptor;
pub mod wire;

#[cfg(feature = "async")]
pub mod async_runtime;

#[doc(hidden)]
pub mod __private;

pub use descriptor::*;
pub use descriptor::{
    BufferStrategyKind, MetaKv, MethodMetaEntry, PluginDescriptor, PluginRegistry, ABI_VERSION,
    FIDIUS_MAGIC, REGISTRY_VERSION,
};
pub use error::PluginError;
pub use hash::{fnv1a, interface_hash};
pub use host_ffi::{HostBindError, HostCallError};
pub use kind::MethodKind;
pub use status::*;
pub use stream_marker::Stream;
pub use value::{from_value, to_value, Value, ValueError};

/// Re-exported so generated registration code can name it through this crate.
pub use inventory;
