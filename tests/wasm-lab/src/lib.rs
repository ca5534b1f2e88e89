//! Test fixture: the `Lab` interface and `LabPlugin`, a zero-config plugin
//! that builds both as a cdylib and (`--target wasm32-wasip2`) as a WASM
//! component. Its methods exercise every value shape, errors, traps and the
//! sandbox (files, environment, memory, time).

#![allow(unexpected_cfgs)]

use fidius::{plugin_impl, PluginError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// A shape (a WIT variant with unit, single and struct cases).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Shape {
    /// A circle of this radius.
    Circle(f64),
    /// A rectangle.
    Rect {
        /// Width.
        w: f64,
        /// Height.
        h: f64,
    },
    /// Nothing.
    Empty,
}

/// What `describe` returns (a WIT record with a keyword field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// `type` is a WIT keyword (escaped as `%type`).
    pub r#type: String,
    /// Area.
    pub area: f64,
    /// Tags.
    pub tags: Vec<String>,
    /// Optional note.
    pub note: Option<String>,
}

/// The test interface.
#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Lab: Send + Sync {
    /// Adds.
    fn add(&self, a: i64, b: i64) -> i64;
    /// Returns nothing.
    fn ping(&self);
    /// Greets.
    fn greet(&self, name: String) -> String;
    /// Describes a shape.
    fn describe(&self, shape: Shape) -> Summary;
    /// Divides, failing on zero.
    fn checked_div(&self, a: i32, b: i32) -> Result<i32, PluginError>;
    /// Fails when asked to (unit success).
    fn maybe_fail(&self, fail: bool) -> Result<(), PluginError>;
    /// Raw bytes, reversed.
    #[wire(raw)]
    fn reverse(&self, data: Vec<u8>) -> Vec<u8>;
    /// Sums a map by key order.
    fn sorted(&self, m: HashMap<String, u32>) -> Vec<(String, u32)>;
    /// Optional in, optional out.
    fn maybe(&self, x: Option<u8>) -> Option<String>;
    /// Counts to `n` (a runaway loop for big `n`).
    fn spin(&self, n: u64) -> u64;
    /// Allocates and touches `mib` MiB.
    fn hog(&self, mib: u32) -> u32;
    /// Reads a file.
    fn read_file(&self, path: String) -> Result<String, PluginError>;
    /// Reads an environment variable.
    fn env_var(&self, name: String) -> Option<String>;
    /// Panics.
    fn boom(&self, message: String) -> u32;
    /// Counts calls on this instance.
    fn counter(&self) -> u64;
    /// Echoes bytes through a typed `Vec<u8>`.
    fn bytes(&self, data: Vec<u8>) -> Vec<u8>;
    /// Raw bytes, returned as they came (the echo of the benchmarks).
    #[wire(raw)]
    fn echo(&self, data: Vec<u8>) -> Vec<u8>;
}

/// The plugin.
#[derive(Default)]
pub struct LabPlugin {
    calls: AtomicU64,
}

#[plugin_impl(Lab)]
impl Lab for LabPlugin {
    fn add(&self, a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }
    fn ping(&self) {}
    fn greet(&self, name: String) -> String {
        format!("hello, {name}")
    }
    fn describe(&self, shape: Shape) -> Summary {
        let (t, area) = match &shape {
            Shape::Circle(r) => ("circle", std::f64::consts::PI * r * r),
            Shape::Rect { w, h } => ("rect", w * h),
            Shape::Empty => ("empty", 0.0),
        };
        Summary {
            r#type: t.into(),
            area,
            tags: vec![t.to_uppercase()],
            note: matches!(shape, Shape::Empty).then(|| "nothing".into()),
        }
    }
    fn checked_div(&self, a: i32, b: i32) -> Result<i32, PluginError> {
        if b == 0 {
            return Err(PluginError::new("DIV_ZERO", format!("{a} / 0")));
        }
        Ok(a / b)
    }
    fn maybe_fail(&self, fail: bool) -> Result<(), PluginError> {
        if fail {
            Err(PluginError::new("ASKED", "asked to fail"))
        } else {
            Ok(())
        }
    }
    fn reverse(&self, mut data: Vec<u8>) -> Vec<u8> {
        data.reverse();
        data
    }
    fn sorted(&self, m: HashMap<String, u32>) -> Vec<(String, u32)> {
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort();
        v
    }
    fn maybe(&self, x: Option<u8>) -> Option<String> {
        x.map(|v| v.to_string())
    }
    fn spin(&self, n: u64) -> u64 {
        let mut acc = 0u64;
        for i in 0..n {
            acc = std::hint::black_box(acc.wrapping_add(i));
        }
        acc
    }
    fn hog(&self, mib: u32) -> u32 {
        let mut v: Vec<Vec<u8>> = Vec::new();
        for _ in 0..mib {
            v.push(vec![1u8; 1 << 20]);
        }
        v.iter().map(|c| c[0] as u32).sum()
    }
    fn read_file(&self, path: String) -> Result<String, PluginError> {
        std::fs::read_to_string(&path).map_err(|e| PluginError::new("IO", format!("{path}: {e}")))
    }
    fn env_var(&self, name: String) -> Option<String> {
        std::env::var(name).ok()
    }
    fn boom(&self, message: String) -> u32 {
        panic!("{message}")
    }
    fn counter(&self) -> u64 {
        self.calls.fetch_add(1, Ordering::SeqCst) + 1
    }
    fn bytes(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }
    fn echo(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }
}

fidius::fidius_plugin_registry!();

/// Host-side copies of the interfaces of the fidius 0.5 style guests
/// (`tests/interop/legacy-wasm-guest`, `tests/wasm-guests/greeter05`): the
/// same source gives the same hash, so hosts can load those components.
pub mod mirror {
    use fidius::PluginError;
    use serde::{Deserialize, Serialize};

    /// `WasmCalc` of the fidius 0.5 guest.
    #[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
    pub trait WasmCalc: Send + Sync {
        /// Adds.
        fn add(&self, a: i64, b: i64) -> i64;
        /// Greets.
        fn greet(&self, name: String) -> String;
        /// Divides.
        fn safe_div(&self, a: i64, b: i64) -> Result<i64, PluginError>;
        /// Reverses.
        #[wire(raw)]
        fn reverse(&self, data: Vec<u8>) -> Vec<u8>;
    }

    /// A language.
    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub enum Lang {
        /// English.
        En,
        /// French.
        Fr,
        /// Another greeting word.
        Other(String),
    }

    /// A greeting.
    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Greeting {
        /// The text.
        pub text: String,
        /// Its language.
        pub lang: Lang,
        /// Shouted?
        pub exclaim: bool,
    }

    /// The configuration of the greeter guest.
    #[derive(Serialize, Deserialize, Clone, Debug)]
    pub struct GreeterConfig {
        /// Prefix of every greeting.
        pub prefix: String,
        /// Shout.
        pub exclaim: bool,
    }

    /// `Greeter` of the fidius 0.5 style guest.
    #[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
    pub trait Greeter: Send + Sync {
        /// Greets.
        fn greet(&self, name: String, lang: Lang) -> Greeting;
        /// Greets, refusing an empty name.
        fn checked(&self, name: String) -> Result<Greeting, PluginError>;
        /// The configured prefix.
        fn prefix(&self) -> String;
        /// Calls so far on this instance.
        fn calls(&self) -> u32;
    }
}
