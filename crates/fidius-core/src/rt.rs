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
use std::sync::atomic::Ordering;

/// A value a shim can put on the wire: its encoded size, and how to write it.
pub trait WireOut {
    /// Encoded size in bytes.
    fn wire_size(&self) -> Result<usize, i32>;
    /// Writes exactly `wire_size()` bytes into `buf`.
    fn wire_write(&self, buf: &mut [u8]) -> Result<(), i32>;
    /// The encoding as an exact-size box of `size` bytes (large PluginAllocated outputs).
    fn into_wire_box(self, size: usize) -> Result<Box<[u8]>, i32>
    where
        Self: Sized,
    {
        let mut b = take_large(size);
        self.wire_write(&mut b)?;
        Ok(b)
    }
    /// The encoding as an owned vector (large outputs that miss an arena).
    fn into_wire_vec(self) -> Result<Vec<u8>, i32>
    where
        Self: Sized,
    {
        let mut v = vec![0u8; self.wire_size()?];
        self.wire_write(&mut v)?;
        Ok(v)
    }
}

/// A value encoded with the fidius wire (bincode).
pub struct Encode<T>(pub T);

impl<T: serde::Serialize> WireOut for Encode<T> {
    #[inline]
    fn wire_size(&self) -> Result<usize, i32> {
        bincode::serialized_size(&self.0)
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(STATUS_SERIALIZATION_ERROR)
    }
    #[inline]
    fn wire_write(&self, buf: &mut [u8]) -> Result<(), i32> {
        bincode::serialize_into(buf, &self.0).map_err(|_| STATUS_SERIALIZATION_ERROR)
    }
    fn into_wire_vec(self) -> Result<Vec<u8>, i32> {
        // Sized exactly, written once, never zero-filled first.
        bincode::serialize(&self.0).map_err(|_| STATUS_SERIALIZATION_ERROR)
    }
}

/// Raw bytes (`#[wire(raw)]`), written as they are.
pub struct Raw(pub Vec<u8>);

impl WireOut for Raw {
    #[inline]
    fn wire_size(&self) -> Result<usize, i32> {
        Ok(self.0.len())
    }
    #[inline]
    fn wire_write(&self, buf: &mut [u8]) -> Result<(), i32> {
        buf.copy_from_slice(&self.0);
        Ok(())
    }
    fn into_wire_vec(self) -> Result<Vec<u8>, i32> {
        Ok(self.0)
    }
    fn into_wire_box(self, _size: usize) -> Result<Box<[u8]>, i32> {
        // Zero-copy when the vector is exactly sized (the usual case).
        Ok(self.0.into_boxed_slice())
    }
}

/// The error type of replies that cannot fail.
pub enum NoError {}

impl WireOut for NoError {
    fn wire_size(&self) -> Result<usize, i32> {
        match *self {}
    }
    fn wire_write(&self, _: &mut [u8]) -> Result<(), i32> {
        match *self {}
    }
}

/// What a shim body produced: a success value (`STATUS_OK`) or an encoded
/// plugin error (`STATUS_PLUGIN_ERROR`).
pub enum Reply<O, E> {
    /// Success.
    Ok(O),
    /// `PluginError`.
    Err(E),
}

/// A shim body's result: a reply, or a failure status (e.g. `STATUS_SERIALIZATION_ERROR`).
pub type ShimResult<O, E> = Result<Reply<O, E>, i32>;

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

