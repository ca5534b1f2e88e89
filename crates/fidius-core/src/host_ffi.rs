//! Host functions (plugin → host callbacks): the `#[repr(C)]` table a host
//! hands to a plugin, the import descriptors a plugin library exports, bind
//! status codes, the plugin-side call path and its typed errors.
//!
//! A host interface is bound once per library (`HostTableCell`); calls go
//! through the table's `dispatch` and return host-allocated buffers the
//! plugin gives back with the table's `free_buffer`. Layouts match fidius 0.5.

use crate::descriptor::FIDIUS_MAGIC;
use crate::status::*;
use crate::PluginError;
use std::cell::Cell;
use std::ffi::{c_char, c_void, CStr};
use std::fmt;
use std::sync::atomic::{AtomicPtr, Ordering};

/// Layout version of [`HostImportRegistry`].
pub const HOST_IMPORTS_VERSION: u32 = 1;
/// Symbol a plugin library exports its host imports under (optional).
pub const HOST_IMPORTS_SYMBOL: &str = "fidius_get_host_imports";
/// Probe index (WASM backend): answers "bound?" without dispatching.
pub const HOST_CALL_PROBE_INDEX: u32 = u32::MAX;

/// Bound.
pub const BIND_OK: i32 = 0;
/// Null table.
pub const BIND_ERR_NULL: i32 = -1;
/// The interface is already bound in this library.
pub const BIND_ERR_ALREADY_BOUND: i32 = -2;
/// The table's interface hash differs from the plugin's.
pub const BIND_ERR_HASH_MISMATCH: i32 = -3;
/// The table's interface version differs from the plugin's.
pub const BIND_ERR_VERSION_MISMATCH: i32 = -4;
/// The table's size or ABI version is not ours.
pub const BIND_ERR_ABI: i32 = -5;
/// The table has another number of functions.
pub const BIND_ERR_FN_COUNT: i32 = -6;
/// The bind function panicked.
pub const BIND_ERR_PANIC: i32 = -7;
/// Binding is not possible on this backend.
pub const BIND_ERR_WRONG_BACKEND: i32 = -8;

/// A human-readable message for a bind status.
pub fn bind_status_message(code: i32) -> &'static str {
    match code {
        BIND_OK => "bound",
        BIND_ERR_NULL => "the host function table is null",
        BIND_ERR_ALREADY_BOUND => "this host interface is already bound in the plugin library",
        BIND_ERR_HASH_MISMATCH => "the host interface hash differs between host and plugin",
        BIND_ERR_VERSION_MISMATCH => "the host interface version differs between host and plugin",
        BIND_ERR_ABI => "the host function table has an incompatible size or ABI version",
        BIND_ERR_FN_COUNT => "the host function table has a different number of functions",
        BIND_ERR_PANIC => "the plugin's bind function panicked",
        BIND_ERR_WRONG_BACKEND => "host functions cannot be bound on this backend",
        _ => "unknown bind status",
    }
}

/// `dispatch(ctx, fn_index, in_ptr, in_len, out_ptr, out_len) -> status`.
pub type HostDispatchFn =
    unsafe extern "C" fn(*mut c_void, u32, *const u8, u32, *mut *mut u8, *mut u32) -> i32;

/// The functions a host provides for one host interface (56 bytes).
#[repr(C)]
#[derive(Debug)]
pub struct HostFunctionTable {
    /// `size_of::<HostFunctionTable>()` on the host.
    pub table_size: u32,
    /// The host's ABI version.
    pub abi_version: u32,
    /// NUL-terminated interface name.
    pub interface_name: *const c_char,
    /// Interface hash (all methods, full return types).
    pub interface_hash: u64,
    /// Interface version.
    pub interface_version: u32,
    /// Number of functions.
    pub fn_count: u32,
    /// Opaque host context passed to `dispatch`.
    pub ctx: *mut c_void,
    /// Calls function `fn_index` with bincode arguments.
    pub dispatch: HostDispatchFn,
    /// Frees a buffer `dispatch` returned.
    pub free_buffer: unsafe extern "C" fn(*mut u8, usize),
}

// SAFETY: a table is immutable once built and its context is a `Send + Sync`
// host object (`Arc<dyn Trait>` of a `Send + Sync` trait).
unsafe impl Sync for HostFunctionTable {}
// SAFETY: as above.
unsafe impl Send for HostFunctionTable {}

