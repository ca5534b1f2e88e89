//! [`Message`]: an immutable, reference-counted message; cloning it (once
//! per receiving plugin) copies a pointer, never the content.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A broadcast unit shared by every receiving plugin.
pub struct Message<T> {
    /// The content.
    pub content: Arc<T>,
}

impl<T> Message<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self {
            content: Arc::new(value),
        }
    }

    /// Whether two messages share the same content allocation.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.content, &b.content)
    }
}

impl<T> Clone for Message<T> {
    fn clone(&self) -> Self {
        Self {
            content: Arc::clone(&self.content),
        }
    }
}

impl<T> Deref for Message<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.content
    }
}

impl<T> AsRef<T> for Message<T> {
    fn as_ref(&self) -> &T {
        &self.content
    }
}

impl<T> From<T> for Message<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T> From<Arc<T>> for Message<T> {
    fn from(content: Arc<T>) -> Self {
        Self { content }
    }
}

impl<T: fmt::Debug> fmt::Debug for Message<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Message").field(&*self.content).finish()
    }
}
