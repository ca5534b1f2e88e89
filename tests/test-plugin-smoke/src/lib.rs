//! Fixture plugin library: interfaces and implementations in one cdylib,
//! covering typed, raw, Arena, optional, fallible, async, configured and
//! metadata-carrying methods.

#![allow(unexpected_cfgs)]

pub use fidius::{plugin_impl, PluginError};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// Input of `Calculator::add`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddInput {
    /// Left operand.
    pub a: i64,
    /// Right operand.
    pub b: i64,
}

/// Output of `Calculator::add`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddOutput {
    /// The sum.
    pub result: i64,
}

/// A calculator with one optional method and metadata.
#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
#[trait_meta("kind", "calculator")]
#[trait_meta("stability", "stable")]
pub trait Calculator: Send + Sync {
    /// Adds a record.
    #[method_meta("effect", "pure")]
    fn add(&self, input: AddInput) -> AddOutput;
    /// Adds two integers.
    fn add_direct(&self, a: i64, b: i64) -> i64;
    /// Plugin version string.
    fn version(&self) -> String;
    /// Multiplies (optional).
    #[optional(since = 2)]
    #[fidius::method_meta("cost", "high")]
    fn multiply(&self, input: AddInput) -> AddOutput;
}

/// Implements every Calculator method, listed in a different order than the trait.
pub struct BasicCalculator;

#[plugin_impl(Calculator)]
impl Calculator for BasicCalculator {
    fn version(&self) -> String {
        "1.0.0".to_string()
    }
    fn multiply(&self, input: AddInput) -> AddOutput {
        AddOutput {
            result: input.a * input.b,
        }
    }
    fn add_direct(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    fn add(&self, input: AddInput) -> AddOutput {
        AddOutput {
            result: input.a + input.b,
        }
    }
}

/// Raw-bytes interface with the golden hash 0xDF233D1A5936EB5C.
#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait BytePipe: Send + Sync {
    /// Reverses bytes (raw wire).
    #[wire(raw)]
    fn reverse(&self, input: Vec<u8>) -> Vec<u8>;
    /// Name of the implementation.
    fn name(&self) -> String;
}

/// Reverses bytes; `#[wire(raw)]` is not repeated on the impl.
pub struct ReverseBytes;

#[plugin_impl(BytePipe)]
impl BytePipe for ReverseBytes {
    fn reverse(&self, mut input: Vec<u8>) -> Vec<u8> {
        input.reverse();
        input
    }
    fn name(&self) -> String {
        "reverse-bytes".into()
    }
}

/// Arena-strategy echo.
#[fidius::plugin_interface(version = 1, buffer = Arena)]
pub trait ArenaEcho: Send + Sync {
    /// Echoes a string.
    fn echo(&self, input: String) -> String;
    /// Returns `n` bytes (to exercise arena growth).
    fn fill(&self, n: u32) -> Vec<u8>;
    /// Panics with a message.
    fn explode(&self) -> String;
    /// Counts how many times it ran (growth must not run a method twice).
    fn counted(&self, n: u32) -> (u64, Vec<u8>);
}

/// Implements ArenaEcho; keeps a run counter.
#[derive(Default)]
pub struct ArenaEchoer {
    runs: AtomicU64,
}

#[plugin_impl(ArenaEcho, buffer = Arena)]
impl ArenaEcho for ArenaEchoer {
    fn echo(&self, input: String) -> String {
        input
    }
    fn fill(&self, n: u32) -> Vec<u8> {
        vec![0xAB; n as usize]
    }
    fn explode(&self) -> String {
        panic!("arena boom")
    }
    fn counted(&self, n: u32) -> (u64, Vec<u8>) {
        let runs = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        (runs, vec![1; n as usize])
    }
}

/// Fallible, panicking, async and borrowed-argument methods.
#[fidius::plugin_interface(version = 3, buffer = PluginAllocated)]
pub trait Fallible: Send + Sync {
    /// `Ok(format!("v{n}"))`, or an error for odd `n`.
    fn check(&self, n: u32) -> Result<String, PluginError>;
    /// Always panics.
    fn boom(&self, msg: String) -> u32;
    /// Async method.
    async fn slow_double(&self, n: u64) -> u64;
    /// Borrowed arguments.
    fn count(&self, text: &str, bytes: &[u8]) -> (usize, usize);
    /// Raw method with a fallible return.
    #[wire(raw)]
    fn parse_raw(&self, input: Vec<u8>) -> Result<Vec<u8>, PluginError>;
    /// Unit return.
    fn touch(&self);
    /// `n` bytes of a pattern (typed output of any size).
    fn blob(&self, n: u32, seed: u8) -> Vec<u8>;
    /// Optional method with a default body that the impl leaves out.
    #[optional(since = 3)]
    fn extra(&self) -> u32 {
        7
    }
}

/// Implements Fallible, omitting the optional `extra`.
pub struct FallibleImpl;

#[plugin_impl(Fallible)]
impl Fallible for FallibleImpl {
    fn check(&self, n: u32) -> Result<String, PluginError> {
        if n % 2 == 1 {
            Err(PluginError::new("ODD", format!("{n} is odd")))
        } else {
            Ok(format!("v{n}"))
        }
    }
    fn boom(&self, msg: String) -> u32 {
        panic!("{msg}")
    }
    async fn slow_double(&self, n: u64) -> u64 {
        n * 2
    }
    fn count(&self, text: &str, bytes: &[u8]) -> (usize, usize) {
        (text.chars().count(), bytes.len())
    }
    #[wire(raw)]
    fn parse_raw(&self, input: Vec<u8>) -> Result<Vec<u8>, PluginError> {
        if input.is_empty() {
            Err(PluginError::with_details(
                "EMPTY",
                "no input",
                serde_json::json!({"len": 0}),
            ))
        } else {
            Ok(input.iter().map(|b| b.to_ascii_uppercase()).collect())
        }
    }
    fn touch(&self) {}
    fn blob(&self, n: u32, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_add(seed)).collect()
    }
}

/// Config of `ConfiguredGreeter`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GreetConfig {
    /// Greeting word.
    pub greeting: String,
}

/// A configured interface.
#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Greeter: Send + Sync {
    /// Greets `name`.
    fn greet(&self, name: String) -> String;
}

/// Greets with its configured word.
pub struct ConfiguredGreeter {
    greeting: String,
}

impl ConfiguredGreeter {
    /// Builds from config (runs once per instance).
    pub fn configure(cfg: GreetConfig) -> Self {
        Self {
            greeting: cfg.greeting,
        }
    }
}

#[plugin_impl(Greeter, config = GreetConfig)]
impl Greeter for ConfiguredGreeter {
    fn greet(&self, name: String) -> String {
        format!("{}, {name}!", self.greeting)
    }
}

fidius::fidius_plugin_registry!();