fn caught_panic(payload: Box<dyn Any + Send>) -> Encode<String> {
    let msg = panic_message(&*payload);
    // Dropping the payload may itself panic; never let that escape.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    Encode(msg)
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

/// Outputs up to this size live in pooled fixed-size blocks; larger ones
/// are exact-size boxed slices. `free_buffer` tells them apart by length.
pub const SMALL_BLOCK: usize = 4096;
const BLOCK_ALIGN: usize = 8;
const MAX_POOLED_BLOCKS: usize = 32;

fn block_layout() -> std::alloc::Layout {
    // SAFETY-free: constant, valid size and power-of-two alignment.
    std::alloc::Layout::from_size_align(SMALL_BLOCK, BLOCK_ALIGN).expect("valid block layout")
}

struct BlockPool(Vec<*mut u8>);

impl Drop for BlockPool {
    fn drop(&mut self) {
        for p in self.0.drain(..) {
            // SAFETY: every pooled pointer is a live block of `block_layout()`.
            unsafe { std::alloc::dealloc(p, block_layout()) };
        }
    }
}

thread_local! {
    static BLOCKS: RefCell<BlockPool> = const { RefCell::new(BlockPool(Vec::new())) };
}

fn take_block() -> Option<*mut u8> {
    let pooled = BLOCKS
        .try_with(|b| b.try_borrow_mut().ok().and_then(|mut b| b.0.pop()))
        .ok()
        .flatten();
    match pooled {
        Some(p) => Some(p),
        None => {
            // SAFETY: non-zero-sized layout.
            let p = unsafe { std::alloc::alloc(block_layout()) };
            (!p.is_null()).then_some(p)
        }
    }
}

/// # Safety
/// `p` must be a block from `take_block` that nobody uses any more.
unsafe fn give_block(p: *mut u8) {
    let kept = BLOCKS
        .try_with(|b| match b.try_borrow_mut() {
            Ok(mut b) if b.0.len() < MAX_POOLED_BLOCKS => {
                b.0.push(p);
                true
            }
            _ => false,
        })
        .unwrap_or(false);
    if !kept {
        // SAFETY: a block of `block_layout()` per the caller's contract.
        unsafe { std::alloc::dealloc(p, block_layout()) };
    }
}

/// Tag a host puts in the high half of `*out_len` (with a non-null `*out_ptr`
/// pointing at `low half` writable bytes) to offer a scratch output buffer.
///
/// A fidius extension of the PluginAllocated protocol: a plugin that honours
/// the offer writes a small output there and leaves `*out_ptr` pointing at
/// it, so neither side allocates; the host then does not call `free_buffer`.
/// fidius 0.5 hosts never set the tag (they pass null/0) and fidius 0.5
/// plugins ignore it (they overwrite `*out_ptr`), so both mixes keep working.
pub const SCRATCH_OFFER_TAG: u32 = 0xF1D1_0000;
/// Mask selecting the tag half of `*out_len`.
pub const SCRATCH_OFFER_MASK: u32 = 0xFFFF_0000;

/// Large outputs are exact-size `Box<[u8]>`s; freed ones are kept per thread
/// (at most this many, totalling at most `MAX_POOLED_LARGE_BYTES`) and reused
/// for the next output (or raw input) of the same length, so repeated large
/// calls stop allocating. Any thread may free any buffer: its layout is
/// always derivable from its length.
const MAX_POOLED_LARGE: usize = 8;
const MAX_POOLED_LARGE_BYTES: usize = 16 << 20;

struct LargePool(Vec<(*mut u8, usize)>);

impl Drop for LargePool {
    fn drop(&mut self) {
        for (p, len) in self.0.drain(..) {
            // SAFETY: pooled entries are live exact-size `Box<[u8]>`s.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, len)) });
        }
    }
}

thread_local! {
    static LARGE: RefCell<LargePool> = const { RefCell::new(LargePool(Vec::new())) };
}

/// An exact-size (initialised) buffer of `len` bytes: pooled or fresh.
fn take_large(len: usize) -> Box<[u8]> {
    let pooled = LARGE
        .try_with(|l| {
            let mut l = l.try_borrow_mut().ok()?;
            let i = l.0.iter().position(|&(_, n)| n == len)?;
            Some(l.0.swap_remove(i).0)
        })
        .ok()
        .flatten();
    match pooled {
        // SAFETY: a pooled exact-size `Box<[u8]>` of `len` bytes, owned by nobody else.
        Some(p) => unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, len)) },
        None => vec![0u8; len].into_boxed_slice(),
    }
}

