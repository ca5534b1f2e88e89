//! `#[repr(C)]` layouts of the fidius ABI (version 500): the registry a
//! library exports, one descriptor per plugin, and metadata entries.
//!
//! Every layout here is pinned by tests (`tests/layout.rs`); changing one is a
//! breaking ABI change.

use std::ffi::{c_char, c_void, CStr};
use std::fmt;

/// Magic bytes at the start of every [`PluginRegistry`].
pub const FIDIUS_MAGIC: [u8; 8] = *b"FIDIUS\0\0";

/// Layout version of [`PluginRegistry`].
pub const REGISTRY_VERSION: u32 = 1;

/// ABI version of [`PluginDescriptor`] and the vtable calling convention.
///
/// Fixed at 500: the ABI of fidius 0.5.x, with which this implementation is
/// binary compatible. Hosts require exact equality.
pub const ABI_VERSION: u32 = 500;

/// Signature of a `PluginAllocated` vtable slot (also the init slot of a
/// server stream): `(instance, in_ptr, in_len, out_ptr, out_len) -> status`.
pub type PluginAllocatedFn =
    unsafe extern "C" fn(*mut c_void, *const u8, u32, *mut *mut u8, *mut u32) -> i32;

/// Signature of an `Arena` vtable slot:
/// `(instance, in_ptr, in_len, arena_ptr, arena_cap, out_offset, out_len) -> status`.
pub type ArenaFn =
    unsafe extern "C" fn(*mut c_void, *const u8, u32, *mut u8, u32, *mut u32, *mut u32) -> i32;

/// Signature of the plugin's `free_buffer` export (frees a `PluginAllocated` output).
pub type FreeBufferFn = unsafe extern "C" fn(*mut u8, usize);

/// Signature of a descriptor's `construct`: config bytes → owning instance pointer (null = failure).
pub type ConstructFn = unsafe extern "C" fn(*const u8, u32) -> *mut c_void;

/// Signature of a descriptor's `destroy`: frees an instance made by `construct`.
pub type DestroyFn = unsafe extern "C" fn(*mut c_void);

/// How output buffers are allocated for a plugin's methods.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BufferStrategyKind {
    /// The plugin allocates each output; the host frees it with `free_buffer`.
    PluginAllocated = 1,
    /// The host lends a buffer (an arena); the plugin writes its output there.
    Arena = 2,
}

impl BufferStrategyKind {
    /// Decodes the descriptor byte; `Err(byte)` for unknown values.
    pub fn from_u8(value: u8) -> Result<Self, u8> {
        match value {
            1 => Ok(Self::PluginAllocated),
            2 => Ok(Self::Arena),
            other => Err(other),
        }
    }
}

impl fmt::Display for BufferStrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PluginAllocated => f.write_str("PluginAllocated"),
            Self::Arena => f.write_str("Arena"),
        }
    }
}

/// The table a library exports through `fidius_get_registry` (24 bytes).
#[repr(C)]
#[derive(Debug)]
pub struct PluginRegistry {
    /// Always [`FIDIUS_MAGIC`].
    pub magic: [u8; 8],
    /// Always [`REGISTRY_VERSION`] for this layout.
    pub registry_version: u32,
    /// Number of entries behind `descriptors`.
    pub plugin_count: u32,
    /// Array of `plugin_count` descriptor pointers.
    pub descriptors: *const *const PluginDescriptor,
}

// SAFETY: a registry is immutable after construction and only points at
// 'static, immutable descriptors.
unsafe impl Sync for PluginRegistry {}
// SAFETY: as above; nothing in it is tied to a thread.
unsafe impl Send for PluginRegistry {}

/// One key/value metadata pair (16 bytes); both strings are static, NUL-terminated UTF-8.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MetaKv {
    /// Key.
    pub key: *const c_char,
    /// Value.
    pub value: *const c_char,
}

/// The metadata of one method (16 bytes): `kv_count` pairs at `kvs`, or null/0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MethodMetaEntry {
    /// Pairs, or null when there are none.
    pub kvs: *const MetaKv,
    /// Number of pairs.
    pub kv_count: u32,
}