/// A host function table on its way to a plugin, with the function that
/// frees it if the plugin refuses it (a table a plugin accepted is never
/// freed: the plugin may call it for the rest of the process).
#[derive(Debug, Clone, Copy)]
pub struct HostTable {
    /// The table (null: none could be built).
    pub table: *const HostFunctionTable,
    /// Frees `table` and its context; `None` for a table that is leaked.
    pub free: Option<unsafe fn(*const HostFunctionTable)>,
}

impl HostTable {
    /// A table that is never freed.
    pub fn leaked(table: *const HostFunctionTable) -> Self {
        Self { table, free: None }
    }

    /// Gives back a table no plugin holds (a refused bind).
    ///
    /// # Safety
    /// No plugin may hold `self.table`, and `self.free` must free exactly
    /// what built it, once.
    pub unsafe fn release(self) {
        if let (Some(free), false) = (self.free, self.table.is_null()) {
            // SAFETY: forwarded caller contract.
            unsafe { free(self.table) }
        }
    }
}

/// What a plugin library imports (40 bytes).
#[repr(C)]
#[derive(Debug)]
pub struct HostImportDescriptor {
    /// `size_of::<HostImportDescriptor>()` in the plugin.
    pub descriptor_size: u32,
    /// The plugin's ABI version.
    pub abi_version: u32,
    /// NUL-terminated interface name.
    pub interface_name: *const c_char,
    /// Interface hash the plugin was built against.
    pub interface_hash: u64,
    /// Interface version the plugin was built against.
    pub interface_version: u32,
    /// Binds a table (once).
    pub bind: unsafe extern "C" fn(*const HostFunctionTable) -> i32,
}

// SAFETY: immutable, points at static data and functions.
unsafe impl Sync for HostImportDescriptor {}
// SAFETY: as above.
unsafe impl Send for HostImportDescriptor {}

/// The imports a plugin library exports via `fidius_get_host_imports` (24 bytes).
#[repr(C)]
#[derive(Debug)]
pub struct HostImportRegistry {
    /// [`FIDIUS_MAGIC`].
    pub magic: [u8; 8],
    /// [`HOST_IMPORTS_VERSION`].
    pub registry_version: u32,
    /// Entries behind `imports`.
    pub import_count: u32,
    /// Array of `import_count` descriptor pointers.
    pub imports: *const *const HostImportDescriptor,
}

// SAFETY: immutable after construction; points at leaked descriptors.
unsafe impl Sync for HostImportRegistry {}
// SAFETY: as above.
unsafe impl Send for HostImportRegistry {}

/// One host import, submitted by `#[host_interface]` through `inventory`.
pub struct HostImportEntry {
    build: fn() -> HostImportDescriptor,
}

impl HostImportEntry {
    /// An entry whose descriptor is built on first access.
    pub const fn new(build: fn() -> HostImportDescriptor) -> Self {
        Self { build }
    }
}

inventory::collect!(HostImportEntry);

struct Imports {
    registry: HostImportRegistry,
    _imports: Box<[*const HostImportDescriptor]>,
}
// SAFETY: immutable after construction.
unsafe impl Sync for Imports {}
// SAFETY: as above.
unsafe impl Send for Imports {}

/// The host imports of this library (built once).
pub fn get_host_imports() -> &'static HostImportRegistry {
    static IMPORTS: std::sync::OnceLock<Imports> = std::sync::OnceLock::new();
    &IMPORTS
        .get_or_init(|| {
            let imports: Box<[*const HostImportDescriptor]> = inventory::iter::<HostImportEntry>
                .into_iter()
                .map(|e| Box::leak(Box::new((e.build)())) as *const HostImportDescriptor)
                .collect();
            Imports {
                registry: HostImportRegistry {
                    magic: FIDIUS_MAGIC,
                    registry_version: HOST_IMPORTS_VERSION,
                    import_count: imports.len() as u32,
                    imports: imports.as_ptr(),
                },
                _imports: imports,
            }
        })
        .registry
}

/// Where a plugin library keeps the table of one host interface (bound once).
#[derive(Debug, Default)]
pub struct HostTableCell(AtomicPtr<HostFunctionTable>);

impl HostTableCell {
    /// An unbound cell.
    pub const fn new() -> Self {
        Self(AtomicPtr::new(std::ptr::null_mut()))
    }

