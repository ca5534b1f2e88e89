//! End to end over a real cdylib: build the fixture plugin library, load it
//! with `dlopen` through `PluginHost`, and call every kind of method.

use fidius_host::{CallError, LoadError, PluginHandle, PluginHost};
use std::path::{Path, PathBuf};
use test_plugin_smoke::*;

fn fixture() -> PathBuf {
    fidius_test::dylib_fixture(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/test-plugin-smoke"),
    )
    .build()
    .into_path()
}

fn plugin_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let lib = fidius_test::copy_into(&fixture(), dir.path());
    (dir, lib)
}

fn host(dir: &Path) -> PluginHost {
    PluginHost::builder().search_path(dir).build().unwrap()
}

#[test]
fn discover_lists_every_plugin_in_the_library() {
    let (dir, _) = plugin_dir();
    let mut names: Vec<String> = host(dir.path())
        .discover()
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ArenaEchoer",
            "BasicCalculator",
            "ConfiguredGreeter",
            "DeferrableImpl",
            "FallibleImpl",
            "ReverseBytes",
            "StreamWorksImpl",
            "TickerImpl"
        ]
    );
}

#[test]
fn calculator_typed_calls_and_metadata() {
    let (dir, _) = plugin_dir();
    let host = host(dir.path());
    let calc = CalculatorClient::load(&host, "BasicCalculator").unwrap();
    // The impl lists methods in another order than the trait: slots must follow the trait.
    assert_eq!(
        calc.add(&AddInput { a: 2, b: 3 }).unwrap(),
        AddOutput { result: 5 }
    );
    assert_eq!(calc.add_direct(&40, &2).unwrap(), 42);
    assert_eq!(calc.version().unwrap(), "1.0.0");
    assert_eq!(
        calc.multiply(&AddInput { a: 6, b: 7 }).unwrap(),
        AddOutput { result: 42 }
    );
    let h = calc.handle();
    assert_eq!(h.info().interface_name, "Calculator");
    assert_eq!(h.info().interface_hash, 0x770797eb64292721);
    assert!(h.has_capability(0));
    assert!(!h.has_capability(1));
    assert!(!h.has_capability(64));
    assert_eq!(
        h.trait_metadata(),
        vec![("kind", "calculator"), ("stability", "stable")]
    );
    assert_eq!(h.method_metadata(0), vec![("effect", "pure")]);
    assert_eq!(h.method_metadata(3), vec![("cost", "high")]);
    assert!(h.method_metadata(1).is_empty());
    assert!(h.method_metadata(99).is_empty());
    assert_eq!(h.method_kind(0), Some(fidius_core::MethodKind::Unary));
}