fn give_large(b: Box<[u8]>) {
    let len = b.len();
    let rejected = LARGE
        .try_with(|l| {
            let Ok(mut l) = l.try_borrow_mut() else {
                return Some(b);
            };
            let total: usize = l.0.iter().map(|&(_, n)| n).sum();
            if l.0.len() >= MAX_POOLED_LARGE || total + len > MAX_POOLED_LARGE_BYTES {
                return Some(b);
            }
            l.0.push((Box::into_raw(b) as *mut u8, len));
            None
        })
        .unwrap_or(None);
    drop(rejected);
}

/// A `Vec<u8>` copy of `bytes` (the argument of a raw method), drawn from
/// the large-buffer pool when one of that length is free.
pub fn raw_arg(bytes: &[u8]) -> Vec<u8> {
    if bytes.len() <= SMALL_BLOCK {
        return bytes.to_vec();
    }
    let mut b = take_large(bytes.len());
    b.copy_from_slice(bytes);
    b.into_vec()
}

/// Places an output for the host as a `PluginAllocated` buffer.
///
/// # Safety
/// `out_ptr` and `out_len` must be valid for reads and writes; a scratch
/// offer (see [`SCRATCH_OFFER_TAG`]) must point at that many writable bytes.
unsafe fn place<O: WireOut>(o: O, out_ptr: *mut *mut u8, out_len: *mut u32) -> Result<(), i32> {
    let size = o.wire_size()?;
    let len = u32::try_from(size).map_err(|_| STATUS_SERIALIZATION_ERROR)?;
    // SAFETY: readable per the caller's contract.
    let (offered_ptr, offered) = unsafe { (*out_ptr, *out_len) };
    if !offered_ptr.is_null() && offered & SCRATCH_OFFER_MASK == SCRATCH_OFFER_TAG {
        let cap = (offered & !SCRATCH_OFFER_MASK) as usize;
        if size <= cap {
            // SAFETY: the host offered `cap >= size` writable bytes at `offered_ptr`.
            let buf = unsafe { std::slice::from_raw_parts_mut(offered_ptr, size) };
            o.wire_write(buf)?;
            // SAFETY: writable per the caller's contract; `*out_ptr` stays the scratch.
            unsafe { *out_len = len };
            return Ok(());
        }
    }
    let ptr = if size <= SMALL_BLOCK {
        // Returned to the pool on every way out but success, a panic in the
        // user's `Serialize` or `Drop` included.
        let blk = UnplacedBlock(take_block().ok_or(STATUS_SERIALIZATION_ERROR)?);
        // SAFETY: a fresh block of SMALL_BLOCK >= size writable bytes.
        let buf = unsafe { std::slice::from_raw_parts_mut(blk.0, size) };
        o.wire_write(buf)?;
        // Dropped before the block is handed over, so a panicking `Drop`
        // cannot leave a handed-over block behind.
        drop(o);
        let ptr = blk.0;
        std::mem::forget(blk);
        ptr
    } else {
        let b = o.into_wire_box(size)?;
        if b.len() != size {
            return Err(STATUS_SERIALIZATION_ERROR);
        }
        Box::into_raw(b) as *mut u8
    };
    // SAFETY: writable per the caller's contract.
    unsafe {
        *out_ptr = ptr;
        *out_len = len;
    }
    Ok(())
}

/// A pooled block not yet handed to the host: back to the pool when dropped.
struct UnplacedBlock(*mut u8);

impl Drop for UnplacedBlock {
    fn drop(&mut self) {
        // SAFETY: a block from `take_block` that was never handed out.
        unsafe { give_block(self.0) };
    }
}