    /// Binds `table`; `BIND_ERR_ALREADY_BOUND` if a table is already bound.
    ///
    /// # Safety
    /// `table` must be null or point at a valid table of this interface that
    /// lives for the rest of the process: [`Self::get`] hands it out as
    /// `'static` and plugin code calls through it ([`bind_checked`] checks
    /// its header first).
    pub unsafe fn bind(&self, table: *const HostFunctionTable) -> i32 {
        match self.0.compare_exchange(
            std::ptr::null_mut(),
            table as *mut HostFunctionTable,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => BIND_OK,
            Err(_) => BIND_ERR_ALREADY_BOUND,
        }
    }

    /// The bound table, if any (tables live for the rest of the process).
    pub fn get(&self) -> Option<&'static HostFunctionTable> {
        let p = self.0.load(Ordering::Acquire);
        // SAFETY: bound tables are leaked by the host and never freed.
        (!p.is_null()).then(|| unsafe { &*p })
    }
}

/// Validates a table against what the plugin was built for, then binds it.
///
/// # Safety
/// `table` must be null or point at a readable table of at least its claimed size.
pub unsafe fn bind_checked(
    cell: &HostTableCell,
    table: *const HostFunctionTable,
    hash: u64,
    version: u32,
    fn_count: u32,
) -> i32 {
    std::panic::catch_unwind(|| {
        if table.is_null() {
            return BIND_ERR_NULL;
        }
        // SAFETY: non-null; the leading `table_size` and `abi_version` fields
        // exist in every table version, so they are read by place before a
        // reference to the whole (possibly shorter, older) table is formed.
        let (size, abi) = unsafe {
            (
                std::ptr::addr_of!((*table).table_size).read(),
                std::ptr::addr_of!((*table).abi_version).read(),
            )
        };
        if (size as usize) < std::mem::size_of::<HostFunctionTable>() || abi != crate::ABI_VERSION {
            return BIND_ERR_ABI;
        }
        // SAFETY: the table says it is at least as large as this version's.
        let t = unsafe { &*table };
        if t.interface_hash != hash {
            return BIND_ERR_HASH_MISMATCH;
        }
        if t.interface_version != version {
            return BIND_ERR_VERSION_MISMATCH;
        }
        if t.fn_count != fn_count {
            return BIND_ERR_FN_COUNT;
        }
        // SAFETY: checked above; lifetime per the caller's contract.
        unsafe { cell.bind(table) }
    })
    .unwrap_or(BIND_ERR_PANIC)
}

/// A host-function call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HostCallError {
    /// No host has bound this interface in this library.
    #[error("host interface '{interface}' is not bound (the host must bind it before calling the plugin)")]
    NotBound {
        /// Interface.
        interface: String,
    },
    /// The host function returned an error.
    #[error("host error: {0}")]
    Host(PluginError),
    /// The host function panicked.
    #[error("host function panicked: {0}")]
    HostPanic(String),
    /// Arguments could not be encoded, or the host could not decode them.
    #[error("serialization error: {0}")]
    Serialization(String),
    /// The host's result could not be decoded.
    #[error("deserialization error: {0}")]
    Deserialization(String),
    /// The host has no function at this index.
    #[error("host function index {index} is out of range")]
    InvalidIndex {
        /// Index.
        index: u32,
    },
    /// The host returned a status outside the protocol.
    #[error("host returned unknown status {code}")]
    UnknownStatus {
        /// Status.
        code: i32,
    },
    /// Version skew between plugin and host.
    #[error("host interface '{interface}' version mismatch: plugin expects {plugin_expects}, host provides {host_provides}")]
    VersionMismatch {
        /// Interface.
        interface: String,
        /// Plugin's version.
        plugin_expects: u32,
        /// Host's version.
        host_provides: u32,
    },
    /// Hash skew between plugin and host.
    #[error("host interface '{interface}' hash mismatch: plugin expects {plugin_expects:#x}, host provides {host_provides:#x}")]
    HashMismatch {
        /// Interface.
        interface: String,
        /// Plugin's hash.
        plugin_expects: u64,
        /// Host's hash.
        host_provides: u64,
    },
}

/// Binding a host interface failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("binding host interface '{interface}' failed ({code}): {message}")]
pub struct HostBindError {
    /// Interface.
    pub interface: String,
    /// `BIND_*` status.
    pub code: i32,
    /// What it means.
    pub message: String,
}

