//! Host side of streaming: a backend-neutral item source ([`RawSource`]),
//! the typed [`ItemStream`] (a blocking `Iterator`, and with feature
//! `streaming` a `futures::Stream` fed by a pump thread), and the owned
//! handle a host hands to a client-streaming plugin.
//!
//! Streams are pull-based and bounded: nothing is produced until pulled, the
//! async pump queues at most a bounded number of items and bytes, and dropping a stream drops the
//! producer (its cleanup runs).

use crate::error::CallError;
use fidius_core::stream_ffi::{FidiusStreamHandle, Pulled, StreamPuller};
use libloading::Library;
use serde::de::DeserializeOwned;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// One step of a [`RawSource`].
#[derive(Debug)]
pub enum RawItem<'a> {
    /// One encoded item.
    Item(&'a [u8]),
    /// A failure; the stream has ended.
    Error(CallError),
    /// The clean end.
    End,
}

/// A backend's stream of encoded items.
pub trait RawSource: Send {
    /// Pulls the next item (blocking).
    fn pull(&mut self) -> RawItem<'_>;
}

/// A boxed [`RawSource`].
pub type RawStream = Box<dyn RawSource>;

/// A plugin-produced stream of a cdylib (keeps the library mapped).
pub(crate) struct CdylibSource {
    // Declared first: dropped (calling into the library) before the library.
    puller: StreamPuller,
    _library: Option<Arc<Library>>,
}

impl CdylibSource {
    pub(crate) fn new(puller: StreamPuller, library: Option<Arc<Library>>) -> Self {
        Self {
            puller,
            _library: library,
        }
    }
}

impl RawSource for CdylibSource {
    fn pull(&mut self) -> RawItem<'_> {
        match self.puller.pull() {
            Pulled::Item(bytes) => RawItem::Item(bytes),
            Pulled::Error(bytes) => {
                RawItem::Error(crate::executor::cdylib::decode_plugin_error(bytes))
            }
            Pulled::Panic(msg) => RawItem::Error(CallError::Panic(msg)),
            Pulled::End => RawItem::End,
            Pulled::Failed(code) => RawItem::Error(crate::executor::cdylib::status_error(code)),
        }
    }
}

/// A stream handle the host built (e.g. over its items for a client
/// stream); dropped with `drop_fn` unless handed over with [`Self::into_raw`].
pub struct OwnedStreamHandle(*mut FidiusStreamHandle);

// SAFETY: handles built by fidius producers are driven by one thread at a
// time and their state is `Send`.
unsafe impl Send for OwnedStreamHandle {}

impl OwnedStreamHandle {
    /// A handle producing `items`, encoded lazily as they are pulled.
    pub fn from_items<T, I>(items: I) -> Self
    where
        T: serde::Serialize + 'static,
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        Self(fidius_core::stream_ffi::producer_handle(
            items.into_iter().map(Ok),
        ))
    }

    /// Takes ownership of a raw handle.
    ///
    /// # Safety
    /// `handle` must be a valid stream handle owned by nobody else.
    pub unsafe fn from_raw(handle: *mut FidiusStreamHandle) -> Self {
        Self(handle)
    }

    /// Hands the handle over (the receiver must call `drop_fn`).
    pub fn into_raw(self) -> *mut FidiusStreamHandle {
        let h = self.0;
        std::mem::forget(self);
        h
    }
}

impl Drop for OwnedStreamHandle {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: we own the handle and drop it exactly once.
            unsafe { ((*self.0).drop_fn)(self.0) };
        }
    }
}

impl fmt::Debug for OwnedStreamHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedStreamHandle").field(&self.0).finish()
    }
}

/// Decodes one encoded item.
pub type Decoder<T> = fn(&[u8]) -> Result<T, CallError>;

/// The default decoder: the fidius wire.
pub fn decode_wire<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CallError> {
    fidius_core::wire::deserialize(bytes).map_err(|e| CallError::Deserialization(e.to_string()))
}

/// Decodes a JSON-encoded item (the items of value-shaped backends: Python).
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CallError> {
    serde_json::from_slice(bytes).map_err(|e| CallError::Deserialization(e.to_string()))
}