/// Runs a `PluginAllocated` shim body with the fidius status protocol.
///
/// # Safety
/// `in_ptr` must be null or valid for `in_len` bytes; `out_ptr`/`out_len`
/// must be null or valid for writes (null makes the call fail cleanly).
#[inline]
pub unsafe fn run_plugin_allocated<F, O, E>(
    in_ptr: *const u8,
    in_len: u32,
    out_ptr: *mut *mut u8,
    out_len: *mut u32,
    body: F,
) -> i32
where
    F: FnOnce(&[u8]) -> ShimResult<O, E>,
    O: WireOut,
    E: WireOut,
{
    if out_ptr.is_null() || out_len.is_null() {
        return STATUS_SERIALIZATION_ERROR;
    }
    // SAFETY: forwarded caller contract.
    let Some(input) = (unsafe { input(in_ptr, in_len) }) else {
        return STATUS_SERIALIZATION_ERROR;
    };
    // Encoding and dropping the reply run inside the guard too: a user
    // `Serialize` or `Drop` impl that panics is reported, never unwound into C.
    let guarded = catch_unwind(AssertUnwindSafe(|| match body(input) {
        // SAFETY: out pointers checked non-null; readable/writable per the contract.
        Ok(Reply::Ok(o)) => unsafe { place(o, out_ptr, out_len) }.map(|()| STATUS_OK),
        // SAFETY: as above.
        Ok(Reply::Err(e)) => unsafe { place(e, out_ptr, out_len) }.map(|()| STATUS_PLUGIN_ERROR),
        Err(code) => Err(code),
    }));
    let placed = match guarded {
        Ok(placed) => placed,
        Err(payload) => {
            let msg = caught_panic(payload);
            // SAFETY: as above. If the message cannot be placed the panic is
            // still reported, without it.
            let _ = unsafe { place(msg, out_ptr, out_len) };
            return STATUS_PANIC;
        }
    };
    placed.unwrap_or_else(|code| code)
}

/// Runs the init of a server stream (or of a bidirectional method's output):
/// the body returns the output handle, handed over as `*out_ptr` with
/// `*out_len = 0` (fidius 0.5 protocol).
///
/// # Safety
/// As for [`run_plugin_allocated`].
pub unsafe fn run_stream_init<F>(
    in_ptr: *const u8,
    in_len: u32,
    out_ptr: *mut *mut u8,
    out_len: *mut u32,
    body: F,
) -> i32
where
    F: FnOnce(&[u8]) -> Result<*mut crate::stream_ffi::FidiusStreamHandle, i32>,
{
    if out_ptr.is_null() || out_len.is_null() {
        return STATUS_SERIALIZATION_ERROR;
    }
    // SAFETY: forwarded caller contract.
    let Some(input) = (unsafe { input(in_ptr, in_len) }) else {
        return STATUS_SERIALIZATION_ERROR;
    };
    match catch_unwind(AssertUnwindSafe(|| body(input))) {
        Ok(Ok(handle)) => {
            // SAFETY: out pointers checked non-null; writable per the contract.
            unsafe {
                *out_ptr = handle as *mut u8;
                *out_len = 0;
            }
            STATUS_OK
        }
        Ok(Err(code)) => code,
        Err(payload) => {
            let msg = caught_panic(payload);
            // SAFETY: as above; the message is best-effort.
            let _ = unsafe { place(msg, out_ptr, out_len) };
            STATUS_PANIC
        }
    }
}

/// The producer handle of a plugin-produced stream of byte vectors (each item
/// encoded as one block, not byte by byte; same bytes on the wire).
pub fn stream_output_bytes(
    mut stream: crate::Stream<Vec<u8>>,
) -> *mut crate::stream_ffi::FidiusStreamHandle {
    crate::stream_ffi::producer_handle(std::iter::from_fn(move || {
        stream.next_result().map(|r| r.map(crate::wire::ByteBuf))
    }))
}

