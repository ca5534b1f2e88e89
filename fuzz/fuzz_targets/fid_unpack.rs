//! `.fid` archives: any bytes unpacked with small limits into a fresh
//! directory; nothing may land outside it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = dir.path().join("x.fid");
    std::fs::write(&archive, data).expect("write archive");
    let dest = dir.path().join("out");
    let opts = fidius_package::UnpackOptions {
        max_decompressed: 1 << 20,
        max_entries: 64,
        ..Default::default()
    };
    if let Ok(pkg) = fidius_package::unpack_package_with_options(&archive, &dest, &opts) {
        assert!(pkg.starts_with(&dest), "unpacked outside the destination");
    }
    // Only the archive and the destination: nothing escaped.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read temp dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(names.len() <= 2, "{names:?}");
});
