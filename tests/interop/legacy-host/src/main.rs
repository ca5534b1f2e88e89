//! A host built with fidius 0.5.9 (crates.io). It loads a plugin library
//! built by this project (path in argv[1]'s directory) and checks typed,
//! raw, Arena, optional, metadata and configured calls. Exit 0 = all passed.

#![allow(unexpected_cfgs)]

use fidius::{PluginHandle, PluginHost};
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GreetConfig {
    pub greeting: String,
}

// The same interface sources as the project's fixture: the hashes computed by
// fidius 0.5.9's macro must equal the ones in the project's descriptors.
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

#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait BytePipe: Send + Sync {
    #[wire(raw)]
    fn reverse(&self, input: Vec<u8>) -> Vec<u8>;
    fn name(&self) -> String;
}

#[fidius::plugin_interface(version = 1, buffer = Arena)]
pub trait ArenaEcho: Send + Sync {
    fn echo(&self, input: String) -> String;
    fn fill(&self, n: u32) -> Vec<u8>;
    fn explode(&self) -> String;
    fn counted(&self, n: u32) -> (u64, Vec<u8>);
}

#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Greeter: Send + Sync {
    fn greet(&self, name: String) -> String;
}

fn check(ok: bool, what: &str, n: &mut u32) {
    if !ok {
        eprintln!("FAILED: {what}");
        std::process::exit(1);
    }
    println!("ok: {what}");
    *n += 1;
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: legacy-host <plugin-dir>");
    let host = PluginHost::builder().search_path(&dir).build().expect("host");
    let mut n = 0;

    let infos = host.discover().expect("discover");
    check(infos.iter().any(|i| i.name == "BasicCalculator"), "discover lists BasicCalculator", &mut n);

    let loaded = host.load("BasicCalculator").expect("load BasicCalculator");
    check(
        loaded.info.interface_hash == __fidius_Calculator::Calculator_INTERFACE_HASH,
        "Calculator hash matches fidius 0.5.9's",
        &mut n,
    );
    let calc = PluginHandle::from_loaded(loaded);
    let out: AddOutput = calc.call_method(__fidius_Calculator::METHOD_ADD, &(AddInput { a: 2, b: 3 },)).expect("add");
    check(out.result == 5, "typed add", &mut n);
    let sum: i64 = calc.call_method(__fidius_Calculator::METHOD_ADD_DIRECT, &(40i64, 2i64)).expect("add_direct");
    check(sum == 42, "add_direct (impl order differs from trait order)", &mut n);
    let v: String = calc.call_method(__fidius_Calculator::METHOD_VERSION, &()).expect("version");
    check(v == "1.0.0", "version", &mut n);
    check(calc.has_capability(0), "optional multiply capability bit", &mut n);
    let m: AddOutput = calc.call_method(__fidius_Calculator::METHOD_MULTIPLY, &(AddInput { a: 6, b: 7 },)).expect("multiply");
    check(m.result == 42, "optional multiply", &mut n);
    let meta = calc.method_metadata(0);
    check(meta.contains(&("effect", "pure")), "method metadata", &mut n);
    let tmeta = calc.trait_metadata();
    check(tmeta.contains(&("kind", "calculator")), "trait metadata", &mut n);

    let loaded = host.load("ReverseBytes").expect("load ReverseBytes");
    check(loaded.info.interface_hash == 0xDF233D1A5936EB5C, "BytePipe golden hash", &mut n);
    let pipe = PluginHandle::from_loaded(loaded);
    check(pipe.call_method_raw(0, b"abc").expect("reverse") == b"cba", "raw reverse", &mut n);
    let name: String = pipe.call_method(1, &()).expect("name");
    check(name == "reverse-bytes", "typed name on a raw interface", &mut n);

    let loaded = host.load("ArenaEchoer").expect("load ArenaEchoer");
    check(loaded.info.interface_hash == __fidius_ArenaEcho::ArenaEcho_INTERFACE_HASH, "ArenaEcho hash", &mut n);
    let arena = PluginHandle::from_loaded(loaded);
    let e: String = arena.call_method(0, &("hi".to_string(),)).expect("echo");
    check(e == "hi", "arena echo", &mut n);
    let big: Vec<u8> = arena.call_method(1, &(100_000u32,)).expect("fill");
    check(big.len() == 100_000 && big.iter().all(|b| *b == 0xAB), "arena grow and retry", &mut n);
    check(arena.call_method::<_, String>(2, &()).is_err(), "arena panic is an error", &mut n);

    let loaded = host.load("ConfiguredGreeter").expect("load ConfiguredGreeter");
    let greeter = PluginHandle::configure_from_loaded(loaded, &GreetConfig { greeting: "Hello".into() }).expect("configure");
    let g: String = greeter.call_method(0, &("Ada".to_string(),)).expect("greet");
    check(g == "Hello, Ada!", "configured instance", &mut n);

    // A server stream of this project's plugin, consumed by fidius 0.5.9's host.
    let loaded = host.load("TickerImpl").expect("load TickerImpl");
    check(loaded.info.interface_hash == 0xFD152C8AA1112FC3, "Ticker golden hash", &mut n);
    let ticker = PluginHandle::from_loaded(loaded);
    let items: Vec<u64> = futures::executor::block_on(async {
        use futures::StreamExt;
        let mut s = ticker.call_streaming::<_, u64>(0, &(4u32,)).await.expect("call_streaming");
        let mut out = Vec::new();
        while let Some(v) = s.next().await {
            out.push(fidius::from_value::<u64>(v.expect("item")).expect("u64 item"));
        }
        out
    });
    check(items == [0, 1, 2, 3], "server stream read by fidius 0.5.9's host", &mut n);

    println!("legacy host: all {n} checks passed");
}
