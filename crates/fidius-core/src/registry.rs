//! The per-library plugin registry: every `#[plugin_impl]` submits an entry;
//! [`get_registry`] collects them once and `fidius_plugin_registry!` exports it.

use crate::descriptor::{PluginDescriptor, PluginRegistry, FIDIUS_MAGIC, REGISTRY_VERSION};
use std::sync::OnceLock;

/// One registered plugin; submitted by `#[plugin_impl]` through `inventory`.
pub struct DescriptorEntry {
    build: fn() -> PluginDescriptor,
}

impl DescriptorEntry {
    /// An entry whose descriptor is built on first registry access.
    pub const fn new(build: fn() -> PluginDescriptor) -> Self {
        Self { build }
    }
}

inventory::collect!(DescriptorEntry);

struct Registry {
    registry: PluginRegistry,
    // Keeps the pointer array alive (and its address stable) for 'static.
    _descriptors: Box<[*const PluginDescriptor]>,
}

// SAFETY: immutable after construction; points only at leaked 'static descriptors.
unsafe impl Sync for Registry {}
// SAFETY: as above.
unsafe impl Send for Registry {}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// The registry of every plugin linked into this library (or binary).
///
/// Built on first call: each descriptor is built once and leaked, so
/// pointers stay valid for the life of the process (or library).
pub fn get_registry() -> &'static PluginRegistry {
    &REGISTRY
        .get_or_init(|| {
            let descriptors: Box<[*const PluginDescriptor]> = inventory::iter::<DescriptorEntry>
                .into_iter()
                .map(|e| Box::leak(Box::new((e.build)())) as *const PluginDescriptor)
                .collect();
            let registry = PluginRegistry {
                magic: FIDIUS_MAGIC,
                registry_version: REGISTRY_VERSION,
                plugin_count: descriptors.len() as u32,
                descriptors: descriptors.as_ptr(),
            };
            Registry {
                registry,
                _descriptors: descriptors,
            }
        })
        .registry
}

/// The descriptors of [`get_registry`] as a slice.
pub fn descriptors() -> &'static [&'static PluginDescriptor] {
    static SLICE: OnceLock<Vec<&'static PluginDescriptor>> = OnceLock::new();
    SLICE.get_or_init(|| {
        let reg = get_registry();
        (0..reg.plugin_count as usize)
            // SAFETY: `descriptors` holds `plugin_count` pointers to leaked descriptors.
            .map(|i| unsafe { &**reg.descriptors.add(i) })
            .collect()
    })
}

/// Exports this library's registry as `fidius_get_registry`.
///
/// Invoke once in a plugin cdylib, at crate root:
/// `fidius::fidius_plugin_registry!();`. A WASM component needs none (it
/// expands to nothing there): its exports come from `#[plugin_impl]`.
#[macro_export]
macro_rules! fidius_plugin_registry {
    () => {
        /// Entry point a fidius host calls after `dlopen`.
        #[cfg(not(target_family = "wasm"))]
        #[unsafe(no_mangle)]
        pub extern "C" fn fidius_get_registry() -> *const $crate::descriptor::PluginRegistry {
            $crate::registry::get_registry()
        }

        /// The host interfaces this library imports (may be empty).
        #[cfg(not(target_family = "wasm"))]
        #[unsafe(no_mangle)]
        pub extern "C" fn fidius_get_host_imports() -> *const $crate::host_ffi::HostImportRegistry {
            $crate::host_ffi::get_host_imports()
        }

        /// Why the last `construct` on this thread failed (null if it did not).
        #[cfg(not(target_family = "wasm"))]
        #[unsafe(no_mangle)]
        pub extern "C" fn fidius_last_construct_error() -> *const ::std::ffi::c_char {
            $crate::rt::last_construct_error()
        }
    };
}
