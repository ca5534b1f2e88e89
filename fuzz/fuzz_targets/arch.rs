//! The architecture sniffer: any bytes as a would-be library file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fidius_host::arch::check_bytes(std::path::Path::new("fuzz.so"), data);
});
