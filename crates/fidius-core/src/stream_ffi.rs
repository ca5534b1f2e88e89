//! The stream ABI: [`FidiusStreamHandle`] (24 bytes, fidius 0.5 layout), the
//! producer side that turns any item source into a handle, and the
//! [`StreamPuller`] that drives a handle from the other side.
//!
//! Whoever produces items builds the handle (the plugin for a server stream,
//! the host for a client stream); the other side pulls with `next` and calls
//! `drop_fn` exactly once. Items are bincode; pulling is the only flow
//! control, so memory stays bounded for unbounded streams.

use crate::rt::panic_message;
use crate::status::*;
use crate::PluginError;
use serde::Serialize;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// `next(handle, buf, cap, out_len) -> status`: OK = one item in `buf[..out_len]`;
/// `STATUS_STREAM_END`; `STATUS_BUFFER_TOO_SMALL` = `out_len` bytes needed (item kept);
/// `STATUS_PLUGIN_ERROR` = a `PluginError` in `buf[..out_len]` (the stream ends);
/// `STATUS_PANIC` = a `String` message in `buf[..out_len]` when it fit (the stream ends).
pub type StreamNextFn =
    unsafe extern "C" fn(*mut FidiusStreamHandle, *mut u8, u32, *mut u32) -> i32;
/// Frees the handle and its state (cancels the producer). Called exactly once.
pub type StreamDropFn = unsafe extern "C" fn(*mut FidiusStreamHandle);
/// Vtable slot of client-streaming and bidirectional methods:
/// `(instance, input stream, in_ptr, in_len, out_ptr, out_len) -> status`.
pub type ClientStreamFn = unsafe extern "C" fn(
    *mut c_void,
    *mut FidiusStreamHandle,
    *const u8,
    u32,
    *mut *mut u8,
    *mut u32,
) -> i32;

/// A pull stream crossing the boundary (24 bytes).
#[repr(C)]
#[derive(Debug)]
pub struct FidiusStreamHandle {
    /// Pulls one item.
    pub next: StreamNextFn,
    /// Frees the stream (exactly once).
    pub drop_fn: StreamDropFn,
    /// Producer state, owned by whoever built the handle.
    pub state: *mut c_void,
}

/// Largest single stream item accepted (256 MiB).
pub const MAX_ITEM_LEN: usize = 256 << 20;

struct Producer<T> {
    source: Box<dyn Iterator<Item = Result<T, PluginError>> + Send>,
    /// An encoded item (or error) that did not fit the caller's buffer.
    pending: Option<(Vec<u8>, i32)>,
    done: bool,
}

/// Builds a handle that produces the items of `source`, encoded with the
/// fidius wire, one per `next`. Errors end the stream after being delivered;
/// a panic in the source is caught and reported as `STATUS_PANIC`.
pub fn producer_handle<T, I>(source: I) -> *mut FidiusStreamHandle
where
    T: Serialize + 'static,
    I: Iterator<Item = Result<T, PluginError>> + Send + 'static,
{
    make_producer::<T, Wire, I>(source)
}

/// Like [`producer_handle`] for items that are already encoded: each
/// `Vec<u8>` crosses verbatim (e.g. bincode bytes made elsewhere).
pub fn producer_handle_encoded<I>(source: I) -> *mut FidiusStreamHandle
where
    I: Iterator<Item = Result<Vec<u8>, PluginError>> + Send + 'static,
{
    make_producer::<Vec<u8>, Verbatim, I>(source)
}

fn make_producer<T: 'static, E: Encoding<T>, I>(source: I) -> *mut FidiusStreamHandle
where
    I: Iterator<Item = Result<T, PluginError>> + Send + 'static,
{
    let state: Box<Producer<T>> = Box::new(Producer {
        source: Box::new(source),
        pending: None,
        done: false,
    });
    Box::into_raw(Box::new(FidiusStreamHandle {
        next: producer_next::<T, E>,
        drop_fn: producer_drop::<T>,
        state: Box::into_raw(state) as *mut c_void,
    }))
}

/// How a producer turns its items into bytes.
trait Encoding<T> {
    /// Writes `item` into `buf` if it fits (`Ok(None)` when it does not).
    fn write(item: &T, buf: &mut [u8]) -> Result<Option<usize>, ()>;
    /// `item` as an owned buffer.
    fn to_vec(item: &T) -> Result<Vec<u8>, ()>;
}

/// Items are encoded with the fidius wire.
struct Wire;

