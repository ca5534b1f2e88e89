//! A harness for composing streams in tests (fidius 0.5's `streaming`
//! feature; like there, not semver-stable): make, collect and pump streams.

use fidius_core::Value;
use fidius_host::{CallError, ChunkStream};
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

struct Iter(std::vec::IntoIter<Value>);

impl futures_core::Stream for Iter {
    type Item = Result<Value, CallError>;
    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.next().map(Ok))
    }
}

/// A stream that yields `values`.
pub fn stream_of(values: Vec<Value>) -> ChunkStream {
    ChunkStream::new(Iter(values.into_iter()))
}

async fn next(stream: &mut ChunkStream) -> Option<Result<Value, CallError>> {
    poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *stream), cx)).await
}

/// Every item of `stream`, stopping at the first error.
pub async fn collect(mut stream: ChunkStream) -> Result<Vec<Value>, CallError> {
    let mut out = Vec::new();
    while let Some(item) = next(&mut stream).await {
        out.push(item?);
    }
    Ok(out)
}

/// Where [`pump`] delivers items. Object-safe (`&dyn StreamSink` works) and
/// implementable with `#[async_trait::async_trait]`, as in fidius 0.5.
#[async_trait::async_trait]
pub trait StreamSink: Send + Sync {
    /// Accepts one item; an error stops the pump.
    async fn accept(&self, value: Value) -> Result<(), CallError>;
}

/// Feeds every item of `stream` to `sink`, stopping at the first error.
pub async fn pump<S: StreamSink + ?Sized>(
    mut stream: ChunkStream,
    sink: &S,
) -> Result<(), CallError> {
    while let Some(item) = next(&mut stream).await {
        sink.accept(item?).await?;
    }
    Ok(())
}

/// A sink that keeps what it receives.
#[derive(Debug, Default)]
pub struct CollectSink(Mutex<Vec<Value>>);

impl CollectSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes what it received so far.
    pub fn take(&self) -> Vec<Value> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait::async_trait]
impl StreamSink for CollectSink {
    async fn accept(&self, value: Value) -> Result<(), CallError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(value);
        Ok(())
    }
}
