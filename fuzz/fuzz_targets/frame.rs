//! Process-tier frames: any payload as a message from a runner child (or to
//! one), as the host and the runner decode their channel.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fidius_host::process::__fuzz_decode_frame(data);
});
