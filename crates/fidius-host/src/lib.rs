//! Host side of fidius: discovering, verifying (Ed25519), validating, loading
//! and calling plugins behind one [`PluginHandle`], whatever the backend.
//!
//! Layers: [`arch`] and [`signing`] gate a file before `dlopen`; [`loader`]
//! reads and validates a library's registry; [`executor`] calls a plugin
//! (one trait per backend); [`handle::PluginHandle`] is what callers and
//! generated clients use; [`host::PluginHost`] ties search paths and policy together.

#![warn(missing_docs)]

pub mod arch;
pub mod arena;
pub mod client_stream;
pub mod error;
pub mod executor;
pub mod handle;
pub mod host;
pub mod host_import;
pub mod info;
pub mod loader;
#[doc(hidden)]
pub mod mapping;
mod meta;
pub mod package;
#[cfg(target_os = "linux")]
pub mod process;
#[cfg(target_os = "linux")]
mod process_load;
#[cfg(feature = "python")]
mod python_load;
pub mod signing;
pub mod stream;
pub mod types;
#[cfg(feature = "wasm")]
mod wasm_load;

pub use error::ProcessDeath;
pub use error::{CallError, LoadError};
pub use executor::{with_deadline, CallLimits, CancelHandle};
pub use executor::{CdylibExecutor, PluginExecutor};
pub use handle::PluginHandle;
pub use host::{ClientInterface, ConfigRef, LoadPolicy, PluginHost, PluginHostBuilder};
pub use host_import::HostImportInfo;
pub use info::{PluginInfo, PluginRuntimeKind};
pub use loader::{load_library, validate_against_interface, LoadedLibrary, LoadedPlugin};
#[cfg(feature = "streaming")]
pub use stream::ChunkStream;
pub use stream::{ItemStream, OwnedStreamHandle, RawItem, RawSource, RawStream};
