//! Binary interoperability with fidius 0.5.9 from crates.io, both ways:
//! a plugin built by fidius 0.5.9 loaded by our host, and our plugin loaded
//! by fidius 0.5.9's host. Fixtures live in `tests/interop` (own workspace).

use fidius_host::{CallError, PluginHandle, PluginHost};
use std::path::{Path, PathBuf};
use std::process::Command;
use test_plugin_smoke::*;

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop")
}

fn interop_target() -> PathBuf {
    fidius_test::fixture_target_dir().join("interop")
}

fn legacy_plugin_dir() -> tempfile::TempDir {
    let lib = fidius_test::dylib_fixture(interop_dir().join("legacy-plugin"))
        .target_dir(interop_target())
        .build()
        .into_path();
    let dir = tempfile::tempdir().unwrap();
    fidius_test::copy_into(&lib, dir.path());
    dir
}

#[test]
fn our_host_loads_a_fidius_059_plugin() {
    let dir = legacy_plugin_dir();
    let host = PluginHost::builder()
        .search_path(dir.path())
        .build()
        .unwrap();
    let mut names: Vec<String> = host
        .discover()
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "LegacyArena",
            "LegacyCalculator",
            "LegacyGreeter",
            "LegacyReverse",
            "LegacyTicker"
        ]
    );
    // A fidius 0.5.9 server stream (golden Ticker hash) through our host.
    let ticker = TickerClient::load(&host, "LegacyTicker").unwrap();
    let items: Vec<u64> = ticker.tick(&5).unwrap().map(Result::unwrap).collect();
    assert_eq!(items, [0, 100, 200, 300, 400]);

    // Same interface source, same hash: our generated clients accept it.
    let calc = CalculatorClient::load(&host, "LegacyCalculator").unwrap();
    assert_eq!(
        calc.add(&AddInput { a: 2, b: 3 }).unwrap(),
        AddOutput { result: 5 }
    );
    assert_eq!(calc.add_direct(&40, &2).unwrap(), 42);
    assert_eq!(calc.version().unwrap(), "legacy-0.5.9");
    assert_eq!(
        calc.multiply(&AddInput { a: 6, b: 7 }).unwrap(),
        AddOutput { result: 42 }
    );
    let h = calc.handle();
    assert!(h.has_capability(0));
    assert_eq!(h.method_kind(0), None, "fidius 0.5 records no call kinds");
    assert_eq!(h.method_metadata(0), vec![("effect", "pure")]);
    assert_eq!(h.method_metadata(3), vec![("cost", "high")]);
    assert_eq!(
        h.trait_metadata(),
        vec![("kind", "calculator"), ("stability", "stable")]
    );

    let pipe = BytePipeClient::load(&host, "LegacyReverse").unwrap();
    assert_eq!(pipe.handle().info().interface_hash, 0xDF233D1A5936EB5C);
    assert_eq!(pipe.reverse(b"abc").unwrap(), b"cba");
    let big: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
    let mut rev = big.clone();
    rev.reverse();
    assert_eq!(pipe.reverse(&big).unwrap(), rev);
    assert_eq!(pipe.name().unwrap(), "legacy-reverse");

    let arena = ArenaEchoClient::load(&host, "LegacyArena").unwrap();
    assert_eq!(arena.echo("hi").unwrap(), "hi");
    assert_eq!(arena.fill(&100_000).unwrap().len(), 100_000);
    assert!(matches!(arena.explode(), Err(CallError::Panic(_))));

    let greeter = PluginHandle::configure_from_loaded(
        host.load("LegacyGreeter").unwrap(),
        &GreetConfig {
            greeting: "Hello".into(),
        },
    )
    .unwrap();
    let greeter = GreeterClient::try_from_handle(greeter).unwrap();
    assert_eq!(greeter.greet("Ada").unwrap(), "Hello, Ada!");
}

#[test]
fn fidius_059_host_loads_our_plugin() {
    let ours = fidius_test::dylib_fixture(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/test-plugin-smoke"),
    )
    .build()
    .into_path();
    let dir = tempfile::tempdir().unwrap();
    fidius_test::copy_into(&ours, dir.path());
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let build = Command::new(&cargo)
        .args(["build", "--quiet", "-p", "legacy-host", "--manifest-path"])
        .arg(interop_dir().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(interop_target())
        .status()
        .expect("cargo");
    assert!(build.success(), "building the fidius 0.5.9 host failed");
    let exe = interop_target()
        .join("debug")
        .join(format!("legacy-host{}", std::env::consts::EXE_SUFFIX));
    let out = Command::new(exe)
        .arg(dir.path())
        .output()
        .expect("run legacy-host");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fidius 0.5.9 host failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all 19 checks passed"), "{stdout}");
}
