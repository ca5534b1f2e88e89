//! Plugin-side runtime used by generated shims: the status protocol of both
//! buffer strategies, panic capture, `free_buffer`, and `block_on` for async methods.
//!
//! Generated code calls these functions; plugin authors never do.

use crate::status::*;
use std::any::Any;
use std::cell::RefCell;
use std::ffi::c_void;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What a shim body produced.
#[derive(Debug)]
pub enum ShimOutput {
    /// Encoded success value (`STATUS_OK`).
    Ok(Vec<u8>),
    /// Encoded `PluginError` (`STATUS_PLUGIN_ERROR`).
    PluginError(Vec<u8>),
}

/// A shim body's result: output, or a failure status (e.g. `STATUS_SERIALIZATION_ERROR`).
pub type ShimResult = Result<ShimOutput, i32>;

/// The message of a caught panic payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

/// Builds the input slice from `(ptr, len)`; `None` if `ptr` is null with `len > 0`.
///
/// # Safety
/// A non-null `ptr` must be valid for `len` reads for `'a`.
pub unsafe fn input<'a>(ptr: *const u8, len: u32) -> Option<&'a [u8]> {
    if len == 0 {
        Some(&[])
    } else if ptr.is_null() {
        None
    } else {
        // SAFETY: non-null and valid for `len` bytes per the caller's contract.
        Some(unsafe { std::slice::from_raw_parts(ptr, len as usize) })
    }
}

/// Hands `bytes` to the host as a `PluginAllocated` output.
///
/// # Safety
/// `out_ptr` and `out_len` must be valid for writes.
unsafe fn emit(bytes: Vec<u8>, out_ptr: *mut *mut u8, out_len: *mut u32) -> bool {
    let Ok(len) = u32::try_from(bytes.len()) else {
        return false;
    };
    let boxed: Box<[u8]> = bytes.into_boxed_slice();
    let ptr = Box::into_raw(boxed) as *mut u8;
    // SAFETY: the caller guarantees both pointers are writable.
    unsafe {
        *out_ptr = ptr;
        *out_len = len;
    }
    true
}

/// Runs a `PluginAllocated` shim body with the fidius status protocol.
///
/// # Safety
/// `in_ptr` must be null or valid for `in_len` bytes; `out_ptr`/`out_len`
/// must be null or valid for writes (null makes the call fail cleanly).
pub unsafe fn run_plugin_allocated<F>(
    in_ptr: *const u8,
    in_len: u32,
    out_ptr: *mut *mut u8,
    out_len: *mut u32,
    body: F,
) -> i32
where
    F: FnOnce(&[u8]) -> ShimResult,
{
    if out_ptr.is_null() || out_len.is_null() {
        return STATUS_SERIALIZATION_ERROR;
    }
    // SAFETY: forwarded caller contract.
    let Some(input) = (unsafe { input(in_ptr, in_len) }) else {
        return STATUS_SERIALIZATION_ERROR;
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| body(input)));
    let (bytes, status) = match outcome {
        Ok(Ok(ShimOutput::Ok(b))) => (b, STATUS_OK),
        Ok(Ok(ShimOutput::PluginError(b))) => (b, STATUS_PLUGIN_ERROR),
        Ok(Err(code)) => return code,
        Err(payload) => {
            let msg = panic_message(&*payload);
            // Dropping the payload may itself panic; never let that escape.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            match bincode::serialize(&msg) {
                Ok(b) => (b, STATUS_PANIC),
                Err(_) => return STATUS_PANIC,
            }
        }
    };
    // SAFETY: checked non-null above; writability is the caller's contract.
    if unsafe { emit(bytes, out_ptr, out_len) } {
        status
    } else {
        STATUS_SERIALIZATION_ERROR
    }
}

struct PendingArena {
    slot: usize,
    instance: usize,
    input: Vec<u8>,
    output: Vec<u8>,
    status: i32,
}

thread_local! {
    /// An Arena output that did not fit, kept so the host's retry with a
    /// bigger arena does not run the method a second time.
    static PENDING_ARENA: RefCell<Option<PendingArena>> = const { RefCell::new(None) };
}

