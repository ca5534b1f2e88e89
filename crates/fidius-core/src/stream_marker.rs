//! [`Stream<T>`]: the type that marks a streaming method in an interface
//! trait, and the pull-based item source a plugin produces or consumes.

use crate::PluginError;
use std::fmt;

type Source<T> = Box<dyn Iterator<Item = Result<T, PluginError>> + Send>;

/// A pull-based sequence of `T` crossing a plugin boundary.
///
/// In return position the plugin produces items; in argument position the
/// host does. Items are produced lazily, one per pull: an unbounded stream
/// costs bounded memory. A producer may fail mid-stream with a
/// [`PluginError`] item ([`Stream::try_from_iter`]), which ends the stream.
pub struct Stream<T> {
    inner: Option<Source<T>>,
}

impl<T> Stream<T> {
    /// An empty stream.
    pub fn new() -> Self {
        Self { inner: None }
    }

    /// A stream over any `Send` iterator.
    #[allow(clippy::should_implement_trait)]
    pub fn from_iter<I>(iter: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
        T: 'static,
    {
        Self {
            inner: Some(Box::new(iter.into_iter().map(Ok))),
        }
    }

    /// A stream over fallible items: an `Err` reaches the consumer as an
    /// error item and ends the stream.
    pub fn try_from_iter<I>(iter: I) -> Self
    where
        I: IntoIterator<Item = Result<T, PluginError>>,
        I::IntoIter: Send + 'static,
    {
        Self {
            inner: Some(Box::new(iter.into_iter())),
        }
    }

    /// Pulls the next item; an error item or the end yield `None` (use
    /// [`Stream::next_result`] to see errors).
    pub fn next_item(&mut self) -> Option<T> {
        match self.next_result()? {
            Ok(v) => Some(v),
            Err(_) => {
                self.inner = None;
                None
            }
        }
    }

    /// Pulls the next item or error; the stream is fused after an error.
    pub fn next_result(&mut self) -> Option<Result<T, PluginError>> {
        let item = self.inner.as_mut()?.next();
        match item {
            None => {
                self.inner = None;
                None
            }
            Some(Err(e)) => {
                self.inner = None;
                Some(Err(e))
            }
            ok => ok,
        }
    }
}

impl<T> Default for Stream<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Iterator for Stream<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.next_item()
    }
}

impl<T> fmt::Debug for Stream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("finished", &self.inner.is_none())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_after_error() {
        let mut s = Stream::try_from_iter(vec![Ok(1), Err(PluginError::new("E", "x")), Ok(3)]);
        assert_eq!(s.next_result(), Some(Ok(1)));
        assert!(matches!(s.next_result(), Some(Err(_))));
        assert_eq!(s.next_result(), None);
        let v: Vec<u32> = Stream::from_iter(0..4u32).collect();
        assert_eq!(v, [0, 1, 2, 3]);
        assert_eq!(Stream::<u8>::new().next_item(), None);
    }
}
