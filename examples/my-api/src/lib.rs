//! Example interface crate: the `ImageFilter` trait of the fidius README,
//! written exactly as the README shows it.

#![allow(unexpected_cfgs)]

pub use fidius::{plugin_impl, PluginError};

use serde::{Deserialize, Serialize};

#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait ImageFilter: Send + Sync {
    fn apply(&self, input: ApplyInput) -> ApplyOutput;
}

#[derive(Serialize, Deserialize)]
pub struct ApplyInput {
    pub pixels: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
pub struct ApplyOutput {
    pub pixels: Vec<u8>,
}
