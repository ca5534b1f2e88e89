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

/// `ConfiguredGreeter::configure` calls in this copy of the library.
pub static GREETERS_CONFIGURED: AtomicU64 = AtomicU64::new(0);
/// `ConfiguredGreeter` instances dropped in this copy of the library.
pub static GREETERS_DROPPED: AtomicU64 = AtomicU64::new(0);

impl ConfiguredGreeter {
    /// Builds from config (runs once per instance).
    pub fn configure(cfg: GreetConfig) -> Self {
        GREETERS_CONFIGURED.fetch_add(1, Ordering::SeqCst);
        Self {
            greeting: cfg.greeting,
        }
    }
}

impl Drop for ConfiguredGreeter {
    fn drop(&mut self) {
        GREETERS_DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

#[plugin_impl(Greeter, config = GreetConfig)]
impl Greeter for ConfiguredGreeter {
    fn greet(&self, name: String) -> String {
        format!("{}, {name}!", self.greeting)
    }
}

/// Server-streaming interface with the golden hash 0xFD152C8AA1112FC3.
#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Ticker: Send + Sync {
    /// Yields `0..n`.
    fn tick(&self, n: u32) -> fidius::Stream<u64>;
}

/// Ticks.
pub struct TickerImpl;

#[plugin_impl(Ticker)]
impl Ticker for TickerImpl {
    fn tick(&self, n: u32) -> fidius::Stream<u64> {
        fidius::Stream::from_iter(0..n as u64)
    }
}

/// Config of [`StreamWorks`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamConfig {
    /// Multiplier applied to produced items.
    pub step: u64,
}

/// Items produced by every `StreamWorks::count` stream in this process (for
/// backpressure tests of in-process instances).
pub static PRODUCED: AtomicU64 = AtomicU64::new(0);

/// Writes `path` when dropped (observable producer cleanup).
struct Marker(String);

impl Drop for Marker {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = std::fs::write(&self.0, b"dropped");
        }
    }
}

/// Every stream direction, errors, panics and async, on a configured instance.
#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait StreamWorks: Send + Sync {
    /// `0, step, 2·step, …` (`limit` items, or forever when 0); writes `marker` when dropped.
    fn count(&self, limit: u64, marker: String) -> fidius::Stream<u64>;
    /// `0..` failing with a `PluginError` at `at`.
    fn fail_at(&self, at: u32) -> fidius::Stream<u32>;
    /// `0..` panicking at `at`.
    fn panic_at(&self, at: u32) -> fidius::Stream<u32>;
    /// `n` items of `size` bytes each.
    fn blobs(&self, n: u32, size: u32) -> fidius::Stream<Vec<u8>>;
    /// Sums the host's items (client stream).
    fn sum(&self, items: fidius::Stream<u64>) -> u64;
    /// The stream in the middle: pulls until an item equals `stop`, returns
    /// `(items pulled, offset + sum)`.
    fn weigh(&self, offset: u64, items: fidius::Stream<u64>, stop: u64) -> (u64, u64);
    /// Multiplies each input item by `step` (bidirectional); writes `marker` when dropped.
    fn scale(&self, items: fidius::Stream<u64>, marker: String) -> fidius::Stream<u64>;
    /// Sums, failing on an item over 1000.
    fn checked_sum(&self, items: fidius::Stream<u64>) -> Result<u64, PluginError>;
    /// Total length of byte items (client stream of byte vectors).
    fn total_len(&self, items: fidius::Stream<Vec<u8>>) -> u64;
    /// Reverses each byte item (bidirectional, byte vectors).
    fn reverse_each(&self, items: fidius::Stream<Vec<u8>>) -> fidius::Stream<Vec<u8>>;
    /// An async method next to the streams.
    async fn step(&self) -> u64;
    /// An async method that returns a stream.
    async fn async_count(&self, n: u64) -> fidius::Stream<u64>;
}

/// Implements [`StreamWorks`]; configured with a [`StreamConfig`].
pub struct StreamWorksImpl {
    step: u64,
}

impl StreamWorksImpl {
    /// Builds from config.
    pub fn configure(cfg: StreamConfig) -> Self {
        Self { step: cfg.step }
    }
}

