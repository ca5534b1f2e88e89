//! Message plugins in cdylibs, over fidius' ABI: the [`MessagePlugin`]
//! interface a library implements, and (feature `host`) [`DynamicPlugin`],
//! which loads one through `PluginHost` (signatures, hash and ABI gates) and
//! attaches it to a bus like any in-process plugin.
//!
//! Messages cross as the fidius wire encoding of `T`; no Rust trait object
//! crosses the boundary, and the library stays loaded while the plugin lives.

#![allow(unexpected_cfgs)]

pub use fidius::{plugin_impl, PluginError};

/// The interface of a dynamic message plugin. Implementations receive each
/// message encoded (decode it with [`decode`]) and are called one message
/// at a time, so interior mutability (a `Mutex`) is never contended.
#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait MessagePlugin: Send + Sync {
    /// Handles one encoded message; `Some(code)` asks to be detached.
    fn handle_message(&self, message: Vec<u8>) -> Option<u8>;
}

/// Decodes a message inside a dynamic plugin.
pub fn decode<T: serde::de::DeserializeOwned>(
    message: &[u8],
) -> Result<T, fidius::wire::WireError> {
    fidius::wire::deserialize(message)
}

#[cfg(feature = "host")]
mod host_side {
    use super::MessagePluginClient;
    use crate::{Message, Plugin};
    use std::marker::PhantomData;

    /// A message plugin living in a cdylib, attached to a bus like any other.
    pub struct DynamicPlugin<T> {
        client: MessagePluginClient,
        _t: PhantomData<fn(T)>,
    }

    impl<T> DynamicPlugin<T> {
        /// Loads plugin `name` through `host` (its signature policy and the
        /// interface gates apply).
        pub fn load(host: &fidius::PluginHost, name: &str) -> Result<Self, fidius::LoadError> {
            Ok(Self {
                client: MessagePluginClient::load(host, name)?,
                _t: PhantomData,
            })
        }

        /// Loads a configured instance of plugin `name` (the constructor argument).
        pub fn load_configured<C: serde::Serialize + ?Sized>(
            host: &fidius::PluginHost,
            name: &str,
            config: &C,
        ) -> Result<Self, fidius::LoadError> {
            Ok(Self {
                client: MessagePluginClient::load_configured(host, name, config)?,
                _t: PhantomData,
            })
        }

        /// Wraps an existing client.
        pub fn from_client(client: MessagePluginClient) -> Self {
            Self {
                client,
                _t: PhantomData,
            }
        }
    }

    impl<T: serde::Serialize + 'static> Plugin<T> for DynamicPlugin<T> {
        fn handle_message(&mut self, message: Message<T>) -> Option<u8> {
            let bytes = match fidius::wire::serialize(&*message) {
                Ok(b) => b,
                Err(e) => panic!("message could not be encoded for the dynamic plugin: {e}"),
            };
            match self.client.handle_message(&bytes) {
                Ok(code) => code,
                // The worker turns this into a `PluginFailure::Panicked` report.
                Err(e) => panic!("dynamic plugin failed: {e}"),
            }
        }
    }
}

#[cfg(feature = "host")]
pub use host_side::DynamicPlugin;