impl<T: Serialize> Encoding<T> for Wire {
    fn write(item: &T, buf: &mut [u8]) -> Result<Option<usize>, ()> {
        encode_into(item, buf)
    }
    fn to_vec(item: &T) -> Result<Vec<u8>, ()> {
        bincode::serialize(item).map_err(|_| ())
    }
}

/// Items are bytes already and cross unchanged.
struct Verbatim;

impl Encoding<Vec<u8>> for Verbatim {
    fn write(item: &Vec<u8>, buf: &mut [u8]) -> Result<Option<usize>, ()> {
        if item.len() > buf.len() {
            return Ok(None);
        }
        buf[..item.len()].copy_from_slice(item);
        Ok(Some(item.len()))
    }
    fn to_vec(item: &Vec<u8>) -> Result<Vec<u8>, ()> {
        Ok(item.clone())
    }
}

fn encode_into<V: Serialize + ?Sized>(v: &V, buf: &mut [u8]) -> Result<Option<usize>, ()> {
    let size = bincode::serialized_size(v).map_err(|_| ())? as usize;
    if size > buf.len() {
        return Ok(None);
    }
    bincode::serialize_into(&mut buf[..size], v).map_err(|_| ())?;
    Ok(Some(size))
}

unsafe extern "C" fn producer_next<T, E: Encoding<T>>(
    h: *mut FidiusStreamHandle,
    buf: *mut u8,
    cap: u32,
    out_len: *mut u32,
) -> i32 {
    if h.is_null() || out_len.is_null() || (buf.is_null() && cap > 0) {
        return STATUS_SERIALIZATION_ERROR;
    }
    // SAFETY: a handle built by `make_producer::<T, E>`, used by one thread at a time.
    let state = unsafe { &mut *((*h).state as *mut Producer<T>) };
    let out: &mut [u8] = if cap == 0 {
        &mut []
    } else {
        // SAFETY: the caller lends `cap` writable bytes at `buf`.
        unsafe { std::slice::from_raw_parts_mut(buf, cap as usize) }
    };
    let report = |len: usize, status: i32| {
        // SAFETY: checked non-null above.
        unsafe { *out_len = len as u32 };
        status
    };
    if let Some((bytes, status)) = state.pending.take() {
        if bytes.len() > out.len() {
            let needed = bytes.len();
            state.pending = Some((bytes, status));
            return report(needed, STATUS_BUFFER_TOO_SMALL);
        }
        out[..bytes.len()].copy_from_slice(&bytes);
        return report(bytes.len(), status);
    }
    if state.done {
        return STATUS_STREAM_END;
    }
    // Pulling, encoding and dropping the item all run inside the guard: a
    // panicking `Serialize` or `Drop` impl ends the stream with STATUS_PANIC.
    let source = &mut state.source;
    let pulled = catch_unwind(AssertUnwindSafe(|| match source.next() {
        None => Step::End,
        Some(Ok(item)) => match E::write(&item, &mut *out) {
            Ok(Some(n)) => Step::Written(n),
            Ok(None) => match E::to_vec(&item) {
                Ok(b) if b.len() <= MAX_ITEM_LEN => Step::Encoded(b, STATUS_OK),
                _ => Step::Failed(STATUS_SERIALIZATION_ERROR),
            },
            Err(()) => Step::Failed(STATUS_SERIALIZATION_ERROR),
        },
        Some(Err(e)) => match bincode::serialize(&e) {
            Ok(b) => Step::Encoded(b, STATUS_PLUGIN_ERROR),
            Err(_) => Step::Failed(STATUS_SERIALIZATION_ERROR),
        },
    }));
    let (encoded, status) = match pulled {
        Ok(Step::End) => {
            state.done = true;
            return STATUS_STREAM_END;
        }
        Ok(Step::Written(n)) => return report(n, STATUS_OK),
        Ok(Step::Encoded(b, status)) => {
            // An error item is the last one the stream yields.
            state.done = status != STATUS_OK;
            (b, status)
        }
        Ok(Step::Failed(code)) => {
            state.done = true;
            return code;
        }
        Err(payload) => {
            state.done = true;
            let msg = panic_message(&*payload);
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            return match encode_into(&msg, out) {
                Ok(Some(n)) => report(n, STATUS_PANIC),
                _ => report(0, STATUS_PANIC),
            };
        }
    };
    if encoded.len() <= out.len() {
        out[..encoded.len()].copy_from_slice(&encoded);
        return report(encoded.len(), status);
    }
    let needed = encoded.len();
    state.pending = Some((encoded, status));
    report(needed, STATUS_BUFFER_TOO_SMALL)
}