#[plugin_impl(StreamWorks, config = StreamConfig)]
impl StreamWorks for StreamWorksImpl {
    fn count(&self, limit: u64, marker: String) -> fidius::Stream<u64> {
        let step = self.step;
        let guard = Marker(marker);
        let it = (0u64..).map(move |i| {
            let _keep = &guard;
            PRODUCED.fetch_add(1, Ordering::SeqCst);
            i * step
        });
        if limit == 0 {
            fidius::Stream::from_iter(it)
        } else {
            fidius::Stream::from_iter(it.take(limit as usize))
        }
    }
    fn fail_at(&self, at: u32) -> fidius::Stream<u32> {
        fidius::Stream::try_from_iter((0..).map(move |i| {
            if i == at {
                Err(PluginError::new("FAILED_AT", format!("item {i} failed")))
            } else {
                Ok(i)
            }
        }))
    }
    fn panic_at(&self, at: u32) -> fidius::Stream<u32> {
        fidius::Stream::from_iter((0..).inspect(move |&i| {
            if i == at {
                panic!("producer exploded at {i}");
            }
        }))
    }
    fn blobs(&self, n: u32, size: u32) -> fidius::Stream<Vec<u8>> {
        fidius::Stream::from_iter((0..n).map(move |i| vec![i as u8; size as usize]))
    }
    fn sum(&self, items: fidius::Stream<u64>) -> u64 {
        items.sum()
    }
    fn weigh(&self, offset: u64, mut items: fidius::Stream<u64>, stop: u64) -> (u64, u64) {
        let (mut n, mut total) = (0, offset);
        while let Some(v) = items.next_item() {
            n += 1;
            total += v;
            if v == stop {
                break;
            }
        }
        (n, total)
    }
    fn scale(&self, items: fidius::Stream<u64>, marker: String) -> fidius::Stream<u64> {
        let step = self.step;
        let guard = Marker(marker);
        fidius::Stream::from_iter(items.map(move |v| {
            let _keep = &guard;
            v * step
        }))
    }
    fn checked_sum(&self, mut items: fidius::Stream<u64>) -> Result<u64, PluginError> {
        let mut total = 0;
        while let Some(v) = items.next_item() {
            if v > 1000 {
                return Err(PluginError::new("TOO_BIG", format!("{v} is over 1000")));
            }
            total += v;
        }
        Ok(total)
    }
    fn total_len(&self, items: fidius::Stream<Vec<u8>>) -> u64 {
        items.map(|b| b.len() as u64).sum()
    }
    fn reverse_each(&self, items: fidius::Stream<Vec<u8>>) -> fidius::Stream<Vec<u8>> {
        fidius::Stream::from_iter(items.map(|mut b| {
            b.reverse();
            b
        }))
    }
    async fn step(&self) -> u64 {
        self.step
    }
    async fn async_count(&self, n: u64) -> fidius::Stream<u64> {
        let step = self.step;
        fidius::Stream::from_iter((0..n).map(move |i| i * step))
    }
}

/// A host interface: functions the host implements and plugins call back.
#[fidius::host_interface(version = 1)]
pub trait TestHost: Send + Sync {
    /// A value the host knows.
    fn get_value(&self, key: String) -> u64;
    /// Releases slot `n` (fails for 0).
    fn release_slot(&self, n: u32) -> Result<u32, PluginError>;
    /// Always panics.
    fn panicky(&self) -> u32;
}

/// A plugin that calls back into its host.
#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Deferrable: Send + Sync {
    /// `host.get_value(key) + 1`.
    fn run_deferred(&self, key: String) -> Result<u64, PluginError>;
    /// The same, from a thread the plugin spawns.
    fn value_from_thread(&self, key: String) -> Result<u64, PluginError>;
    /// What calling the host's panicking function returns.
    fn observe_host_panic(&self) -> String;
    /// Whether the host bound `TestHost` in this library.
    fn host_bound(&self) -> bool;
    /// `ok:N` or `err:CODE` from the host's `release_slot`.
    fn try_release(&self, n: u32) -> String;
    /// Calls the host, then panics.
    fn panic_after_callback(&self) -> u32;
    /// `v + 1` (called re-entrantly from inside a host function).
    fn add_one(&self, v: u64) -> u64;
}

fn host_error(e: fidius::HostCallError) -> PluginError {
    let code = match &e {
        fidius::HostCallError::NotBound { .. } => "NOT_BOUND",
        _ => "HOST_CALL",
    };
    PluginError::new(code, e.to_string())
}

/// Implements [`Deferrable`].
pub struct DeferrableImpl;

#[plugin_impl(Deferrable)]
impl Deferrable for DeferrableImpl {
    fn run_deferred(&self, key: String) -> Result<u64, PluginError> {
        let host = TestHostClient::bound().map_err(host_error)?;
        Ok(host.get_value(&key).map_err(host_error)? + 1)
    }
    fn value_from_thread(&self, key: String) -> Result<u64, PluginError> {
        std::thread::spawn(move || {
            let host = TestHostClient::bound().map_err(host_error)?;
            host.get_value(&key).map_err(host_error)
        })
        .join()
        .map_err(|_| PluginError::new("THREAD", "the plugin thread panicked"))?
    }
    fn observe_host_panic(&self) -> String {
        match TestHostClient::bound().and_then(|h| h.panicky()) {
            Ok(v) => format!("unexpected {v}"),
            Err(e) => format!("{e:?}"),
        }
    }
    fn host_bound(&self) -> bool {
        TestHostClient::is_bound()
    }
    fn try_release(&self, n: u32) -> String {
        match TestHostClient::bound().and_then(|h| h.release_slot(&n)) {
            Ok(v) => format!("ok:{v}"),
            Err(fidius::HostCallError::Host(e)) => format!("err:{}", e.code),
            Err(e) => format!("other:{e}"),
        }
    }
    fn panic_after_callback(&self) -> u32 {
        let _ = TestHostClient::bound().and_then(|h| h.get_value("x"));
        panic!("plugin panicked after a host call")
    }
    fn add_one(&self, v: u64) -> u64 {
        v + 1
    }
}

fidius::fidius_plugin_registry!();
