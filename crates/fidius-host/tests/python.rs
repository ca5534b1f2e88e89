//! Python plugins through the public API: real packages (tests/python-plugins)
//! with the SDK vendored, loaded by name, by generated clients and by the
//! fidius 0.5 entry points; errors, configured instances, raw bytes,
//! signatures and the package contract.
#![cfg(feature = "python")]

use fidius_host::{CallError, LoadError, PluginHost, PluginRuntimeKind};
use fidius_test::{fixture_keypair, fixture_keypair_with_seed, python_package};
use std::path::{Path, PathBuf};
use test_plugin_smoke::__fidius_BytePipe::BytePipe_PYTHON_DESCRIPTOR;
use test_plugin_smoke::__fidius_Calculator::Calculator_PYTHON_DESCRIPTOR;
use test_plugin_smoke::__fidius_Fallible::Fallible_PYTHON_DESCRIPTOR;
use test_plugin_smoke::__fidius_Greeter::Greeter_PYTHON_DESCRIPTOR;
use test_plugin_smoke::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/python-plugins")
        .join(name)
}

/// A search path with the four fixture packages, each with its interface's hash.
fn packages() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, hash) in [
        ("calculator", Calculator_PYTHON_DESCRIPTOR.interface_hash),
        ("fallible", Fallible_PYTHON_DESCRIPTOR.interface_hash),
        ("greeter", Greeter_PYTHON_DESCRIPTOR.interface_hash),
        ("bytepipe", BytePipe_PYTHON_DESCRIPTOR.interface_hash),
    ] {
        python_package(dir.path(), &fixture(name), hash);
    }
    dir
}

fn host(dir: &Path) -> PluginHost {
    PluginHost::builder().search_path(dir).build().unwrap()
}

#[test]
fn clients_load_python_packages_by_name() {
    let dir = packages();
    let host = host(dir.path());
    let calc = CalculatorClient::load(&host, "py-calc").unwrap();
    assert_eq!(
        calc.add(&AddInput { a: 2, b: 40 }).unwrap(),
        AddOutput { result: 42 }
    );
    assert_eq!(calc.add_direct(&-5, &3).unwrap(), -2);
    assert_eq!(calc.version().unwrap(), "py-1.0");
    assert_eq!(calc.multiply(&AddInput { a: 6, b: 7 }).unwrap().result, 42);
    assert_eq!(calc.handle().info().runtime, PluginRuntimeKind::Python);
    assert_eq!(calc.handle().info().name, "py-calc");

    let found = host.discover().unwrap();
    let py: Vec<_> = found
        .iter()
        .filter(|p| p.runtime == PluginRuntimeKind::Python)
        .map(|p| p.name.as_str())
        .collect();
    for name in ["py-calc", "py-fallible", "py-greeter", "py-pipe"] {
        assert!(py.contains(&name), "{name} missing from {py:?}");
    }
}

#[test]
fn fidius_05_entry_points() {
    let dir = packages();
    let host = host(dir.path());
    assert!(host
        .find_python_package("py-calc")
        .unwrap()
        .ends_with("calculator"));
    let handle = host
        .load_python("py-calc", &Calculator_PYTHON_DESCRIPTOR)
        .unwrap();
    let out: i64 = handle
        .call_method(__fidius_Calculator::METHOD_ADD_DIRECT, &(20i64, 22i64))
        .unwrap();
    assert_eq!(out, 42);
    assert!(matches!(
        handle.call_method::<_, i64>(99, &()),
        Err(CallError::InvalidMethodIndex { index: 99, .. })
    ));
    assert!(matches!(
        host.load_python("nope", &Calculator_PYTHON_DESCRIPTOR),
        Err(LoadError::PluginNotFound { .. })
    ));
}

