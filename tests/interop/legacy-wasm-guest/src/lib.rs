//! A WASM guest written for fidius 0.5: `fidius-guest`, `fidius-macro` and
//! `wit-bindgen` as dependencies, both attributes with `crate = "fidius_guest"`.
//! The same file is built against fidius 0.5.9 (tests/interop) and against
//! our crates (tests/wasm-guests/calc05).

use fidius_guest::PluginError;
use fidius_macro::{plugin_impl, plugin_interface};

#[plugin_interface(version = 1, buffer = PluginAllocated, crate = "fidius_guest")]
pub trait WasmCalc: Send + Sync {
    fn add(&self, a: i64, b: i64) -> i64;
    fn greet(&self, name: String) -> String;
    fn safe_div(&self, a: i64, b: i64) -> Result<i64, PluginError>;
    #[wire(raw)]
    fn reverse(&self, data: Vec<u8>) -> Vec<u8>;
}

pub struct CalcGuest;

#[plugin_impl(WasmCalc, crate = "fidius_guest")]
impl WasmCalc for CalcGuest {
    fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    fn greet(&self, name: String) -> String {
        format!("hi {name}")
    }
    fn safe_div(&self, a: i64, b: i64) -> Result<i64, PluginError> {
        if b == 0 {
            Err(PluginError::new("DIV_ZERO", "division by zero"))
        } else {
            Ok(a / b)
        }
    }
    fn reverse(&self, data: Vec<u8>) -> Vec<u8> {
        data.into_iter().rev().collect()
    }
}