/// What one guarded pull of a producer's source came to.
enum Step {
    End,
    Written(usize),
    Encoded(Vec<u8>, i32),
    Failed(i32),
}

unsafe extern "C" fn producer_drop<T>(h: *mut FidiusStreamHandle) {
    if h.is_null() {
        return;
    }
    // Dropping the source runs the producer's cleanup; it must not unwind out.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: built by `producer_handle::<T>`; dropped exactly once.
        let handle = unsafe { Box::from_raw(h) };
        // SAFETY: the state box of that handle.
        drop(unsafe { Box::from_raw(handle.state as *mut Producer<T>) });
    }));
}

/// One step of a [`StreamPuller`].
#[derive(Debug)]
pub enum Pulled<'a> {
    /// One encoded item.
    Item(&'a [u8]),
    /// An encoded `PluginError`; the stream has ended.
    Error(&'a [u8]),
    /// The producer panicked (message); the stream has ended.
    Panic(String),
    /// Clean end.
    End,
    /// The protocol failed with this status (e.g. an item that never fit).
    Failed(i32),
}

/// Drives a [`FidiusStreamHandle`] it owns; calls `drop_fn` on drop.
#[derive(Debug)]
pub struct StreamPuller {
    handle: *mut FidiusStreamHandle,
    buf: Vec<u8>,
    finished: bool,
}

// SAFETY: a handle may be driven from any one thread at a time (producers
// are `Send`); the puller owns it exclusively.
unsafe impl Send for StreamPuller {}

impl StreamPuller {
    /// Takes ownership of `handle`.
    ///
    /// # Safety
    /// `handle` must be a valid stream handle that nobody else drives or drops.
    pub unsafe fn new(handle: *mut FidiusStreamHandle) -> Self {
        Self {
            handle,
            buf: vec![0u8; 256],
            finished: handle.is_null(),
        }
    }

    /// Pulls the next item (the buffer grows to fit; one retry).
    pub fn pull(&mut self) -> Pulled<'_> {
        if self.finished {
            return Pulled::End;
        }
        let mut len: u32 = 0;
        let mut status = self.call_next(&mut len);
        if status == STATUS_BUFFER_TOO_SMALL {
            let needed = len as usize;
            if needed <= self.buf.len() || needed > MAX_ITEM_LEN {
                self.finished = true;
                return Pulled::Failed(STATUS_BUFFER_TOO_SMALL);
            }
            self.buf
                .resize(needed.max(self.buf.len() * 2).min(MAX_ITEM_LEN), 0);
            status = self.call_next(&mut len);
        }
        let n = len as usize;
        match status {
            STATUS_OK if n <= self.buf.len() => Pulled::Item(&self.buf[..n]),
            STATUS_STREAM_END => {
                self.finished = true;
                Pulled::End
            }
            STATUS_PLUGIN_ERROR if n <= self.buf.len() => {
                self.finished = true;
                Pulled::Error(&self.buf[..n])
            }
            STATUS_PANIC => {
                self.finished = true;
                let msg = self
                    .buf
                    .get(..n)
                    .and_then(|b| crate::wire::deserialize::<String>(b).ok())
                    .unwrap_or_else(|| "unknown panic".into());
                Pulled::Panic(msg)
            }
            other => {
                self.finished = true;
                Pulled::Failed(if other == STATUS_OK || other == STATUS_PLUGIN_ERROR {
                    STATUS_SERIALIZATION_ERROR
                } else {
                    other
                })
            }
        }
    }

    fn call_next(&mut self, len: &mut u32) -> i32 {
        let cap = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        // SAFETY: a valid handle we own; the buffer is valid for `cap` writes.
        unsafe { ((*self.handle).next)(self.handle, self.buf.as_mut_ptr(), cap, len) }
    }
}

impl Drop for StreamPuller {
    fn drop(&mut self) {
        if !self.handle.is_null() {
            // SAFETY: we own the handle; `drop_fn` is called exactly once, here.
            unsafe { ((*self.handle).drop_fn)(self.handle) };
        }
    }
}