/// The producer handle of a plugin-produced stream.
pub fn stream_output<T: serde::Serialize + 'static>(
    mut stream: crate::Stream<T>,
) -> *mut crate::stream_ffi::FidiusStreamHandle {
    crate::stream_ffi::producer_handle(std::iter::from_fn(move || stream.next_result()))
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

/// Number of threads holding a pending Arena output: lets the common path
/// skip the thread-local lookup entirely.
static PENDING_COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

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
#[inline]
pub unsafe fn run_arena<F, O, E>(
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
    F: FnOnce(&[u8]) -> ShimResult<O, E>,
    O: WireOut,
    E: WireOut,
{
    if out_offset.is_null() || out_len.is_null() || (arena_ptr.is_null() && arena_cap > 0) {
        return STATUS_SERIALIZATION_ERROR;
    }
    // SAFETY: forwarded caller contract.
    let Some(input) = (unsafe { input(in_ptr, in_len) }) else {
        return STATUS_SERIALIZATION_ERROR;
    };
    let arena: &mut [u8] = if arena_cap == 0 {
        &mut []
    } else {
        // SAFETY: non-null (checked) and valid for `arena_cap` writes per the contract.
        unsafe { std::slice::from_raw_parts_mut(arena_ptr, arena_cap as usize) }
    };
    let mut report = |len: usize, status: i32| {
        // SAFETY: checked non-null above.
        unsafe {
            *out_offset = 0;
            *out_len = len as u32;
        }
        status
    };
    // A retry after STATUS_BUFFER_TOO_SMALL: hand over the cached output.
    let cached = if PENDING_COUNT.load(Ordering::Acquire) == 0 {
        None
    } else {
        PENDING_ARENA
            .try_with(|p| {
                let mut p = p.try_borrow_mut().ok()?;
                let old = p.take()?;
                PENDING_COUNT.fetch_sub(1, Ordering::AcqRel);
                (old.slot == slot && old.instance == instance as usize && old.input == input)
                    .then_some(old)
            })
            .ok()
            .flatten()
    };
    if let Some(c) = cached {
        if c.output.len() <= arena.len() {
            arena[..c.output.len()].copy_from_slice(&c.output);
            return report(c.output.len(), c.status);
        }
        return stash(slot, instance, input, c.output, c.status, &mut report);
    }
    // Encoding and dropping the reply run inside the guard (see `run_plugin_allocated`).
    let outcome = catch_unwind(AssertUnwindSafe(|| match body(input) {
        Ok(Reply::Ok(o)) => write_arena(o, STATUS_OK, &mut *arena),
        Ok(Reply::Err(e)) => write_arena(e, STATUS_PLUGIN_ERROR, &mut *arena),
        Err(code) => ArenaWrite::Failed(code),
    }));
    let result = match outcome {
        Ok(written) => written,
        Err(payload) => match write_arena(caught_panic(payload), STATUS_PANIC, arena) {
            // The message does not fit: report the panic without it.
            ArenaWrite::TooSmall(..) | ArenaWrite::Failed(_) => return report(0, STATUS_PANIC),
            written => written,
        },
    };
    match result {
        ArenaWrite::Written(len, status) => report(len, status),
        ArenaWrite::TooSmall(bytes, status) => {
            stash(slot, instance, input, bytes, status, &mut report)
        }
        ArenaWrite::Failed(code) => code,
    }
}

enum ArenaWrite {
    Written(usize, i32),
    TooSmall(Vec<u8>, i32),
    Failed(i32),
}

fn write_arena<O: WireOut>(o: O, status: i32, arena: &mut [u8]) -> ArenaWrite {
    let size = match o.wire_size() {
        Ok(s) if u32::try_from(s).is_ok() => s,
        Ok(_) => return ArenaWrite::Failed(STATUS_SERIALIZATION_ERROR),
        Err(e) => return ArenaWrite::Failed(e),
    };
    if size <= arena.len() {
        match o.wire_write(&mut arena[..size]) {
            Ok(()) => ArenaWrite::Written(size, status),
            Err(e) => ArenaWrite::Failed(e),
        }
    } else {
        match o.into_wire_vec() {
            Ok(v) => ArenaWrite::TooSmall(v, status),
            Err(e) => ArenaWrite::Failed(e),
        }
    }
}

/// Largest Arena output (or input) kept for the host's retry: fidius hosts
/// lend arenas of at most this size, so a larger output is never retried
/// and keeping it would only pin its memory in this thread.
pub const MAX_ARENA_STASH: usize = 64 << 20;

fn stash(
    slot: usize,
    instance: *mut c_void,
    input: &[u8],
    output: Vec<u8>,
    status: i32,
    report: &mut dyn FnMut(usize, i32) -> i32,
) -> i32 {
    let needed = output.len();
    if needed > MAX_ARENA_STASH || input.len() > MAX_ARENA_STASH {
        // Dropped now: a host that retries anyway runs the method again.
        return report(needed, STATUS_BUFFER_TOO_SMALL);
    }
    let _ = PENDING_ARENA.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            let previous = p.replace(PendingArena {
                slot,
                instance: instance as usize,
                input: input.to_vec(),
                output,
                status,
            });
            if previous.is_none() {
                PENDING_COUNT.fetch_add(1, Ordering::AcqRel);
            }
        }
    });
    report(needed, STATUS_BUFFER_TOO_SMALL)
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
    if len <= SMALL_BLOCK {
        // SAFETY: outputs of at most SMALL_BLOCK bytes are pooled blocks (see `place`).
        unsafe { give_block(ptr) };
    } else {
        // SAFETY: larger outputs are exact-size `Box<[u8]>`s leaked by `place`.
        give_large(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
    }
}