#[test]
fn raw_and_golden_hash() {
    let (dir, _) = plugin_dir();
    let pipe = BytePipeClient::load(&host(dir.path()), "ReverseBytes").unwrap();
    assert_eq!(pipe.handle().info().interface_hash, 0xDF233D1A5936EB5C);
    assert_eq!(pipe.reverse(b"abc").unwrap(), b"cba");
    let big: Vec<u8> = (0..2 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut rev = big.clone();
    rev.reverse();
    assert_eq!(pipe.reverse(&big).unwrap(), rev);
    assert_eq!(pipe.name().unwrap(), "reverse-bytes");
    // Wrong call kinds are typed errors, not undefined behaviour.
    let h = pipe.handle();
    assert!(matches!(
        h.call_method::<_, Vec<u8>>(0, &(vec![1u8],)),
        Err(CallError::CallKindMismatch { index: 0, .. })
    ));
    assert!(matches!(
        h.call_method_raw(1, b""),
        Err(CallError::CallKindMismatch { index: 1, .. })
    ));
    assert!(matches!(
        h.call_method_raw(7, b""),
        Err(CallError::InvalidMethodIndex { index: 7, count: 2 })
    ));
}

#[test]
fn arena_strategy_grows_without_rerunning() {
    let (dir, _) = plugin_dir();
    let echo = ArenaEchoClient::load(&host(dir.path()), "ArenaEchoer").unwrap();
    assert_eq!(echo.echo("hello").unwrap(), "hello");
    assert_eq!(echo.fill(&100_000).unwrap(), vec![0xAB; 100_000]);
    let (runs1, bytes) = echo.counted(&10).unwrap();
    assert_eq!(bytes.len(), 10);
    let (runs2, bytes) = echo.counted(&50_000).unwrap();
    assert_eq!(bytes.len(), 50_000);
    assert_eq!(
        runs2,
        runs1 + 1,
        "a grown arena must not run the method twice"
    );
    match echo.explode() {
        Err(CallError::Panic(msg)) => assert!(msg.contains("arena boom"), "{msg}"),
        other => panic!("expected a panic error, got {other:?}"),
    }
}

#[test]
fn results_panics_async_borrowed_unit_and_missing_optional() {
    let (dir, _) = plugin_dir();
    let f = FallibleClient::load(&host(dir.path()), "FallibleImpl").unwrap();
    assert_eq!(f.check(&4).unwrap(), "v4");
    match f.check(&3) {
        Err(CallError::Plugin(e)) => {
            assert_eq!(e.code, "ODD");
            assert_eq!(e.to_string(), "[ODD] 3 is odd");
        }
        other => panic!("expected a plugin error, got {other:?}"),
    }
    match f.boom("kaboom") {
        Err(CallError::Panic(msg)) => assert_eq!(msg, "kaboom"),
        other => panic!("expected a panic, got {other:?}"),
    }
    assert_eq!(f.slow_double(&21).unwrap(), 42);
    assert_eq!(f.count("héllo", b"12345678").unwrap(), (5, 8));
    assert_eq!(f.parse_raw(b"abc").unwrap(), b"ABC");
    match f.parse_raw(b"") {
        Err(CallError::Plugin(e)) => assert_eq!(e.details_value().unwrap()["len"], 0),
        other => panic!("expected a plugin error, got {other:?}"),
    }
    f.touch().unwrap();
    // Outputs of every size class (scratch, pooled block, large buffer), repeated
    // so pooled buffers are reused, from several threads at once.
    let f = std::sync::Arc::new(f);
    let threads: Vec<_> = (0..3u8)
        .map(|t| {
            let f = f.clone();
            std::thread::spawn(move || {
                for round in 0..20u8 {
                    for n in [0u32, 1, 40, 64, 100, 4000, 4096, 4097, 70_000, 300_000] {
                        let seed = t.wrapping_mul(31).wrapping_add(round);
                        let got = f.blob(&n, &seed).unwrap();
                        assert_eq!(got.len(), n as usize);
                        assert!(got
                            .iter()
                            .enumerate()
                            .all(|(i, b)| *b == (i as u8).wrapping_add(seed)));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let f = std::sync::Arc::try_unwrap(f).unwrap();
    assert!(matches!(
        f.extra(),
        Err(CallError::NotImplemented { bit: 0 })
    ));
    assert_eq!(f.handle().info().interface_version, 3);
}

#[test]
fn configured_instances_coexist() {
    let (dir, _) = plugin_dir();
    let host = host(dir.path());
    let hello = PluginHandle::configure_from_loaded(
        host.load("ConfiguredGreeter").unwrap(),
        &GreetConfig {
            greeting: "Hello".into(),
        },
    )
    .unwrap();
    let hi = PluginHandle::configure_from_loaded(
        host.load("ConfiguredGreeter").unwrap(),
        &GreetConfig {
            greeting: "Hi".into(),
        },
    )
    .unwrap();
    let hello = GreeterClient::from_handle(hello);
    let hi = GreeterClient::from_handle(hi);
    assert_eq!(hello.greet("Ada").unwrap(), "Hello, Ada!");
    assert_eq!(hi.greet("Bob").unwrap(), "Hi, Bob!");
    // A config that does not decode is a load error, not a null instance.
    let err = PluginHandle::configure_from_loaded(host.load("ConfiguredGreeter").unwrap(), &7u8)
        .unwrap_err();
    match &err {
        LoadError::ConstructFailed { plugin, reason } => {
            assert_eq!(plugin, "ConfiguredGreeter");
            assert!(
                reason.contains("did not decode") && reason.contains("GreetConfig"),
                "{reason}"
            );
        }
        other => panic!("expected ConstructFailed, got {other}"),
    }
    // The typed client does both steps and checks the interface.
    let typed = GreeterClient::load_configured(
        &host,
        "ConfiguredGreeter",
        &GreetConfig {
            greeting: "Hey".into(),
        },
    )
    .unwrap();
    assert_eq!(typed.greet("Cy").unwrap(), "Hey, Cy!");
}

#[test]
fn interface_gates() {
    let (dir, _) = plugin_dir();
    let host = host(dir.path());
    // Loading a plugin as the wrong interface is refused.
    let err = CalculatorClient::load(&host, "ReverseBytes").unwrap_err();
    assert!(
        matches!(err, LoadError::InterfaceHashMismatch { .. }),
        "{err}"
    );
    let err = GreeterClient::load(&host, "ArenaEchoer").unwrap_err();
    assert!(
        matches!(err, LoadError::InterfaceHashMismatch { .. }),
        "{err}"
    );
    assert!(matches!(
        host.load("Nope"),
        Err(LoadError::PluginNotFound { .. })
    ));
    // The public fields of a LoadedPlugin are a copy for reading: changing
    // them (a safe operation) cannot make calls unsound or pass a check.
    let lib = fidius_host::load_library(&fixture()).unwrap();
    let mut plugin = lib
        .plugins
        .into_iter()
        .find(|p| p.info.name == "BasicCalculator")
        .unwrap();
    let real = plugin.info.clone();
    plugin.info.buffer_strategy = match real.buffer_strategy {
        fidius_core::BufferStrategyKind::Arena => fidius_core::BufferStrategyKind::PluginAllocated,
        fidius_core::BufferStrategyKind::PluginAllocated => fidius_core::BufferStrategyKind::Arena,
    };
    plugin.info.interface_version += 1;
    plugin.info.interface_hash ^= 1;
    plugin.descriptor = std::ptr::null();
    plugin.vtable = std::ptr::null();
    plugin.free_buffer = None;
    plugin.method_count = 0;
    let handle = PluginHandle::try_from_loaded(plugin).unwrap();
    assert_eq!(handle.info().buffer_strategy, real.buffer_strategy);
    assert_eq!(handle.info().interface_version, real.interface_version);
    let calc = CalculatorClient::try_from_handle(handle).unwrap();
    assert_eq!(calc.add_direct(&40, &2).unwrap(), 42);
    let strict = PluginHost::builder()
        .search_path(dir.path())
        .interface_hash(CalculatorClient::INTERFACE_HASH)
        .build()
        .unwrap();
    let found: Vec<String> = strict
        .discover()
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(found, ["BasicCalculator"]);
    assert!(matches!(
        strict.load("ReverseBytes"),
        Err(LoadError::InterfaceHashMismatch { .. })
    ));
}

#[test]
fn concurrent_calls_from_many_threads() {
    let (dir, _) = plugin_dir();
    let calc =
        std::sync::Arc::new(CalculatorClient::load(&host(dir.path()), "BasicCalculator").unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let calc = calc.clone();
            std::thread::spawn(move || {
                for i in 0..1000i64 {
                    assert_eq!(calc.add_direct(&i, &t).unwrap(), i + t);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
