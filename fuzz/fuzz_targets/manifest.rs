//! `package.toml`: any text through the manifest parser and its checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = fidius_package::parse_manifest::<toml::Value>(text) {
        let _ = m.package.runtime();
        let _ = m.package.extension();
    }
});