/// Decodes a byte-vector item as one block.
pub fn decode_bytes(bytes: &[u8]) -> Result<Vec<u8>, CallError> {
    decode_wire::<fidius_core::wire::ByteBuf>(bytes).map(|b| b.0)
}

/// Decodes one raw step into a typed item (`None` = end).
fn decode_step<T>(step: RawItem<'_>, decode: Decoder<T>) -> Option<Result<T, CallError>> {
    match step {
        RawItem::Item(bytes) => Some(decode(bytes)),
        RawItem::Error(e) => Some(Err(e)),
        RawItem::End => None,
    }
}

enum State<T> {
    Direct(RawStream, PhantomData<fn() -> T>),
    #[cfg(feature = "streaming")]
    Pumped {
        queue: Arc<pumped::Queue<T>>,
        ready: std::collections::VecDeque<Result<T, CallError>>,
    },
    Done,
}

/// A typed stream of items from a plugin.
///
/// Use it as a blocking [`Iterator`] (each `next` pulls one item from the
/// plugin on the calling thread: no threads, no buffering), or, with feature
/// `streaming`, as a `futures::Stream` (items are pulled on a pump thread
/// into a small bounded queue). It ends after the first error. Dropping it
/// cancels the producer.
pub struct ItemStream<T> {
    state: State<T>,
    decode: Decoder<T>,
}

// Items are only ever moved in and out, never pinned in place.
impl<T> Unpin for ItemStream<T> {}

impl<T> fmt::Debug for ItemStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match &self.state {
            State::Direct(..) => "direct",
            #[cfg(feature = "streaming")]
            State::Pumped { .. } => "pumped",
            State::Done => "done",
        };
        f.debug_struct("ItemStream").field("mode", &mode).finish()
    }
}

impl<T: DeserializeOwned> ItemStream<T> {
    /// A typed view of a raw source (items decoded with the fidius wire).
    pub fn new(source: RawStream) -> Self {
        Self::with_decoder(source, decode_wire::<T>)
    }
}

impl<T> ItemStream<T> {
    /// A typed view of a raw source with a custom item decoder.
    pub fn with_decoder(source: RawStream, decode: Decoder<T>) -> Self {
        Self {
            state: State::Direct(source, PhantomData),
            decode,
        }
    }
}

impl<T> Iterator for ItemStream<T> {
    type Item = Result<T, CallError>;

    fn next(&mut self) -> Option<Self::Item> {
        let step = match &mut self.state {
            State::Direct(src, _) => decode_step(src.pull(), self.decode),
            #[cfg(feature = "streaming")]
            State::Pumped { queue, ready } => {
                if ready.is_empty() && !queue.wait_and_drain(ready) {
                    self.state = State::Done;
                    return None;
                }
                return ready.pop_front();
            }
            State::Done => None,
        };
        if !matches!(step, Some(Ok(_))) {
            self.state = State::Done;
        }
        step
    }
}

/// Items an async stream's pump thread may queue ahead of its consumer...
pub const ASYNC_MAX_QUEUED_ITEMS: usize = 256;
/// ...or encoded bytes, whichever comes first (a large item still travels).
pub const ASYNC_MAX_QUEUED_BYTES: usize = 256 * 1024;

#[cfg(feature = "streaming")]
mod pumped {
    use super::*;
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::sync::{Condvar, Mutex, MutexGuard};
    use std::task::{Context, Poll, Waker};

    /// The bounded hand-off between a pump thread and its consumer: the pump
    /// pushes each item as soon as it is decoded (so nothing waits in the
    /// pump while the producer is slow), the consumer takes everything queued
    /// at once (so a busy stream moves in batches).
    pub(crate) struct Queue<T> {
        inner: Mutex<Inner<T>>,
        /// Signalled on every change: room for the pump, items for a
        /// blocking consumer.
        changed: Condvar,
    }

    struct Inner<T> {
        items: VecDeque<Result<T, CallError>>,
        bytes: usize,
        /// The pump pushed the last item (or died).
        finished: bool,
        /// The consumer dropped the stream: the pump stops at its next step.
        abandoned: bool,
        /// A side is parked on `changed` (signal only then: a notify is a syscall).
        pump_parked: bool,
        consumer_parked: bool,
        waker: Option<Waker>,
    }

