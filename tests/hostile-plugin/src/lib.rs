//! A hand-written fidius library (no macros) whose plugins each break the
//! call protocol in one way: lying lengths, null buffers, unknown status
//! codes, undecodable payloads, arenas that never fit, failing construct.
//! Hosts must turn every one of them into a typed error.

use fidius_core::descriptor::*;
use fidius_core::status::*;
use std::ffi::{c_void, CStr};
use std::sync::OnceLock;

fn leak(bytes: Vec<u8>, out_ptr: *mut *mut u8, out_len: *mut u32) {
    let len = bytes.len() as u32;
    let ptr = Box::into_raw(bytes.into_boxed_slice()) as *mut u8;
    // SAFETY: the host passes valid out pointers.
    unsafe {
        *out_ptr = ptr;
        *out_len = len;
    }
}

unsafe extern "C" fn free_buffer(ptr: *mut u8, len: usize) {
    if !ptr.is_null() {
        // SAFETY: made by `leak` above with this length.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
    }
}

unsafe extern "C" fn construct(_: *const u8, _: u32) -> *mut c_void {
    Box::into_raw(Box::new(0u8)) as *mut c_void
}

unsafe extern "C" fn construct_null(_: *const u8, _: u32) -> *mut c_void {
    std::ptr::null_mut()
}

unsafe extern "C" fn destroy(p: *mut c_void) {
    if !p.is_null() {
        // SAFETY: made by `construct`.
        drop(unsafe { Box::from_raw(p as *mut u8) });
    }
}

unsafe extern "C" fn null_output(
    _: *mut c_void,
    _: *const u8,
    _: u32,
    out_ptr: *mut *mut u8,
    out_len: *mut u32,
) -> i32 {
    // SAFETY: valid out pointers.
    unsafe {
        *out_ptr = std::ptr::null_mut();
        *out_len = 16;
    }
    STATUS_OK
}

unsafe extern "C" fn unknown_status(
    _: *mut c_void,
    _: *const u8,
    _: u32,
    _: *mut *mut u8,
    _: *mut u32,
) -> i32 {
    42
}

unsafe extern "C" fn garbage_panic(
    _: *mut c_void,
    _: *const u8,
    _: u32,
    out_ptr: *mut *mut u8,
    out_len: *mut u32,
) -> i32 {
    leak(vec![0xFF; 3], out_ptr, out_len);
    STATUS_PANIC
}

unsafe extern "C" fn garbage_error(
    _: *mut c_void,
    _: *const u8,
    _: u32,
    out_ptr: *mut *mut u8,
    out_len: *mut u32,
) -> i32 {
    leak(
        vec![0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 1],
        out_ptr,
        out_len,
    );
    STATUS_PLUGIN_ERROR
}

unsafe extern "C" fn short_output(
    _: *mut c_void,
    _: *const u8,
    _: u32,
    out_ptr: *mut *mut u8,
    out_len: *mut u32,
) -> i32 {
    leak(vec![1], out_ptr, out_len);
    STATUS_OK
}

unsafe extern "C" fn arena_out_of_range(
    _: *mut c_void,
    _: *const u8,
    _: u32,
    _: *mut u8,
    cap: u32,
    off: *mut u32,
    len: *mut u32,
) -> i32 {
    // SAFETY: valid out pointers.
    unsafe {
        *off = cap - 1;
        *len = 100;
    }
    STATUS_OK
}

unsafe extern "C" fn arena_never_fits(
    _: *mut c_void,
    _: *const u8,
    _: u32,
    _: *mut u8,
    cap: u32,
    _: *mut u32,
    len: *mut u32,
) -> i32 {
    // SAFETY: valid out pointer.
    unsafe { *len = cap.saturating_mul(2) };
    STATUS_BUFFER_TOO_SMALL
}

unsafe extern "C" fn arena_huge_request(
    _: *mut c_void,
    _: *const u8,
    _: u32,
    _: *mut u8,
    _: u32,
    _: *mut u32,
    len: *mut u32,
) -> i32 {
    // SAFETY: valid out pointer.
    unsafe { *len = u32::MAX };
    STATUS_BUFFER_TOO_SMALL
}

/// Asks for a 128 MiB arena, and answers (empty) once it gets one.
unsafe extern "C" fn arena_big_request(
    _: *mut c_void,
    _: *const u8,
    _: u32,
    _: *mut u8,
    cap: u32,
    off: *mut u32,
    len: *mut u32,
) -> i32 {
    const WANT: u32 = 128 << 20;
    // SAFETY: valid out pointers.
    unsafe {
        *off = 0;
        *len = if cap >= WANT { 0 } else { WANT };
    }
    if cap >= WANT {
        STATUS_OK
    } else {
        STATUS_BUFFER_TOO_SMALL
    }
}

unsafe extern "C" fn arena_offset_overflow(
    _: *mut c_void,
    _: *const u8,
    _: u32,
    _: *mut u8,
    _: u32,
    off: *mut u32,
    len: *mut u32,
) -> i32 {
    // SAFETY: valid out pointers.
    unsafe {
        *off = u32::MAX;
        *len = u32::MAX;
    }
    STATUS_PLUGIN_ERROR
}

