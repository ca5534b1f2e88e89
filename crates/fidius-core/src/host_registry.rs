//! The host-import registry a plugin library exports (fidius 0.5 path):
//! which `#[host_interface]`s it imports. The types live in [`crate::host_ffi`].

pub use crate::host_ffi::{
    get_host_imports, HostImportDescriptor, HostImportEntry, HostImportRegistry,
    HOST_IMPORTS_SYMBOL, HOST_IMPORTS_VERSION,
};