/// Builds an instance for a descriptor's `construct` from its constructor.
///
/// # Safety
/// `cfg_ptr` must be null or valid for `cfg_len` bytes.
pub unsafe fn construct_with<T, F>(cfg_ptr: *const u8, cfg_len: u32, make: F) -> *mut c_void
where
    F: FnOnce(&[u8]) -> Result<T, String>,
{
    // SAFETY: forwarded caller contract.
    let Some(cfg) = (unsafe { input(cfg_ptr, cfg_len) }) else {
        set_construct_error("the config pointer is null but its length is not zero".into());
        return std::ptr::null_mut();
    };
    match catch_unwind(AssertUnwindSafe(|| make(cfg))) {
        Ok(Ok(v)) => Box::into_raw(Box::new(v)) as *mut c_void,
        Ok(Err(reason)) => {
            set_construct_error(reason);
            std::ptr::null_mut()
        }
        Err(payload) => {
            set_construct_error(format!(
                "construction panicked: {}",
                caught_panic(payload).0
            ));
            std::ptr::null_mut()
        }
    }
}

thread_local! {
    static CONSTRUCT_ERROR: RefCell<Option<std::ffi::CString>> = const { RefCell::new(None) };
}

fn set_construct_error(reason: String) {
    let c = std::ffi::CString::new(reason.replace('\0', " ")).unwrap_or_default();
    let _ = CONSTRUCT_ERROR.try_with(|e| *e.borrow_mut() = Some(c));
}