struct Vt1(#[allow(dead_code)] *const c_void);

fn descriptor(
    name: &'static CStr,
    strategy: BufferStrategyKind,
    slot: *const c_void,
    ctor: ConstructFn,
) -> PluginDescriptor {
    let vt: &'static Vt1 = Box::leak(Box::new(Vt1(slot)));
    PluginDescriptor {
        descriptor_size: std::mem::size_of::<PluginDescriptor>() as u32,
        abi_version: ABI_VERSION,
        interface_name: c"Hostile".as_ptr(),
        interface_hash: 0x4057_11E0,
        interface_version: 1,
        capabilities: 0,
        buffer_strategy: strategy as u8,
        plugin_name: name.as_ptr(),
        vtable: vt as *const Vt1 as *const c_void,
        free_buffer: match strategy {
            BufferStrategyKind::PluginAllocated => Some(free_buffer),
            BufferStrategyKind::Arena => None,
        },
        method_count: 1,
        method_metadata: std::ptr::null(),
        trait_metadata: std::ptr::null(),
        trait_metadata_count: 0,
        construct: Some(ctor),
        destroy: Some(destroy),
    }
}

struct Reg(PluginRegistry);
// SAFETY: immutable after construction.
unsafe impl Sync for Reg {}
// SAFETY: as above.
unsafe impl Send for Reg {}

/// The registry: one misbehaving plugin per way of breaking the protocol.
#[unsafe(no_mangle)]
pub extern "C" fn fidius_get_registry() -> *const PluginRegistry {
    static REG: OnceLock<Reg> = OnceLock::new();
    let reg = REG.get_or_init(|| {
        use BufferStrategyKind::{Arena, PluginAllocated};
        let pa = |f: PluginAllocatedFn| f as *const c_void;
        let ar = |f: ArenaFn| f as *const c_void;
        let descs = vec![
            descriptor(c"NullOutput", PluginAllocated, pa(null_output), construct),
            descriptor(
                c"UnknownStatus",
                PluginAllocated,
                pa(unknown_status),
                construct,
            ),
            descriptor(
                c"GarbagePanic",
                PluginAllocated,
                pa(garbage_panic),
                construct,
            ),
            descriptor(
                c"GarbageError",
                PluginAllocated,
                pa(garbage_error),
                construct,
            ),
            descriptor(c"ShortOutput", PluginAllocated, pa(short_output), construct),
            descriptor(c"ArenaOutOfRange", Arena, ar(arena_out_of_range), construct),
            descriptor(c"ArenaNeverFits", Arena, ar(arena_never_fits), construct),
            descriptor(
                c"ArenaHugeRequest",
                Arena,
                ar(arena_huge_request),
                construct,
            ),
            descriptor(c"ArenaBigRequest", Arena, ar(arena_big_request), construct),
            descriptor(
                c"ArenaOffsetOverflow",
                Arena,
                ar(arena_offset_overflow),
                construct,
            ),
            descriptor(
                c"NullConstruct",
                PluginAllocated,
                pa(unknown_status),
                construct_null,
            ),
        ];
        // A well-behaved plugin of version 2 of the interface (the version
        // is not part of the hash).
        let mut versioned =
            descriptor(c"Versioned", PluginAllocated, pa(unknown_status), construct);
        versioned.interface_version = 2;
        let mut descs = descs;
        descs.push(versioned);
        let ptrs: Vec<*const PluginDescriptor> = descs
            .into_iter()
            .map(|d| Box::leak(Box::new(d)) as *const PluginDescriptor)
            .collect();
        let ptrs: &'static [*const PluginDescriptor] = Box::leak(ptrs.into_boxed_slice());
        Reg(PluginRegistry {
            magic: FIDIUS_MAGIC,
            registry_version: REGISTRY_VERSION,
            plugin_count: ptrs.len() as u32,
            descriptors: ptrs.as_ptr(),
        })
    });
    &reg.0
}

unsafe extern "C" fn bind_nothing(_: *const fidius_core::host_ffi::HostFunctionTable) -> i32 {
    fidius_core::host_ffi::BIND_ERR_ABI
}

/// Host imports whose one descriptor claims to be 8 bytes long (shorter than
/// the layout the host reads): refused before its fields are read.
#[unsafe(no_mangle)]
pub extern "C" fn fidius_get_host_imports() -> *const fidius_core::host_ffi::HostImportRegistry {
    use fidius_core::host_ffi::{HostImportDescriptor, HostImportRegistry, HOST_IMPORTS_VERSION};
    static IMPORTS: OnceLock<HostImportRegistry> = OnceLock::new();
    IMPORTS.get_or_init(|| {
        let short: &'static HostImportDescriptor = Box::leak(Box::new(HostImportDescriptor {
            descriptor_size: 8,
            abi_version: ABI_VERSION,
            interface_name: c"Short".as_ptr(),
            interface_hash: 1,
            interface_version: 1,
            bind: bind_nothing,
        }));
        let ptrs: &'static [*const HostImportDescriptor] = Box::leak(Box::new([short as *const _]));
        HostImportRegistry {
            magic: FIDIUS_MAGIC,
            registry_version: HOST_IMPORTS_VERSION,
            import_count: 1,
            imports: ptrs.as_ptr(),
        }
    })
}