    impl<T> Queue<T> {
        fn new() -> Self {
            Self {
                inner: Mutex::new(Inner {
                    items: VecDeque::new(),
                    bytes: 0,
                    finished: false,
                    abandoned: false,
                    pump_parked: false,
                    consumer_parked: false,
                    waker: None,
                }),
                changed: Condvar::new(),
            }
        }

        fn lock(&self) -> MutexGuard<'_, Inner<T>> {
            // Neither side panics while holding the lock; recover anyway.
            self.inner.lock().unwrap_or_else(|p| p.into_inner())
        }

        /// Pump side: queues one item (`last` = the stream ends with it),
        /// waiting while the queue is full. `false` if the consumer is gone.
        fn push(&self, item: Option<Result<T, CallError>>, bytes: usize, last: bool) -> bool {
            let mut g = self.lock();
            while !g.abandoned
                && !g.items.is_empty()
                && (g.items.len() >= ASYNC_MAX_QUEUED_ITEMS || g.bytes >= ASYNC_MAX_QUEUED_BYTES)
            {
                g.pump_parked = true;
                g = self.changed.wait(g).unwrap_or_else(|p| p.into_inner());
                g.pump_parked = false;
            }
            if g.abandoned {
                return false;
            }
            if let Some(item) = item {
                g.items.push_back(item);
                g.bytes += bytes;
            }
            g.finished |= last;
            let waker = g.waker.take();
            let parked = g.consumer_parked;
            drop(g);
            if parked {
                self.changed.notify_all();
            }
            if let Some(w) = waker {
                w.wake();
            }
            true
        }

        /// Moves every queued item into `ready`; `Some(false)` if the stream
        /// is over, `None` if nothing is queued yet.
        fn drain(
            &self,
            g: &mut Inner<T>,
            ready: &mut VecDeque<Result<T, CallError>>,
        ) -> Option<bool> {
            if g.items.is_empty() {
                return g.finished.then_some(false);
            }
            std::mem::swap(&mut g.items, ready);
            g.bytes = 0;
            if g.pump_parked {
                self.changed.notify_all();
            }
            Some(true)
        }

        /// Blocking consumer: waits for items; `false` when the stream is over.
        pub(crate) fn wait_and_drain(&self, ready: &mut VecDeque<Result<T, CallError>>) -> bool {
            let mut g = self.lock();
            loop {
                if let Some(more) = self.drain(&mut g, ready) {
                    return more;
                }
                g.consumer_parked = true;
                g = self.changed.wait(g).unwrap_or_else(|p| p.into_inner());
                g.consumer_parked = false;
            }
        }

        /// Async consumer: drains, or registers `waker` for the next push.
        fn poll_drain(
            &self,
            ready: &mut VecDeque<Result<T, CallError>>,
            waker: &Waker,
        ) -> Poll<bool> {
            let mut g = self.lock();
            match self.drain(&mut g, ready) {
                Some(more) => Poll::Ready(more),
                None => {
                    match &mut g.waker {
                        Some(w) if w.will_wake(waker) => {}
                        slot => *slot = Some(waker.clone()),
                    }
                    Poll::Pending
                }
            }
        }