/// Plugin side of a client stream: the host's handle as a typed iterator.
/// Decoding failures and producer errors become error items that end the
/// stream; the handle is dropped with the stream (the host stops producing).
///
/// # Safety
/// `handle` must be null or a valid stream handle whose ownership passes to
/// the returned stream.
pub unsafe fn host_stream<T: serde::de::DeserializeOwned + 'static>(
    handle: *mut FidiusStreamHandle,
) -> crate::Stream<T> {
    // SAFETY: ownership of the handle passes to us (caller contract).
    let mut puller = unsafe { StreamPuller::new(handle) };
    crate::Stream::try_from_iter(std::iter::from_fn(move || match puller.pull() {
        Pulled::Item(bytes) => Some(crate::wire::deserialize::<T>(bytes).map_err(|e| {
            PluginError::new("STREAM_DECODE", format!("stream item did not decode: {e}"))
        })),
        Pulled::Error(bytes) => Some(Err(crate::wire::deserialize::<PluginError>(bytes)
            .unwrap_or_else(|_| PluginError::new("STREAM_ERROR", "the host's stream failed")))),
        Pulled::Panic(msg) => Some(Err(PluginError::new("STREAM_PANIC", msg))),
        Pulled::End => None,
        Pulled::Failed(code) => Some(Err(PluginError::new(
            "STREAM_FAILED",
            format!("the host's stream failed with status {code}"),
        ))),
    }))
}

/// [`host_stream`] for byte-vector items, decoded as blocks.
///
/// # Safety
/// As for [`host_stream`].
pub unsafe fn host_stream_bytes(handle: *mut FidiusStreamHandle) -> crate::Stream<Vec<u8>> {
    // SAFETY: forwarded caller contract.
    let mut inner = unsafe { host_stream::<crate::wire::ByteBuf>(handle) };
    crate::Stream::try_from_iter(std::iter::from_fn(move || {
        inner.next_result().map(|r| r.map(|b| b.0))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(h: *mut FidiusStreamHandle) -> Vec<Result<u64, String>> {
        // SAFETY: a fresh handle from `producer_handle`.
        let mut p = unsafe { StreamPuller::new(h) };
        let mut out = Vec::new();
        loop {
            match p.pull() {
                Pulled::Item(b) => out.push(Ok(bincode::deserialize(b).unwrap())),
                Pulled::Error(b) => {
                    out.push(Err(bincode::deserialize::<PluginError>(b).unwrap().code))
                }
                Pulled::Panic(m) => out.push(Err(format!("panic: {m}"))),
                Pulled::End => return out,
                Pulled::Failed(c) => out.push(Err(format!("failed {c}"))),
            }
        }
    }

    #[test]
    fn items_errors_panics_and_big_items() {
        let h = producer_handle((0..5u64).map(Ok));
        assert_eq!(collect(h), (0..5).map(Ok).collect::<Vec<_>>());
        let h =
            producer_handle(vec![Ok(1u64), Err(PluginError::new("BAD", "x")), Ok(3)].into_iter());
        assert_eq!(collect(h), vec![Ok(1), Err("BAD".to_string())]);
        let h = producer_handle((0..3u64).map(|i| if i == 1 { panic!("boom {i}") } else { Ok(i) }));
        assert_eq!(collect(h), vec![Ok(0), Err("panic: boom 1".to_string())]);
        // Items larger than the initial buffer grow it.
        let big: Vec<Vec<u8>> = vec![vec![7u8; 10_000], vec![1u8; 3]];
        let h = producer_handle(big.clone().into_iter().map(Ok));
        // SAFETY: a fresh handle from `producer_handle`.
        let mut p = unsafe { StreamPuller::new(h) };
        for want in &big {
            match p.pull() {
                Pulled::Item(b) => assert_eq!(&bincode::deserialize::<Vec<u8>>(b).unwrap(), want),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(p.pull(), Pulled::End));
        assert!(matches!(p.pull(), Pulled::End));
    }

    /// An item whose `Serialize` impl panics.
    struct Exploding;

    impl Serialize for Exploding {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            panic!("item serialize exploded")
        }
    }

    #[test]
    fn panicking_item_serialize_ends_the_stream() {
        let h = producer_handle(std::iter::once(Ok(Exploding)));
        // SAFETY: a fresh handle from `producer_handle`.
        let mut p = unsafe { StreamPuller::new(h) };
        match p.pull() {
            Pulled::Panic(m) => assert_eq!(m, "item serialize exploded"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(p.pull(), Pulled::End));
    }

    #[test]
    fn layout() {
        assert_eq!(std::mem::size_of::<FidiusStreamHandle>(), 24);
        assert_eq!(std::mem::offset_of!(FidiusStreamHandle, next), 0);
        assert_eq!(std::mem::offset_of!(FidiusStreamHandle, drop_fn), 8);
        assert_eq!(std::mem::offset_of!(FidiusStreamHandle, state), 16);
    }
}
