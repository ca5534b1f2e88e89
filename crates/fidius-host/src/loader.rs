//! Loading a cdylib: architecture gate, `dlopen`, registry and descriptor
//! validation (magic, versions, ABI, strategy, pointers), interface checks.
//!
//! Nothing here trusts the library: every pointer and count it reports is
//! checked before use, and every failure is a [`LoadError`].

use crate::arch;
use crate::error::LoadError;
use crate::info::{PluginInfo, PluginRuntimeKind};
use fidius_core::descriptor::{
    FreeBufferFn, PluginDescriptor, PluginRegistry, ABI_VERSION, FIDIUS_MAGIC, REGISTRY_VERSION,
};
use fidius_core::BufferStrategyKind;
use libloading::Library;
use std::ffi::{c_char, c_void};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Most plugins one library may declare.
pub const MAX_PLUGINS_PER_LIBRARY: u32 = 4096;
/// Most vtable slots one plugin may declare.
pub const MAX_METHODS: u32 = 4096;
/// Longest name accepted from a descriptor.
const MAX_NAME_LEN: usize = 4096;

/// A library and the plugins its registry declares.
pub struct LoadedLibrary {
    /// The mapped library; every plugin and executor holds a clone.
    pub library: Arc<Library>,
    /// Its validated plugins, in registry order.
    pub plugins: Vec<LoadedPlugin>,
    /// Where it was loaded from.
    pub path: PathBuf,
}

impl fmt::Debug for LoadedLibrary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedLibrary")
            .field("path", &self.path)
            .field("plugins", &self.plugins)
            .finish()
    }
}

/// One validated plugin of a loaded library (clone it to make several
/// instances of the same plugin).
///
/// The public fields are a copy for reading (fidius 0.5 shape). Nothing
/// fidius does with a `LoadedPlugin` trusts them: instances are made from
/// the descriptor the loader validated, kept privately with its library,
/// and their [`PluginInfo`] is read from that descriptor again, so changing
/// a field (a buffer strategy, a pointer) cannot make a call unsound.
#[derive(Clone)]
pub struct LoadedPlugin {
    /// Identity and shape.
    pub info: PluginInfo,
    /// The vtable (checked non-null).
    pub vtable: *const c_void,
    /// `free_buffer` (PluginAllocated only).
    pub free_buffer: Option<FreeBufferFn>,
    /// Number of vtable slots.
    pub method_count: u32,
    /// The descriptor inside the library.
    pub descriptor: *const PluginDescriptor,
    /// Keeps the library mapped while this plugin (or anything made from it) lives.
    pub library: Arc<Library>,
    /// What the loader validated: the descriptor and the library that holds it.
    sealed: Sealed,
}

/// The validated descriptor of a [`LoadedPlugin`] and the library keeping it mapped.
#[derive(Clone)]
pub(crate) struct Sealed {
    pub(crate) descriptor: *const PluginDescriptor,
    pub(crate) library: Arc<Library>,
    pub(crate) origin: Arc<str>,
}

// SAFETY: the raw pointers point into the immutable, 'static-for-the-library
// registry data, kept mapped by the `Arc<Library>` held alongside them.
unsafe impl Send for LoadedPlugin {}
// SAFETY: as above; nothing here is mutated after loading.
unsafe impl Sync for LoadedPlugin {}

impl LoadedPlugin {
    fn desc(&self) -> &PluginDescriptor {
        // SAFETY: validated at load; kept mapped by the sealed library.
        unsafe { &*self.sealed.descriptor }
    }

    /// The validated descriptor, its library and where it came from.
    pub(crate) fn sealed(&self) -> &Sealed {
        &self.sealed
    }

    /// The call kind each method records (`None` for plugins built by fidius 0.5).
    pub fn method_kinds(&self) -> Vec<Option<fidius_core::MethodKind>> {
        let d = self.desc();
        // SAFETY: indices below `method_count` of a valid descriptor.
        (0..d.method_count)
            .map(|i| unsafe { crate::meta::method_kind(d, i) })
            .collect()
    }

    /// User metadata of method `i` (reserved `fidius.*` keys excluded).
    pub fn method_metadata(&self, i: u32) -> Vec<(&str, &str)> {
        let d = self.desc();
        if i >= d.method_count {
            return Vec::new();
        }
        // SAFETY: `i < method_count` of a valid descriptor.
        unsafe { crate::meta::method_pairs(d, i) }
            .into_iter()
            .filter(|(k, _)| !k.starts_with(fidius_core::kind::RESERVED_META_PREFIX))
            .collect()
    }