        /// The consumer is gone: release a pump waiting for room.
        pub(crate) fn abandon(&self) {
            self.lock().abandoned = true;
            self.changed.notify_all();
        }
    }

    /// Marks the stream finished if the pump thread ends without saying so
    /// (a panicking decoder), so a consumer never waits forever.
    struct FinishOnExit<T>(Arc<Queue<T>>);

    impl<T> Drop for FinishOnExit<T> {
        fn drop(&mut self) {
            let waker = {
                let mut g = self.0.lock();
                g.finished = true;
                g.waker.take()
            };
            self.0.changed.notify_all();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    impl<T: Send + 'static> ItemStream<T> {
        fn start_pump(&mut self) {
            let decode = self.decode;
            let State::Direct(..) = &self.state else {
                return;
            };
            let State::Direct(mut src, _) = std::mem::replace(&mut self.state, State::Done) else {
                unreachable!()
            };
            let queue = Arc::new(Queue::new());
            let guard = FinishOnExit(queue.clone());
            let spawned = std::thread::Builder::new()
                .name("fidius-stream-pump".into())
                .spawn(move || {
                    let queue = &guard.0;
                    loop {
                        let raw = src.pull();
                        let bytes = match &raw {
                            RawItem::Item(b) => b.len(),
                            _ => 0,
                        };
                        let step = decode_step(raw, decode);
                        let last = !matches!(step, Some(Ok(_)));
                        if !queue.push(step, bytes, last) || last {
                            // Dropping `src` here cancels the producer.
                            return;
                        }
                    }
                });
            if let Err(e) = spawned {
                queue.push(
                    Some(Err(CallError::Backend {
                        runtime: "host".into(),
                        message: format!("could not start the stream pump thread: {e}"),
                    })),
                    0,
                    true,
                );
            }
            self.state = State::Pumped {
                queue,
                ready: VecDeque::new(),
            };
        }
    }

    impl<T> Drop for ItemStream<T> {
        fn drop(&mut self) {
            if let State::Pumped { queue, .. } = &self.state {
                queue.abandon();
            }
        }
    }

    impl<T: Send + 'static> ItemStream<T> {
        /// The next item, awaited (for hosts without a `StreamExt`): items are
        /// pulled on a pump thread, so the async task never blocks.
        pub async fn next_async(&mut self) -> Option<Result<T, CallError>> {
            std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *self), cx))
                .await
        }
    }

    impl<T: Send + 'static> futures_core::Stream for ItemStream<T> {
        type Item = Result<T, CallError>;

        fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            let this = self.get_mut();
            this.start_pump();
            match &mut this.state {
                State::Pumped { queue, ready } => {
                    if let Some(item) = ready.pop_front() {
                        return Poll::Ready(Some(item));
                    }
                    match queue.poll_drain(ready, cx.waker()) {
                        Poll::Ready(true) => Poll::Ready(ready.pop_front()),
                        Poll::Ready(false) => {
                            this.state = State::Done;
                            Poll::Ready(None)
                        }
                        Poll::Pending => Poll::Pending,
                    }
                }
                _ => Poll::Ready(None),
            }
        }
    }

    /// Items of a stream as neutral [`fidius_core::Value`]s (the fidius 0.5
    /// `ChunkStream`): a `futures::Stream` of `Result<Value, CallError>`.
    pub struct ChunkStream {
        inner:
            Pin<Box<dyn futures_core::Stream<Item = Result<fidius_core::Value, CallError>> + Send>>,
    }

    impl fmt::Debug for ChunkStream {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("ChunkStream")
        }
    }

    impl ChunkStream {
        /// Wraps any stream of values.
        pub fn new(
            stream: impl futures_core::Stream<Item = Result<fidius_core::Value, CallError>>
                + Send
                + 'static,
        ) -> Self {
            Self {
                inner: Box::pin(stream),
            }
        }

        /// Values of a typed stream.
        pub fn from_items<O: serde::Serialize + DeserializeOwned + Send + 'static>(
            items: ItemStream<O>,
        ) -> Self {
            struct Map<O>(ItemStream<O>);
            impl<O> Unpin for Map<O> {}
            impl<O: serde::Serialize + DeserializeOwned + Send + 'static> futures_core::Stream for Map<O> {
                type Item = Result<fidius_core::Value, CallError>;
                fn poll_next(
                    self: Pin<&mut Self>,
                    cx: &mut Context<'_>,
                ) -> Poll<Option<Self::Item>> {
                    let inner = Pin::new(&mut self.get_mut().0);
                    inner.poll_next(cx).map(|o| {
                        o.map(|r| {
                            r.and_then(|v| {
                                fidius_core::to_value(&v)
                                    .map_err(|e| CallError::Deserialization(e.to_string()))
                            })
                        })
                    })
                }
            }
            Self::new(Map(items))
        }
    }

    impl futures_core::Stream for ChunkStream {
        type Item = Result<fidius_core::Value, CallError>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.inner.as_mut().poll_next(cx)
        }
    }
}

#[cfg(feature = "streaming")]
pub use pumped::ChunkStream;