/// `Ok(())` for `BIND_OK`, else a [`HostBindError`].
pub fn bind_status_to_result(interface: &str, code: i32) -> Result<(), HostBindError> {
    if code == BIND_OK {
        Ok(())
    } else {
        Err(HostBindError {
            interface: interface.to_owned(),
            code,
            message: bind_status_message(code).to_owned(),
        })
    }
}

thread_local! {
    static CALLBACK_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// How many host-function dispatches are running on this thread (0 outside
/// callbacks); useful in debug assertions of host code.
pub fn host_callback_depth() -> u32 {
    CALLBACK_DEPTH.try_with(Cell::get).unwrap_or(0)
}

/// Counts a dispatch on this thread while alive.
#[derive(Debug)]
pub struct CallbackDepthGuard(());

impl CallbackDepthGuard {
    /// Enters a dispatch.
    pub fn enter() -> Self {
        let _ = CALLBACK_DEPTH.try_with(|d| d.set(d.get() + 1));
        Self(())
    }
}

impl Drop for CallbackDepthGuard {
    fn drop(&mut self) {
        let _ = CALLBACK_DEPTH.try_with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Plugin side: calls function `index` of a bound table with the encoded
/// argument tuple and decodes the result.
///
/// # Safety
/// `table` must be a table a host built for this interface (as a
/// [`HostTableCell`] holds once bound): its `dispatch` is called with its `ctx`.
pub unsafe fn call_host<O: serde::de::DeserializeOwned>(
    table: &HostFunctionTable,
    index: u32,
    args: &[u8],
) -> Result<O, HostCallError> {
    with_host_output(table, index, args, |status, bytes| {
        decode_host_status(status, bytes, index)
    })?
}

/// Calls function `index` of a table and returns its status and output bytes
/// as they are (what a process-tier host forwards to a plugin in its child).
///
/// # Safety
/// As for [`call_host`].
pub unsafe fn call_host_raw(
    table: &HostFunctionTable,
    index: u32,
    args: &[u8],
) -> Result<(i32, Vec<u8>), HostCallError> {
    with_host_output(table, index, args, |status, bytes| (status, bytes.to_vec()))
}

/// Decodes what a host function returned (`status`, output `bytes`).
pub fn decode_host_status<O: serde::de::DeserializeOwned>(
    status: i32,
    bytes: &[u8],
    index: u32,
) -> Result<O, HostCallError> {
    match status {
        STATUS_OK => crate::wire::deserialize::<O>(bytes)
            .map_err(|e| HostCallError::Deserialization(e.to_string())),
        STATUS_PLUGIN_ERROR => Err(HostCallError::Host(
            crate::wire::deserialize::<PluginError>(bytes).unwrap_or_else(|_| {
                PluginError::new("UNKNOWN", "host returned an undecodable error")
            }),
        )),
        STATUS_PANIC => Err(HostCallError::HostPanic(
            crate::wire::deserialize::<String>(bytes).unwrap_or_else(|_| "unknown panic".into()),
        )),
        STATUS_SERIALIZATION_ERROR => Err(HostCallError::Serialization(
            "the host could not decode the arguments or encode its result".into(),
        )),
        STATUS_INVALID_INDEX => Err(HostCallError::InvalidIndex { index }),
        code => Err(HostCallError::UnknownStatus { code }),
    }
}

/// Runs function `index` of `table` and hands its status and output to `f`
/// while the host's buffer is still borrowed (then gives the buffer back).
fn with_host_output<R>(
    table: &HostFunctionTable,
    index: u32,
    args: &[u8],
    f: impl FnOnce(i32, &[u8]) -> R,
) -> Result<R, HostCallError> {
    let in_len = u32::try_from(args.len())
        .map_err(|_| HostCallError::Serialization("arguments larger than 4 GiB".into()))?;
    let mut scratch = [0u8; 128];
    let mut out_ptr = scratch.as_mut_ptr();
    let mut out_len: u32 = crate::rt::SCRATCH_OFFER_TAG | scratch.len() as u32;
    // SAFETY: the host's dispatch follows the PluginAllocated protocol; the
    // scratch offer points at 128 writable bytes.
    let status = unsafe {
        (table.dispatch)(
            table.ctx,
            index,
            args.as_ptr(),
            in_len,
            &mut out_ptr,
            &mut out_len,
        )
    };
    let in_scratch = out_ptr == scratch.as_mut_ptr();
    let untouched =
        in_scratch && out_len & crate::rt::SCRATCH_OFFER_MASK == crate::rt::SCRATCH_OFFER_TAG;
    let bytes: &[u8] = if untouched || out_ptr.is_null() {
        &[]
    } else if in_scratch {
        scratch.get(..out_len as usize).unwrap_or(&[])
    } else {
        // SAFETY: the host handed over `out_len` readable bytes until freed below.
        unsafe { std::slice::from_raw_parts(out_ptr, out_len as usize) }
    };
    let result = f(status, bytes);
    if !in_scratch
        && !out_ptr.is_null()
        && matches!(status, STATUS_OK | STATUS_PLUGIN_ERROR | STATUS_PANIC)
    {
        // SAFETY: returning the host's buffer, exactly once.
        unsafe { (table.free_buffer)(out_ptr, out_len as usize) };
    }
    Ok(result)
}

/// The name of a table (for error messages).
pub fn table_name(table: &HostFunctionTable) -> String {
    if table.interface_name.is_null() {
        return String::new();
    }
    // SAFETY: a non-null name is a static NUL-terminated string.
    unsafe { CStr::from_ptr(table.interface_name) }
        .to_string_lossy()
        .into_owned()
}

impl fmt::Display for HostImportDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "host import v{} {:#x}",
            self.interface_version, self.interface_hash
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn layouts() {
        assert_eq!(size_of::<HostFunctionTable>(), 56);
        assert_eq!(offset_of!(HostFunctionTable, interface_name), 8);
        assert_eq!(offset_of!(HostFunctionTable, interface_hash), 16);
        assert_eq!(offset_of!(HostFunctionTable, interface_version), 24);
        assert_eq!(offset_of!(HostFunctionTable, fn_count), 28);
        assert_eq!(offset_of!(HostFunctionTable, ctx), 32);
        assert_eq!(offset_of!(HostFunctionTable, dispatch), 40);
        assert_eq!(offset_of!(HostFunctionTable, free_buffer), 48);
        assert_eq!(size_of::<HostImportDescriptor>(), 40);
        assert_eq!(offset_of!(HostImportDescriptor, interface_hash), 16);
        assert_eq!(offset_of!(HostImportDescriptor, interface_version), 24);
        assert_eq!(offset_of!(HostImportDescriptor, bind), 32);
        assert_eq!(size_of::<HostImportRegistry>(), 24);
        assert_eq!(offset_of!(HostImportRegistry, imports), 16);
    }

    #[test]
    fn cell_binds_once() {
        let cell = HostTableCell::new();
        assert!(cell.get().is_none());
        let t = Box::leak(Box::new(HostFunctionTable {
            table_size: 56,
            abi_version: crate::ABI_VERSION,
            interface_name: c"X".as_ptr(),
            interface_hash: 1,
            interface_version: 1,
            fn_count: 0,
            ctx: std::ptr::null_mut(),
            dispatch: {
                unsafe extern "C" fn d(
                    _: *mut c_void,
                    _: u32,
                    _: *const u8,
                    _: u32,
                    _: *mut *mut u8,
                    _: *mut u32,
                ) -> i32 {
                    0
                }
                d
            },
            free_buffer: crate::rt::free_buffer,
        }));
        // SAFETY: a valid table.
        unsafe {
            assert_eq!(bind_checked(&cell, t, 2, 1, 0), BIND_ERR_HASH_MISMATCH);
            assert_eq!(bind_checked(&cell, t, 1, 2, 0), BIND_ERR_VERSION_MISMATCH);
            assert_eq!(bind_checked(&cell, t, 1, 1, 3), BIND_ERR_FN_COUNT);
            assert_eq!(
                bind_checked(&cell, std::ptr::null(), 1, 1, 0),
                BIND_ERR_NULL
            );
            assert_eq!(bind_checked(&cell, t, 1, 1, 0), BIND_OK);
            assert_eq!(bind_checked(&cell, t, 1, 1, 0), BIND_ERR_ALREADY_BOUND);
        }
        assert!(cell.get().is_some());
        assert!(bind_status_to_result("X", BIND_ERR_ABI)
            .unwrap_err()
            .message
            .contains("ABI"));
    }
}