    /// Trait-level metadata.
    pub fn trait_metadata(&self) -> Vec<(&str, &str)> {
        let d = self.desc();
        // SAFETY: validated: non-null when the count is non-zero; static strings.
        unsafe { crate::meta::read_pairs(d.trait_metadata, d.trait_metadata_count) }
    }
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("info", &self.info)
            .field("method_count", &self.method_count)
            .finish_non_exhaustive()
    }
}

/// Reads a NUL-terminated UTF-8 name of bounded length from plugin memory.
///
/// # Safety
/// `ptr` must be null or point at readable memory holding a NUL within
/// [`MAX_NAME_LEN`] bytes (guaranteed for well-formed descriptors).
unsafe fn read_name(ptr: *const c_char, what: &str) -> Result<String, String> {
    if ptr.is_null() {
        return Err(format!("{what} is null"));
    }
    // Bounded scan: a name without a NUL in its first MAX_NAME_LEN + 1
    // bytes is refused without reading further (no unbounded strlen over
    // memory a hostile library chose).
    let mut len = 0;
    // SAFETY: each read is at most MAX_NAME_LEN bytes past `ptr`, inside the
    // name (or its terminator) of a well-formed descriptor.
    while unsafe { *ptr.add(len) } != 0 {
        len += 1;
        if len > MAX_NAME_LEN {
            return Err(format!(
                "{what} has no terminating NUL within {MAX_NAME_LEN} bytes"
            ));
        }
    }
    // SAFETY: the `len` bytes before the NUL were just read.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| format!("{what} is not valid UTF-8"))
}

/// Validates one descriptor and produces its [`PluginInfo`].
///
/// # Safety
/// `desc` must point at readable memory of at least the size it claims in
/// `descriptor_size` (checked against our layout first) that stays valid.
pub unsafe fn validate_descriptor(
    desc: *const PluginDescriptor,
    origin: &str,
) -> Result<PluginInfo, LoadError> {
    let invalid = |reason: String| LoadError::InvalidDescriptor {
        path: origin.to_owned(),
        reason,
    };
    if desc.is_null() {
        return Err(invalid("null descriptor pointer in registry".into()));
    }
    // The first two fields are present in every descriptor version.
    // SAFETY: non-null, and every descriptor starts with these two u32s.
    let (size, abi) = unsafe { ((*desc).descriptor_size, (*desc).abi_version) };
    if abi != ABI_VERSION {
        return Err(LoadError::IncompatibleAbiVersion {
            got: abi,
            expected: ABI_VERSION,
        });
    }
    if (size as usize) < std::mem::size_of::<PluginDescriptor>() {
        return Err(invalid(format!(
            "descriptor_size {size} is smaller than the ABI {ABI_VERSION} layout ({} bytes)",
            std::mem::size_of::<PluginDescriptor>()
        )));
    }
    // SAFETY: the descriptor claims (and for this ABI must have) our full layout.
    let d = unsafe { &*desc };
    // SAFETY: name pointers of a well-formed descriptor are static C strings.
    let name = unsafe { read_name(d.plugin_name, "plugin_name") }.map_err(invalid)?;
    // SAFETY: as above.
    let interface_name =
        unsafe { read_name(d.interface_name, "interface_name") }.map_err(invalid)?;
    let strategy = BufferStrategyKind::from_u8(d.buffer_strategy)
        .map_err(|value| LoadError::UnknownBufferStrategy { value })?;
    if d.vtable.is_null() {
        return Err(invalid(format!("plugin '{name}' has a null vtable")));
    }
    if d.method_count > MAX_METHODS {
        return Err(invalid(format!(
            "plugin '{name}' declares {} methods",
            d.method_count
        )));
    }
    if strategy == BufferStrategyKind::PluginAllocated && d.free_buffer.is_none() {
        return Err(invalid(format!(
            "plugin '{name}' uses PluginAllocated buffers but exports no free_buffer"
        )));
    }
    if d.construct.is_none() || d.destroy.is_none() {
        return Err(invalid(format!(
            "plugin '{name}' has no construct/destroy functions"
        )));
    }
    if d.trait_metadata_count > 0 && d.trait_metadata.is_null() {
        return Err(invalid(format!(
            "plugin '{name}' declares trait metadata at a null pointer"
        )));
    }
    Ok(PluginInfo {
        name,
        interface_name,
        interface_hash: d.interface_hash,
        interface_version: d.interface_version,
        capabilities: d.capabilities,
        buffer_strategy: strategy,
        runtime: PluginRuntimeKind::Cdylib,
    })
}