/// Why the last `construct` on this thread returned null (null if it did not
/// fail). Valid until the next `construct` on this thread. Exported by
/// `fidius_plugin_registry!` as `fidius_last_construct_error`.
pub fn last_construct_error() -> *const std::ffi::c_char {
    CONSTRUCT_ERROR
        .try_with(|e| e.borrow().as_ref().map_or(std::ptr::null(), |c| c.as_ptr()))
        .unwrap_or(std::ptr::null())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A value whose `Serialize` impl panics once the size has been computed
    /// (so the panic happens while writing into the output buffer).
    struct PanicsOnWrite;

    impl serde::Serialize for PanicsOnWrite {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if std::any::type_name::<S>().contains("SizeChecker") {
                return s.serialize_u64(0);
            }
            panic!("serialize exploded")
        }
    }

    /// A value whose `Drop` impl panics after it was encoded.
    struct PanicsOnDrop(u32);

    impl serde::Serialize for PanicsOnDrop {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_u32(self.0)
        }
    }

    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("drop exploded")
        }
    }

    fn call_allocated<O: WireOut>(o: impl FnOnce() -> O) -> (i32, Vec<u8>) {
        let (mut ptr, mut len) = (std::ptr::null_mut(), 0u32);
        // SAFETY: empty input; the out pointers are valid locals.
        let status = unsafe {
            run_plugin_allocated::<_, O, NoError>(std::ptr::null(), 0, &mut ptr, &mut len, |_| {
                Ok(Reply::Ok(o()))
            })
        };
        let bytes = if ptr.is_null() {
            Vec::new()
        } else {
            // SAFETY: a buffer placed by `place`, `len` bytes long, freed once.
            let v = unsafe { std::slice::from_raw_parts(ptr, len as usize) }.to_vec();
            // SAFETY: as above.
            unsafe { free_buffer(ptr, len as usize) };
            v
        };
        (status, bytes)
    }

    fn panic_text(bytes: &[u8]) -> String {
        bincode::deserialize(bytes).unwrap()
    }

    #[test]
    fn panicking_serialize_is_reported_not_unwound() {
        let (status, bytes) = call_allocated(|| Encode(PanicsOnWrite));
        assert_eq!(status, STATUS_PANIC);
        assert_eq!(panic_text(&bytes), "serialize exploded");
        let (status, bytes) = call_allocated(|| Encode(PanicsOnDrop(7)));
        assert_eq!(status, STATUS_PANIC);
        assert_eq!(panic_text(&bytes), "drop exploded");
    }

    #[test]
    fn a_panicking_reply_returns_its_block_to_the_pool() {
        let pooled = || BLOCKS.with(|b| b.borrow().0.len());
        // Fill this thread's pool, then check that a panicking reply leaves
        // it as full: the reply's block and the message's (freed through
        // `free_buffer`) both come back.
        let blocks: Vec<_> = (0..4).map(|_| take_block().unwrap()).collect();
        for b in blocks {
            // SAFETY: fresh blocks from `take_block`, never handed out.
            unsafe { give_block(b) };
        }
        let steady = pooled();
        assert_eq!(steady, 4);
        for _ in 0..3 {
            call_allocated(|| Encode(PanicsOnWrite));
            assert_eq!(pooled(), steady);
        }
        call_allocated(|| Encode(PanicsOnDrop(1)));
        assert_eq!(pooled(), steady);
    }

    fn call_arena(out: usize, arena: &mut [u8], runs: &std::cell::Cell<u32>) -> (i32, u32) {
        let (mut off, mut len) = (0u32, 0u32);
        // SAFETY: empty input; the arena and out pointers are valid locals;
        // the instance is only compared, never dereferenced.
        let status = unsafe {
            run_arena::<_, Encode<Vec<u8>>, NoError>(
                7,
                8usize as *mut c_void,
                std::ptr::null(),
                0,
                arena.as_mut_ptr(),
                arena.len() as u32,
                &mut off,
                &mut len,
                |_| {
                    runs.set(runs.get() + 1);
                    Ok(Reply::Ok(Encode(vec![7u8; out])))
                },
            )
        };
        (status, len)
    }

    fn pending() -> bool {
        PENDING_ARENA.with(|p| p.borrow().is_some())
    }

    #[test]
    fn an_arena_output_is_kept_for_the_retry_only_within_bounds() {
        let runs = std::cell::Cell::new(0);
        let mut small = vec![0u8; 64];
        // Too big for the arena: kept, and handed over on the retry without
        // running the method again.
        let (status, needed) = call_arena(1000, &mut small, &runs);
        assert_eq!(status, STATUS_BUFFER_TOO_SMALL);
        assert!(pending());
        let mut big = vec![0u8; needed as usize];
        assert_eq!(call_arena(1000, &mut big, &runs), (STATUS_OK, needed));
        assert_eq!(runs.get(), 1);
        assert!(!pending());
        // An output no fidius host would lend an arena for is not kept.
        let (status, needed) = call_arena(MAX_ARENA_STASH + 1, &mut small, &runs);
        assert_eq!(status, STATUS_BUFFER_TOO_SMALL);
        assert!(needed as usize > MAX_ARENA_STASH);
        assert!(
            !pending(),
            "an unretriable output stays pinned in the thread"
        );
    }

    #[test]
    fn panicking_serialize_in_arena_is_reported() {
        let mut arena = vec![0u8; 256];
        let (mut off, mut len) = (0u32, 0u32);
        let mut instance = 0u8;
        // SAFETY: empty input; the arena and out pointers are valid locals.
        let status = unsafe {
            run_arena::<_, Encode<PanicsOnWrite>, NoError>(
                1,
                &mut instance as *mut u8 as *mut c_void,
                std::ptr::null(),
                0,
                arena.as_mut_ptr(),
                arena.len() as u32,
                &mut off,
                &mut len,
                |_| Ok(Reply::Ok(Encode(PanicsOnWrite))),
            )
        };
        assert_eq!(status, STATUS_PANIC);
        assert_eq!(
            panic_text(&arena[off as usize..(off + len) as usize]),
            "serialize exploded"
        );
    }
}