impl MethodMetaEntry {
    /// An entry with no metadata.
    pub const EMPTY: Self = Self {
        kvs: std::ptr::null(),
        kv_count: 0,
    };
}

/// Everything a host needs to know about one plugin (120 bytes, ABI 500).
#[repr(C)]
#[derive(Debug)]
pub struct PluginDescriptor {
    /// `size_of::<PluginDescriptor>()` at plugin build time.
    pub descriptor_size: u32,
    /// Must equal the host's [`ABI_VERSION`].
    pub abi_version: u32,
    /// NUL-terminated trait name.
    pub interface_name: *const c_char,
    /// FNV-1a hash of the required methods' signatures (see [`crate::hash`]).
    pub interface_hash: u64,
    /// The interface's declared `version`.
    pub interface_version: u32,
    /// Bit k set = the k-th optional method is implemented.
    pub capabilities: u64,
    /// [`BufferStrategyKind`] as a byte.
    pub buffer_strategy: u8,
    /// NUL-terminated plugin (impl type) name.
    pub plugin_name: *const c_char,
    /// Pointer to the interface's `<Trait>_VTable`.
    pub vtable: *const c_void,
    /// Frees `PluginAllocated` outputs; `None` for `Arena`.
    pub free_buffer: Option<FreeBufferFn>,
    /// Number of vtable slots.
    pub method_count: u32,
    /// `method_count` entries, or null.
    pub method_metadata: *const MethodMetaEntry,
    /// Trait-level pairs, or null.
    pub trait_metadata: *const MetaKv,
    /// Number of trait-level pairs.
    pub trait_metadata_count: u32,
    /// Builds an instance from bincode config bytes (empty = zero-config).
    pub construct: Option<ConstructFn>,
    /// Frees an instance made by `construct`.
    pub destroy: Option<DestroyFn>,
}

// SAFETY: descriptors are immutable after construction and only point at
// 'static data and functions.
unsafe impl Sync for PluginDescriptor {}
// SAFETY: as above.
unsafe impl Send for PluginDescriptor {}

impl PluginDescriptor {
    /// The interface name.
    ///
    /// # Safety
    /// `interface_name` must point at a valid NUL-terminated string that
    /// outlives the returned reference.
    pub unsafe fn interface_name_str(&self) -> &str {
        // SAFETY: guaranteed by the caller.
        unsafe { cstr_or_empty(self.interface_name) }
    }

    /// The plugin name.
    ///
    /// # Safety
    /// As for [`Self::interface_name_str`], for `plugin_name`.
    pub unsafe fn plugin_name_str(&self) -> &str {
        // SAFETY: guaranteed by the caller.
        unsafe { cstr_or_empty(self.plugin_name) }
    }

    /// The buffer strategy, or the unknown byte.
    pub fn buffer_strategy_kind(&self) -> Result<BufferStrategyKind, u8> {
        BufferStrategyKind::from_u8(self.buffer_strategy)
    }

    /// Whether optional-method bit `bit` is set (false for `bit >= 64`).
    pub fn has_capability(&self, bit: u32) -> bool {
        bit < 64 && self.capabilities & (1u64 << bit) != 0
    }
}

/// Reads a C string as UTF-8; null or invalid UTF-8 reads as "".
///
/// # Safety
/// `ptr` is null or points at a NUL-terminated string living for `'a`.
pub unsafe fn cstr_or_empty<'a>(ptr: *const c_char) -> &'a str {
    if ptr.is_null() {
        return "";
    }
    // SAFETY: non-null and NUL-terminated per the caller's contract.
    unsafe { CStr::from_ptr(ptr) }.to_str().unwrap_or("")
}

/// A `Sync` wrapper around a descriptor pointer, for statics.
#[repr(transparent)]
#[derive(Debug, Clone, Copy)]
pub struct DescriptorPtr(pub *const PluginDescriptor);

// SAFETY: points at an immutable 'static descriptor.
unsafe impl Sync for DescriptorPtr {}
// SAFETY: as above.
unsafe impl Send for DescriptorPtr {}
