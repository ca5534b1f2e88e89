//! WASM interoperability with fidius 0.5.9 both ways, and fidius 0.5 guest
//! sources (fidius-guest + fidius-macro + wit-bindgen, `crate = "fidius_guest"`,
//! `#[derive(WitType)]` with a fidius-build script) compiled against our crates.

#![cfg(feature = "wasm")]

use fidius_host::{CallError, PluginHost};
use fidius_test::{wasm_fixture, wasm_package};
use std::path::{Path, PathBuf};
use std::process::Command;
use wasm_lab::mirror::{Greeter, GreeterClient, GreeterConfig, Greeting, Lang, WasmCalcClient};

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests")
}

fn interop_target() -> PathBuf {
    fidius_test::fixture_target_dir().join("interop")
}

fn host(dir: &Path) -> PluginHost {
    PluginHost::builder()
        .search_path(dir)
        .wasm_cache_dir(None)
        .build()
        .unwrap()
}

fn check_calc(calc: &WasmCalcClient) {
    assert_eq!(calc.add(&40, &2).unwrap(), 42);
    assert_eq!(calc.greet("you").unwrap(), "hi you");
    assert_eq!(calc.safe_div(&9, &3).unwrap(), 3);
    assert!(matches!(calc.safe_div(&1, &0), Err(CallError::Plugin(e)) if e.code == "DIV_ZERO"));
    assert_eq!(calc.reverse(b"abc").unwrap(), b"cba");
}

#[test]
fn our_host_loads_a_component_built_by_fidius_059() {
    let component = wasm_fixture(tests_dir().join("interop/legacy-wasm-guest"))
        .target_dir(interop_target())
        .build()
        .into_path();
    let dir = tempfile::tempdir().unwrap();
    wasm_package(dir.path(), "calc", &component, &[], "");
    check_calc(&WasmCalcClient::load(&host(dir.path()), "calc").unwrap());
}

#[test]
fn a_fidius_05_guest_source_builds_unchanged_against_our_crates() {
    let component = wasm_fixture(tests_dir().join("wasm-guests/calc05"))
        .build()
        .into_path();
    let dir = tempfile::tempdir().unwrap();
    wasm_package(dir.path(), "calc", &component, &[], "");
    check_calc(&WasmCalcClient::load(&host(dir.path()), "calc").unwrap());
}

#[test]
fn fidius_059s_host_loads_our_component() {
    let component = wasm_fixture(tests_dir().join("wasm-guests/calc05"))
        .build()
        .into_path();
    let dir = tempfile::tempdir().unwrap();
    wasm_package(dir.path(), "calc", &component, &[], "");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["run", "--quiet", "--manifest-path"])
        .arg(tests_dir().join("interop/legacy-wasm-host/Cargo.toml"))
        .arg("--target-dir")
        .arg(interop_target())
        .arg("--")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fidius 0.5.9 host failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "add 42",
            "greet hi 0.5.9",
            "safe_div 3",
            "safe_div_err DIV_ZERO",
            "reverse cba"
        ]
    );
}

#[test]
fn a_configured_fidius_05_style_guest_with_records_and_variants() {
    let component = wasm_fixture(tests_dir().join("wasm-guests/greeter05"))
        .build()
        .into_path();
    let dir = tempfile::tempdir().unwrap();
    wasm_package(dir.path(), "greeter", &component, &[], "");
    let h = host(dir.path());
    let cfg = |p: &str| GreeterConfig {
        prefix: p.into(),
        exclaim: true,
    };
    let a = GreeterClient::load_configured(&h, "greeter", &cfg("A")).unwrap();
    let b = GreeterClient::load_configured(&h, "greeter", &cfg("B")).unwrap();
    assert_eq!(
        a.greet("x", &Lang::Fr).unwrap(),
        Greeting {
            text: "A bonjour x".into(),
            lang: Lang::Fr,
            exclaim: true
        }
    );
    assert_eq!(
        b.greet("y", &Lang::Other("hej".into())).unwrap().text,
        "B hej y"
    );
    assert_eq!(a.prefix().unwrap(), "A");
    assert_eq!(b.prefix().unwrap(), "B", "two configured instances coexist");
    assert_eq!(
        a.calls().unwrap(),
        1,
        "a configured instance keeps its state"
    );
    assert!(matches!(a.checked(""), Err(CallError::Plugin(e)) if e.code == "EMPTY"));
    assert_eq!(a.checked("z").unwrap().text, "A hello z");
    // A zero-config load of a configured plugin traps in the guest: a typed error.
    let unconfigured = GreeterClient::load(&h, "greeter").unwrap();
    match unconfigured.prefix() {
        Err(CallError::Panic(m)) => assert!(m.contains("configure"), "{m}"),
        other => panic!("expected a panic error, got {other:?}"),
    }
    // The fidius-build script wrote the world for tools.
    let wit =
        std::fs::read_to_string(tests_dir().join("wasm-guests/greeter05/wit/greeter.wit")).unwrap();
    assert!(wit.contains("variant lang"), "{wit}");
    let _: fn(&dyn Greeter) = |_| {};
}
