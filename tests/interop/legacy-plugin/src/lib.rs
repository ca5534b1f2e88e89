//! A plugin library built with fidius 0.5.9 (crates.io), loaded by our host
//! in the interop tests. Written the way fidius 0.5 requires: impl methods in
//! trait order, every optional method implemented, `#[wire(raw)]` repeated.

#![allow(unexpected_cfgs)]

use fidius::plugin_impl;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddInput {
    pub a: i64,
    pub b: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddOutput {
    pub result: i64,
}

#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
#[trait_meta("kind", "calculator")]
#[trait_meta("stability", "stable")]
pub trait Calculator: Send + Sync {
    #[method_meta("effect", "pure")]
    fn add(&self, input: AddInput) -> AddOutput;
    fn add_direct(&self, a: i64, b: i64) -> i64;
    fn version(&self) -> String;
    #[optional(since = 2)]
    #[method_meta("cost", "high")]
    fn multiply(&self, input: AddInput) -> AddOutput;
}

pub struct LegacyCalculator;

#[plugin_impl(Calculator)]
impl Calculator for LegacyCalculator {
    fn add(&self, input: AddInput) -> AddOutput {
        AddOutput { result: input.a + input.b }
    }
    fn add_direct(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    fn version(&self) -> String {
        "legacy-0.5.9".to_string()
    }
    fn multiply(&self, input: AddInput) -> AddOutput {
        AddOutput { result: input.a * input.b }
    }
}

#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait BytePipe: Send + Sync {
    #[wire(raw)]
    fn reverse(&self, input: Vec<u8>) -> Vec<u8>;
    fn name(&self) -> String;
}

pub struct LegacyReverse;

#[plugin_impl(BytePipe)]
impl BytePipe for LegacyReverse {
    #[wire(raw)]
    fn reverse(&self, mut input: Vec<u8>) -> Vec<u8> {
        input.reverse();
        input
    }
    fn name(&self) -> String {
        "legacy-reverse".into()
    }
}

#[fidius::plugin_interface(version = 1, buffer = Arena)]
pub trait ArenaEcho: Send + Sync {
    fn echo(&self, input: String) -> String;
    fn fill(&self, n: u32) -> Vec<u8>;
    fn explode(&self) -> String;
    fn counted(&self, n: u32) -> (u64, Vec<u8>);
}

pub struct LegacyArena;

#[plugin_impl(ArenaEcho, buffer = Arena)]
impl ArenaEcho for LegacyArena {
    fn echo(&self, input: String) -> String {
        input
    }
    fn fill(&self, n: u32) -> Vec<u8> {
        vec![0xAB; n as usize]
    }
    fn explode(&self) -> String {
        panic!("legacy arena boom")
    }
    fn counted(&self, n: u32) -> (u64, Vec<u8>) {
        (1, vec![1; n as usize])
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GreetConfig {
    pub greeting: String,
}

#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Greeter: Send + Sync {
    fn greet(&self, name: String) -> String;
}

pub struct LegacyGreeter {
    greeting: String,
}

impl LegacyGreeter {
    pub fn configure(cfg: GreetConfig) -> Self {
        Self { greeting: cfg.greeting }
    }
}

#[plugin_impl(Greeter, config = GreetConfig)]
impl Greeter for LegacyGreeter {
    fn greet(&self, name: String) -> String {
        format!("{}, {name}!", self.greeting)
    }
}

#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Ticker: Send + Sync {
    fn tick(&self, n: u32) -> fidius::Stream<u64>;
}

pub struct LegacyTicker;

#[plugin_impl(Ticker)]
impl Ticker for LegacyTicker {
    fn tick(&self, n: u32) -> fidius::Stream<u64> {
        fidius::Stream::from_iter((0..n as u64).map(|i| i * 100))
    }
}

fidius::fidius_plugin_registry!();