#[test]
fn errors_unit_tuples_and_bytes() {
    let dir = packages();
    let host = host(dir.path());
    let f = FallibleClient::load(&host, "py-fallible").unwrap();
    assert_eq!(f.check(&4).unwrap(), "v4");
    match f.check(&3) {
        Err(CallError::Plugin(e)) => {
            assert_eq!(e.code, "ODD");
            assert_eq!(e.message, "3 is odd");
            assert_eq!(e.details_value().unwrap()["n"], 3);
        }
        other => panic!("expected a plugin error, got {other:?}"),
    }
    match f.boom("kaput") {
        Err(CallError::Plugin(e)) => {
            assert_eq!(e.code, "ValueError");
            assert_eq!(e.message, "kaput");
            let tb = e.details_value().unwrap()["traceback"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(
                tb.contains("fallible.py") && tb.contains("ValueError"),
                "{tb}"
            );
        }
        other => panic!("expected a plugin error, got {other:?}"),
    }
    f.touch().unwrap();
    assert_eq!(f.slow_double(&21).unwrap(), 42);
    assert_eq!(f.count("héllo", &[1, 2, 3]).unwrap(), (5, 3));
    let blob = f.blob(&300, &250).unwrap();
    assert_eq!(blob.len(), 300);
    assert_eq!(&blob[..7], &[250, 251, 252, 253, 254, 255, 0]);
    assert_eq!(f.parse_raw(b"abc").unwrap(), b"ABC");
    match f.parse_raw(b"") {
        Err(CallError::Plugin(e)) => assert_eq!(e.code, "EMPTY"),
        other => panic!("expected a plugin error, got {other:?}"),
    }
    // The host survives and the plugin keeps working after errors.
    assert_eq!(f.check(&10).unwrap(), "v10");
}

#[test]
fn raw_bytes_and_wire_modes() {
    let dir = packages();
    let host = host(dir.path());
    let pipe = BytePipeClient::load(&host, "py-pipe").unwrap();
    assert_eq!(pipe.name().unwrap(), "py-pipe");
    let big: Vec<u8> = (0..2 << 20).map(|i| (i % 251) as u8).collect();
    let mut expect = big.clone();
    expect.reverse();
    assert_eq!(pipe.reverse(&big).unwrap(), expect);
    assert!(matches!(
        pipe.handle()
            .call_method::<_, String>(__fidius_BytePipe::METHOD_REVERSE, &()),
        Err(CallError::WireModeMismatch { .. })
    ));
    assert!(matches!(
        pipe.handle()
            .call_method_raw(__fidius_BytePipe::METHOD_NAME, b""),
        Err(CallError::WireModeMismatch { .. })
    ));
}

#[test]
fn configured_instances_coexist() {
    let dir = packages();
    let host = host(dir.path());
    let hello = host
        .load_python_configured(
            "py-greeter",
            &Greeter_PYTHON_DESCRIPTOR,
            &GreetConfig {
                greeting: "Hello".into(),
            },
        )
        .unwrap();
    let hi = GreeterClient::load_configured(
        &host,
        "py-greeter",
        &GreetConfig {
            greeting: "Hi".into(),
        },
    )
    .unwrap();
    let out: String = hello
        .call_method(__fidius_Greeter::METHOD_GREET, &("Ada".to_string(),))
        .unwrap();
    assert_eq!(out, "Hello, Ada!");
    assert_eq!(hi.greet("Bob").unwrap(), "Hi, Bob!");
    // A zero-config load of a module without top-level methods names what is missing.
    let err = host
        .load_python("py-greeter", &Greeter_PYTHON_DESCRIPTOR)
        .unwrap_err();
    assert!(err.to_string().contains("greet"), "{err}");
}

#[test]
fn the_module_contract_is_checked_at_load() {
    let dir = packages();
    let host = host(dir.path());
    // Wrong interface: the hash does not match.
    assert!(matches!(
        host.load_python("py-calc", &Greeter_PYTHON_DESCRIPTOR),
        Err(LoadError::InterfaceHashMismatch { .. })
    ));
    // A missing method is named.
    let calc = dir.path().join("calculator/calculator.py");
    let text = std::fs::read_to_string(&calc).unwrap();
    std::fs::write(&calc, text.replace("def multiply(", "def _multiply(")).unwrap();
    let err = host
        .load_python("py-calc", &Calculator_PYTHON_DESCRIPTOR)
        .unwrap_err();
    assert!(err.to_string().contains("multiply"), "{err}");
    // No hash at all: the expected one is in the message.
    std::fs::write(&calc, "def add(x):\n    return x\n").unwrap();
    let err = host
        .load_python("py-calc", &Calculator_PYTHON_DESCRIPTOR)
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "{:#x}",
            Calculator_PYTHON_DESCRIPTOR.interface_hash
        )),
        "{err}"
    );
    // A syntax error is a load error, not a crash.
    std::fs::write(&calc, "def add(:\n").unwrap();
    let err = host
        .load_python("py-calc", &Calculator_PYTHON_DESCRIPTOR)
        .unwrap_err();
    assert!(matches!(err, LoadError::PythonLoad(_)), "{err}");
    // A package without [python].
    let manifest = dir.path().join("greeter/package.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let cut = text.find("[python]").unwrap();
    std::fs::write(&manifest, &text[..cut]).unwrap();
    let err = host
        .load_python("py-greeter", &Greeter_PYTHON_DESCRIPTOR)
        .unwrap_err();
    assert!(err.to_string().contains("[python]"), "{err}");
}

