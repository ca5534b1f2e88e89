//! Interfaces with no WIT form fail to build for wasm32 with a fidius
//! diagnostic that names the type (and what is supported) or the clash,
//! while the same crate builds natively.

use std::path::Path;
use std::process::Command;

#[test]
fn unsupported_types_and_name_clashes_are_fidius_compile_errors_on_wasm_only() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/wasm-guests/bad-types");
    let target = fidius_test::fixture_target_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let build = |wasm: bool| {
        let mut c = Command::new(&cargo);
        c.arg("build")
            .arg("--manifest-path")
            .arg(dir.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target);
        if wasm {
            c.args(["--target", "wasm32-wasip2"]);
        }
        c.output().unwrap()
    };
    let native = build(false);
    assert!(
        native.status.success(),
        "{}",
        String::from_utf8_lossy(&native.stderr)
    );
    let wasm = build(true);
    assert!(!wasm.status.success());
    let err = String::from_utf8_lossy(&wasm.stderr);
    assert!(
        err.contains("`Wide` cannot be served by a WASM component: `u128` cannot be expressed in WIT (WIT has no 128-bit integers")
            && err.contains("supported: bool"),
        "{err}"
    );
    assert!(
        err.contains("method `config` and type `Config` both map to the WIT name `config`; rename one of them"),
        "{err}"
    );
}
