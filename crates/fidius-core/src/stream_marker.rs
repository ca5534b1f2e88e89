//! [`Stream<T>`]: the type that marks a streaming method in an interface
//! trait, and the pull-based item source a plugin produces or consumes.

use std::fmt;

/// A pull-based sequence of `T` crossing a plugin boundary.
///
/// In return position the plugin produces items; in argument position the
/// host does. A plugin builds one with [`Stream::from_iter`] and pulls its
/// input with [`Stream::next_item`] (or as an [`Iterator`]).
pub struct Stream<T> {
    inner: Option<Box<dyn Iterator<Item = T> + Send>>,
}

impl<T> Stream<T> {
    /// An empty stream.
    pub fn new() -> Self {
        Self { inner: None }
    }

    /// A stream over any `Send` iterator (the fidius 0.5 constructor name).
    #[allow(clippy::should_implement_trait)]
    pub fn from_iter<I>(iter: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        Self {
            inner: Some(Box::new(iter.into_iter())),
        }
    }

    /// Pulls the next item.
    pub fn next_item(&mut self) -> Option<T> {
        self.inner.as_mut()?.next()
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
            .field("empty", &self.inner.is_none())
            .finish()
    }
}