/// Runs an `Arena` shim body with the fidius status protocol.
///
/// `slot` identifies the method (its shim's address) and `instance` the
/// instance, so that an output that did not fit is returned from a cache on
/// the host's retry instead of running the method twice.
///
/// # Safety
/// `in_ptr` as for [`run_plugin_allocated`]; `arena_ptr` null or valid for
/// `arena_cap` writes; `out_offset`/`out_len` null or valid for writes.
#[allow(clippy::too_many_arguments)]
pub unsafe fn run_arena<F>(
    slot: usize,
    instance: *mut c_void,
    in_ptr: *const u8,
    in_len: u32,
    arena_ptr: *mut u8,
    arena_cap: u32,
    out_offset: *mut u32,
    out_len: *mut u32,
    body: F,
) -> i32
where
    F: FnOnce(&[u8]) -> ShimResult,
{
    if out_offset.is_null() || out_len.is_null() || (arena_ptr.is_null() && arena_cap > 0) {
        return STATUS_SERIALIZATION_ERROR;
    }
    // SAFETY: forwarded caller contract.
    let Some(input) = (unsafe { input(in_ptr, in_len) }) else {
        return STATUS_SERIALIZATION_ERROR;
    };
    let cached = PENDING_ARENA.with(|p| {
        let mut p = p.borrow_mut();
        match p.take() {
            Some(c) if c.slot == slot && c.instance == instance as usize && c.input == input => {
                Some((c.output, c.status))
            }
            _ => None,
        }
    });
    let (bytes, status) = match cached {
        Some(hit) => hit,
        None => match catch_unwind(AssertUnwindSafe(|| body(input))) {
            Ok(Ok(ShimOutput::Ok(b))) => (b, STATUS_OK),
            Ok(Ok(ShimOutput::PluginError(b))) => (b, STATUS_PLUGIN_ERROR),
            Ok(Err(code)) => return code,
            Err(payload) => {
                let msg = panic_message(&*payload);
                let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
                (bincode::serialize(&msg).unwrap_or_default(), STATUS_PANIC)
            }
        },
    };
    let Ok(len) = u32::try_from(bytes.len()) else {
        return STATUS_SERIALIZATION_ERROR;
    };
    if len > arena_cap {
        if status == STATUS_PANIC {
            // The message does not fit: report the panic without it.
            // SAFETY: checked non-null above.
            unsafe {
                *out_offset = 0;
                *out_len = 0;
            }
            return STATUS_PANIC;
        }
        // SAFETY: checked non-null above.
        unsafe { *out_len = len };
        PENDING_ARENA.with(|p| {
            *p.borrow_mut() = Some(PendingArena {
                slot,
                instance: instance as usize,
                input: input.to_vec(),
                output: bytes,
                status,
            })
        });
        return STATUS_BUFFER_TOO_SMALL;
    }
    // SAFETY: `arena_ptr` is valid for `arena_cap >= len` writes and does not
    // overlap `bytes`, which we own; out pointers checked non-null.
    unsafe {
        if len > 0 {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), arena_ptr, bytes.len());
        }
        *out_offset = 0;
        *out_len = len;
    }
    status
}

/// Frees a `PluginAllocated` output made by this library (no-op for null).
///
/// # Safety
/// `(ptr, len)` must come from a `PluginAllocated` output of this library,
/// freed once.
pub unsafe extern "C" fn free_buffer(ptr: *mut u8, len: usize) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: `(ptr, len)` is a `Box<[u8]>` leaked by `emit` in this library.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
}

/// Builds an instance for a descriptor's `construct` from its constructor.
///
/// # Safety
/// `cfg_ptr` must be null or valid for `cfg_len` bytes.
pub unsafe fn construct_with<T, F>(cfg_ptr: *const u8, cfg_len: u32, make: F) -> *mut c_void
where
    F: FnOnce(&[u8]) -> Option<T>,
{
    // SAFETY: forwarded caller contract.
    let Some(cfg) = (unsafe { input(cfg_ptr, cfg_len) }) else {
        return std::ptr::null_mut();
    };
    match catch_unwind(AssertUnwindSafe(|| make(cfg))) {
        Ok(Some(v)) => Box::into_raw(Box::new(v)) as *mut c_void,
        _ => std::ptr::null_mut(),
    }
}

/// A descriptor's `destroy` for instances of `T`.
///
/// # Safety
/// `instance` must be null or come from `construct` for the same `T`, destroyed once.
pub unsafe extern "C" fn destroy<T>(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    // A panicking Drop must not unwind into the host.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: made by `Box::into_raw(Box::<T>::new(..))` in `construct_with`.
        drop(unsafe { Box::from_raw(instance as *mut T) })
    }));
}

/// Drives a future to completion on the calling thread (the shim of an
/// `async fn` method). With feature `async` the library's tokio runtime is
/// entered first, so timers, I/O and `spawn` work; this never nests a
/// runtime `block_on`, so it is safe to call from inside another runtime.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    #[cfg(feature = "async")]
    let _guard = crate::async_runtime::FIDIUS_RUNTIME.enter();
    park_block_on(fut)
}

fn park_block_on<F: Future>(fut: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    use std::thread::Thread;

    struct ThreadWaker(Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }

    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}