/// Reads and validates a registry, returning `(descriptor, info)` pairs.
///
/// # Safety
/// `reg` must be null or point at a registry (as exported by a fidius library)
/// that stays valid while the results are used.
pub unsafe fn read_registry(
    reg: *const PluginRegistry,
    origin: &str,
) -> Result<Vec<(*const PluginDescriptor, PluginInfo)>, LoadError> {
    let invalid = |reason: String| LoadError::InvalidDescriptor {
        path: origin.to_owned(),
        reason,
    };
    if reg.is_null() {
        return Err(invalid("fidius_get_registry returned null".into()));
    }
    // SAFETY: non-null; the registry layout is fixed at 24 bytes.
    let reg = unsafe { &*reg };
    if reg.magic != FIDIUS_MAGIC {
        return Err(LoadError::InvalidMagic);
    }
    if reg.registry_version != REGISTRY_VERSION {
        return Err(LoadError::IncompatibleRegistryVersion {
            got: reg.registry_version,
            expected: REGISTRY_VERSION,
        });
    }
    if reg.plugin_count > MAX_PLUGINS_PER_LIBRARY {
        return Err(invalid(format!(
            "registry declares {} plugins",
            reg.plugin_count
        )));
    }
    if reg.plugin_count > 0 && reg.descriptors.is_null() {
        return Err(invalid("registry has a null descriptor array".into()));
    }
    let mut out = Vec::with_capacity(reg.plugin_count as usize);
    for i in 0..reg.plugin_count as usize {
        // SAFETY: `descriptors` holds `plugin_count` pointers (checked non-null).
        let desc = unsafe { *reg.descriptors.add(i) };
        // SAFETY: forwarded contract; the pointer is checked inside.
        let info = unsafe { validate_descriptor(desc, origin) }?;
        out.push((desc, info));
    }
    Ok(out)
}

/// Loads the library at `path` after the architecture gate, and validates its registry.
pub fn load_library(path: &Path) -> Result<LoadedLibrary, LoadError> {
    let data = arch::read_library(path)?;
    load_library_checked(path, &data)
}

/// [`load_library`] for bytes the caller has already read (and perhaps verified).
pub(crate) fn load_library_checked(path: &Path, data: &[u8]) -> Result<LoadedLibrary, LoadError> {
    arch::check_bytes(path, data)?;
    let origin = path.display().to_string();
    // Mapped from exactly `data`, never by reopening `path` (see mapping.rs).
    let library = crate::mapping::open_exact(path, data)?;
    type GetRegistry = unsafe extern "C" fn() -> *const PluginRegistry;
    // SAFETY: the symbol, if present, has the fidius entry-point signature.
    let get: libloading::Symbol<GetRegistry> = unsafe { library.get(b"fidius_get_registry\0") }
        .map_err(|_| LoadError::SymbolNotFound {
            path: origin.clone(),
        })?;
    // SAFETY: calling the fidius entry point (runs plugin code that builds the registry).
    let reg = unsafe { get() };
    // SAFETY: the registry comes from the library we keep loaded below.
    let entries = unsafe { read_registry(reg, &origin) }?;
    let origin_shared: Arc<str> = origin.as_str().into();
    let plugins = entries
        .into_iter()
        .map(|(desc, info)| {
            // SAFETY: validated descriptor inside the loaded library.
            let d = unsafe { &*desc };
            LoadedPlugin {
                info,
                vtable: d.vtable,
                free_buffer: d.free_buffer,
                method_count: d.method_count,
                descriptor: desc,
                library: Arc::clone(&library),
                sealed: Sealed {
                    descriptor: desc,
                    library: Arc::clone(&library),
                    origin: Arc::clone(&origin_shared),
                },
            }
        })
        .collect();
    Ok(LoadedLibrary {
        library,
        plugins,
        path: path.to_path_buf(),
    })
}

/// Checks a plugin against the interface a host expects.
pub fn validate_against_interface(
    plugin: &LoadedPlugin,
    expected_hash: Option<u64>,
    expected_strategy: Option<BufferStrategyKind>,
) -> Result<(), LoadError> {
    check_info(&plugin.info, expected_hash, expected_strategy)
}

/// [`validate_against_interface`] on a [`PluginInfo`].
pub fn check_info(
    info: &PluginInfo,
    expected_hash: Option<u64>,
    expected_strategy: Option<BufferStrategyKind>,
) -> Result<(), LoadError> {
    if let Some(expected) = expected_hash {
        if info.interface_hash != expected {
            return Err(LoadError::InterfaceHashMismatch {
                got: info.interface_hash,
                expected,
            });
        }
    }
    if let Some(expected) = expected_strategy {
        if info.buffer_strategy != expected {
            return Err(LoadError::BufferStrategyMismatch {
                got: info.buffer_strategy,
                expected,
            });
        }
    }
    Ok(())
}

/// The platform's dynamic-library file extension.
pub fn dylib_extension() -> &'static str {
    std::env::consts::DLL_EXTENSION
}
