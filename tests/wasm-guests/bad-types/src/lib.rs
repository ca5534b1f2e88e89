//! Interfaces that have no WIT form (on purpose).

use fidius::plugin_impl;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Config {
    pub level: u8,
}

#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Wide: Send + Sync {
    fn big(&self, x: u128) -> u64;
}

#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Clash: Send + Sync {
    fn config(&self, c: Config) -> u8;
}

pub struct W;

#[plugin_impl(Wide)]
impl Wide for W {
    fn big(&self, x: u128) -> u64 {
        x as u64
    }
}

pub struct C;

#[plugin_impl(Clash)]
impl Clash for C {
    fn config(&self, c: Config) -> u8 {
        c.level
    }
}
