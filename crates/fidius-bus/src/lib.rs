//! A message-passing plugin host (the `message_plugins` contract, made
//! safe and observable): every message goes to every interested plugin;
//! each plugin handles its messages one at a time, in send order, on its
//! own worker; different plugins run concurrently.
//!
//! Modules: [`message`] (the shared, immutable [`Message`]), [`queue`] (a
//! bounded per-plugin queue with [`QueuePolicy`]), [`metrics`], and
//! [`host`] (the std-thread [`Host`]); with feature `tokio`, `tokio_host::Host`.

#![warn(missing_docs)]

pub mod dynamic;
pub mod host;
pub mod message;
pub mod metrics;
pub mod queue;
#[cfg(feature = "tokio")]
pub mod tokio_host;

pub use dynamic::{decode, plugin_impl, MessagePlugin};
#[cfg(feature = "host")]
pub use dynamic::{DynamicPlugin, MessagePluginClient};
pub use host::{AttachOptions, BusEvent, Host, PluginFailure, PluginId, PluginReport, Replier};
pub use message::Message;
pub use metrics::MetricsSnapshot;
pub use queue::QueuePolicy;

/// A message plugin: handles one message at a time and may ask to be
/// detached by returning `Some(code)`.
pub trait Plugin<T>: Send + 'static {
    /// Handles one message. `None` keeps the plugin attached; `Some(code)`
    /// detaches it, and `code` is reported by [`Host::end`].
    fn handle_message(&mut self, message: Message<T>) -> Option<u8>;
}

impl<T, P: Plugin<T> + ?Sized> Plugin<T> for Box<P> {
    fn handle_message(&mut self, message: Message<T>) -> Option<u8> {
        (**self).handle_message(message)
    }
}

/// A plugin made from a closure; see [`from_fn`].
pub struct FnPlugin<F>(F);

/// Makes a plugin from `FnMut(Message<T>) -> Option<u8>`.
pub fn from_fn<T, F>(f: F) -> FnPlugin<F>
where
    F: FnMut(Message<T>) -> Option<u8> + Send + 'static,
{
    FnPlugin(f)
}

impl<T, F> Plugin<T> for FnPlugin<F>
where
    F: FnMut(Message<T>) -> Option<u8> + Send + 'static,
{
    fn handle_message(&mut self, message: Message<T>) -> Option<u8> {
        (self.0)(message)
    }
}
