//! Example interface crate from the async-methods how-to: async-ness lives in
//! the trait only; the interface crate needs no async feature.

#![allow(unexpected_cfgs)]

pub use fidius::{plugin_impl, PluginError};

#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait AsyncProcessor: Send + Sync {
    async fn process(&self, input: String) -> String;
    fn sync_len(&self, input: String) -> u64;
}
