//! Fidius — a Rust plugin framework for trait-to-dylib plugin systems.
//!
//! This facade is the one dependency of interface and plugin crates: it
//! re-exports the macros, the ABI contract of `fidius-core` and, with feature
//! `host`, the loading and calling API of `fidius-host`.
//!
//! For interface crate authors:
//!
//! ```text
//! pub use fidius::{plugin_impl, PluginError};
//!
//! #[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
//! pub trait MyPlugin: Send + Sync {
//!     fn process(&self, input: String) -> String;
//! }
//! ```
//!
//! For plugin crate authors:
//!
//! ```text
//! use my_interface::{plugin_impl, MyPlugin, PluginError};
//!
//! pub struct MyImpl;
//!
//! #[plugin_impl(MyPlugin)]
//! impl MyPlugin for MyImpl {
//!     fn process(&self, input: String) -> String {
//!         format!("processed: {input}")
//!     }
//! }
//!
//! fidius::fidius_plugin_registry!();
//! ```

#![warn(missing_docs)]

pub use fidius_core::{
    descriptor, error, fidius_plugin_registry, from_value, hash, host_ffi, inventory, kind,
    python_descriptor, registry, status, stream_ffi, stream_marker, to_value, wasm_descriptor,
    wire, BufferStrategyKind, MethodKind, PluginDescriptor, PluginError, PluginRegistry, Stream,
    Value, ValueError, ABI_VERSION, FIDIUS_MAGIC, REGISTRY_VERSION,
};
pub use fidius_core::{fnv1a, interface_hash, HostBindError, HostCallError};
pub use fidius_macro::{
    host_interface, method_meta, optional, plugin_impl, plugin_interface, trait_meta, wire, WitType,
};

#[doc(hidden)]
pub use fidius_core::__private;

/// The component runtime of WASM guests (used by generated code).
#[cfg(target_family = "wasm")]
#[doc(hidden)]
pub use fidius_guest::__wasm;

/// Guest runtime of WASM plugins: the host's client-stream items and host
/// calls (`fidius_guest::{client_stream, host_call}`).
#[cfg(target_family = "wasm")]
pub use fidius_guest::{client_stream, host_call};

/// Outbound HTTP and sockets for plugins, brokered by the host's egress
/// policy in WASM plugins (`fidius_guest::{http, sockets}`).
pub use fidius_guest::{http, sockets};

/// The host-import registry types (fidius 0.5 name for [`host_ffi`]).
pub use fidius_core::host_ffi as host_registry;

#[cfg(feature = "async")]
pub use fidius_core::async_runtime;

#[cfg(feature = "host")]
pub use fidius_host::{
    arch, arena, executor, host_import, loader, signing, stream as host_stream,
    validate_against_interface, CallError, CallLimits, ClientInterface, ConfigRef, HostImportInfo,
    ItemStream, LoadError, LoadPolicy, LoadedLibrary, LoadedPlugin, PluginExecutor, PluginHandle,
    PluginHost, PluginHostBuilder, PluginInfo, PluginRuntimeKind,
};

/// The process tier (Linux): plugins in a killable child process.
#[cfg(all(feature = "host", target_os = "linux"))]
pub use fidius_host::process;
#[cfg(feature = "host")]
pub use fidius_host::{with_deadline, CancelHandle, ProcessDeath};

#[cfg(feature = "streaming")]
pub use fidius_host::ChunkStream;
