//! The input of a client-streaming (or bidirectional) method on a WASM
//! guest: items the host feeds, pulled one at a time through the
//! `fidius:stream-pull` import and decoded from the fidius wire (bincode).
//!
//! Pulling is lazy: the host encodes an item only when the guest asks for it,
//! so an unbounded input runs in bounded memory. An item that does not decode
//! as the declared type stops the guest with a message (a typed error on the
//! host) instead of silently ending the stream.

use crate::Stream;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// An iterator over the host's items (the `fidius:stream-pull` import).
pub struct WasmHostStream<T> {
    done: bool,
    _item: PhantomData<fn() -> T>,
}

impl<T> WasmHostStream<T> {
    /// The host's stream for the call in progress.
    pub fn new() -> Self {
        WasmHostStream {
            done: false,
            _item: PhantomData,
        }
    }
}

impl<T> Default for WasmHostStream<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: DeserializeOwned> Iterator for WasmHostStream<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.done {
            return None;
        }
        let Some(bytes) = crate::imports::pull_next() else {
            self.done = true;
            return None;
        };
        match crate::wire::deserialize::<T>(&bytes) {
            Ok(item) => Some(item),
            Err(e) => panic!(
                "fidius: a client-stream item from the host does not decode as `{}`: {e}",
                std::any::type_name::<T>()
            ),
        }
    }
}

/// The host's items as the `Stream<T>` a plugin method takes.
pub fn host_stream<T: DeserializeOwned + 'static>() -> Stream<T> {
    Stream::from_iter(WasmHostStream::<T>::new())
}
