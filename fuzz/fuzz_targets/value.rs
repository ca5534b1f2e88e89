//! `fidius_core::Value` (the self-describing value WASM and Python calls
//! carry): JSON text into a `Value`, and a `Value` into typed records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Record {
    a: i64,
    b: Option<String>,
    c: Vec<u8>,
    d: (u16, bool),
}

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<fidius_core::Value>(data) else {
        return;
    };
    let _ = v.kind();
    let _ = fidius_core::from_value::<Record>(v.clone());
    let _ = fidius_core::from_value::<Vec<Option<u64>>>(v.clone());
    let _ = fidius_core::from_value::<String>(v.clone());
    if let Ok(back) = fidius_core::to_value(&v) {
        assert_eq!(back, v, "a Value survives to_value unchanged");
    }
});
