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

/// Streaming benchmark interface.
#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Streamer: Send + Sync {
    /// `0..n`.
    fn range(&self, n: u64) -> fidius::Stream<u64>;
    /// `n` chunks of `size` bytes.
    fn chunks(&self, n: u64, size: u32) -> fidius::Stream<Vec<u8>>;
    /// Sums the items.
    fn sum(&self, items: fidius::Stream<u64>) -> u64;
    /// Total length of the chunks.
    fn total(&self, items: fidius::Stream<Vec<u8>>) -> u64;
    /// Echoes the items (bidirectional).
    fn echo(&self, items: fidius::Stream<u64>) -> fidius::Stream<u64>;
    /// Echoes the chunks (bidirectional).
    fn echo_chunks(&self, items: fidius::Stream<Vec<u8>>) -> fidius::Stream<Vec<u8>>;
}

/// Implements [`Streamer`].
pub struct StreamBencher;

#[plugin_impl(Streamer)]
impl Streamer for StreamBencher {
    fn range(&self, n: u64) -> fidius::Stream<u64> {
        fidius::Stream::from_iter(0..n)
    }
    fn chunks(&self, n: u64, size: u32) -> fidius::Stream<Vec<u8>> {
        fidius::Stream::from_iter((0..n).map(move |i| vec![i as u8; size as usize]))
    }
    fn sum(&self, items: fidius::Stream<u64>) -> u64 {
        items.fold(0u64, |a, b| a.wrapping_add(b))
    }
    fn total(&self, items: fidius::Stream<Vec<u8>>) -> u64 {
        items.map(|c| c.len() as u64).sum()
    }
    fn echo(&self, items: fidius::Stream<u64>) -> fidius::Stream<u64> {
        items
    }
    fn echo_chunks(&self, items: fidius::Stream<Vec<u8>>) -> fidius::Stream<Vec<u8>> {
        items
    }
}

fidius::fidius_plugin_registry!();
