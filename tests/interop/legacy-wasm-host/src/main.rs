//! fidius 0.5.9's host loads the WASM package in the directory given as
//! the first argument and calls every method of `WasmCalc`, printing one
//! line per result (the test compares them).

#![allow(unexpected_cfgs)]

use fidius::PluginError;

#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait WasmCalc: Send + Sync {
    fn add(&self, a: i64, b: i64) -> i64;
    fn greet(&self, name: String) -> String;
    fn safe_div(&self, a: i64, b: i64) -> Result<i64, PluginError>;
    #[wire(raw)]
    fn reverse(&self, data: Vec<u8>) -> Vec<u8>;
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: legacy-wasm-host <search dir>")?;
    let host = fidius_host::PluginHost::builder().search_path(&dir).build()?;
    let h = host.load_wasm("calc", &__fidius_WasmCalc::WasmCalc_WASM_DESCRIPTOR)?;
    let sum: i64 = h.call_method(__fidius_WasmCalc::METHOD_ADD, &(40i64, 2i64))?;
    println!("add {sum}");
    let g: String = h.call_method(__fidius_WasmCalc::METHOD_GREET, &("0.5.9".to_string(),))?;
    println!("greet {g}");
    let q: i64 = h.call_method(__fidius_WasmCalc::METHOD_SAFE_DIV, &(9i64, 3i64))?;
    println!("safe_div {q}");
    match h.call_method::<_, i64>(__fidius_WasmCalc::METHOD_SAFE_DIV, &(1i64, 0i64)) {
        Err(fidius::CallError::Plugin(e)) => println!("safe_div_err {}", e.code),
        other => println!("safe_div_err unexpected {other:?}"),
    }
    let r = h.call_method_raw(__fidius_WasmCalc::METHOD_REVERSE, b"abc")?;
    println!("reverse {}", String::from_utf8_lossy(&r));
    Ok(())
}
