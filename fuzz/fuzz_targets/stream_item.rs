//! Stream items and mid-stream errors as a host decodes what a plugin's
//! stream hands it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use fidius_host::stream::decode_wire;
    let _ = decode_wire::<u64>(data);
    let _ = decode_wire::<(u64, String)>(data);
    let _ = decode_wire::<Vec<Vec<u8>>>(data);
    let _ = decode_wire::<fidius_core::PluginError>(data);
});
