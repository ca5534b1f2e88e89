//! The fidius wire (bincode 1 legacy with the depth limit): argument tuples,
//! results and errors a plugin or host could send, decoded from any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
enum Shape {
    Unit,
    Point { x: i64, y: Option<f64> },
    Many(Vec<Shape>),
    Named(String, Box<Shape>),
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Record {
    name: String,
    tags: Vec<String>,
    attrs: BTreeMap<String, u32>,
    shape: Shape,
    blob: fidius_core::wire::ByteBuf,
}

fuzz_target!(|data: &[u8]| {
    use fidius_core::wire::deserialize;
    let _ = deserialize::<(i64, i64)>(data);
    let _ = deserialize::<String>(data);
    let _ = deserialize::<Vec<u8>>(data);
    let _ = deserialize::<fidius_core::wire::ByteBuf>(data);
    let _ = deserialize::<Option<Vec<String>>>(data);
    let _ = deserialize::<fidius_core::PluginError>(data);
    let _ = deserialize::<Record>(data);
    let _ = deserialize::<Shape>(data);
    let _ = deserialize::<(u32, Vec<(String, f32)>, char, bool)>(data);
});
