//! Benchmark fixture: the same small interface over both buffer strategies.

#![allow(unexpected_cfgs)]

pub use fidius::plugin_impl;

/// PluginAllocated benchmark interface.
#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Bench: Send + Sync {
    /// Adds.
    fn add(&self, a: i64, b: i64) -> i64;
    /// Echoes bytes (typed).
    fn echo(&self, data: Vec<u8>) -> Vec<u8>;
    /// Echoes bytes (raw wire).
    #[wire(raw)]
    fn echo_raw(&self, data: Vec<u8>) -> Vec<u8>;
}

/// Arena benchmark interface.
#[fidius::plugin_interface(version = 1, buffer = Arena)]
pub trait BenchArena: Send + Sync {
    /// Adds.
    fn add(&self, a: i64, b: i64) -> i64;
    /// Echoes bytes (typed).
    fn echo(&self, data: Vec<u8>) -> Vec<u8>;
    /// Echoes bytes (raw wire).
    #[wire(raw)]
    fn echo_raw(&self, data: Vec<u8>) -> Vec<u8>;
}

/// Implements both.
pub struct Bencher;

#[plugin_impl(Bench)]
impl Bench for Bencher {
    fn add(&self, a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }
    fn echo(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }
    fn echo_raw(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }
}

/// Arena implementation.
pub struct ArenaBencher;

#[plugin_impl(BenchArena, buffer = Arena)]
impl BenchArena for ArenaBencher {
    fn add(&self, a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }
    fn echo(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }
    fn echo_raw(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }
}

fidius::fidius_plugin_registry!();