#[test]
fn signed_packages_keep_verifying_and_never_run_unsigned_bytecode() {
    let dir = packages();
    let pkg = dir.path().join("calculator");
    let (sk, vk) = fixture_keypair();
    fidius_host::package::sign_package(&pkg, &sk).unwrap();
    let host = PluginHost::builder()
        .search_path(dir.path())
        .require_signature(true)
        .trusted_keys(&[vk])
        .build()
        .unwrap();
    let first = CalculatorClient::load(&host, "py-calc").unwrap();
    assert_eq!(first.add_direct(&1, &2).unwrap(), 3);
    // Bytecode beside the sources (as any interpreter importing the package
    // in place writes it) changes neither the digest nor what runs.
    let cache = pkg.join("__pycache__");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("calculator.cpython-311.pyc"), b"not bytecode").unwrap();
    let second = CalculatorClient::load(&host, "py-calc").unwrap();
    assert_eq!(second.add_direct(&2, &3).unwrap(), 5);
    assert_eq!(first.add_direct(&4, &5).unwrap(), 9);
    // The package directory stays as signed: nothing was written into it.
    assert!(!pkg.join("vendor/fidius/__pycache__").exists());

    // Another key, or an edited source, is refused.
    let (_, other) = fixture_keypair_with_seed(5);
    let strict = PluginHost::builder()
        .search_path(dir.path())
        .require_signature(true)
        .trusted_keys(&[other])
        .build()
        .unwrap();
    assert!(matches!(
        strict.load_python("py-calc", &Calculator_PYTHON_DESCRIPTOR),
        Err(LoadError::SignatureInvalid { .. })
    ));
    let src = pkg.join("calculator.py");
    let text = std::fs::read_to_string(&src).unwrap();
    std::fs::write(&src, text.replace("a + b", "a - b")).unwrap();
    assert!(matches!(
        host.load_python("py-calc", &Calculator_PYTHON_DESCRIPTOR),
        Err(LoadError::SignatureInvalid { .. })
    ));
    // Unsigned packages are refused when signatures are required.
    assert!(matches!(
        host.load_python("py-fallible", &Fallible_PYTHON_DESCRIPTOR),
        Err(LoadError::SignatureRequired { .. })
    ));
}

#[test]
fn calls_from_many_threads() {
    let dir = packages();
    let host = host(dir.path());
    let calc = std::sync::Arc::new(CalculatorClient::load(&host, "py-calc").unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let calc = calc.clone();
            std::thread::spawn(move || {
                for i in 0..50i64 {
                    assert_eq!(calc.add_direct(&t, &i).unwrap(), t + i);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
