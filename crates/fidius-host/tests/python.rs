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

/// `fidius python-stub`'s output (from the shared interface model) is a
/// module the host accepts as is; its methods raise NOT_IMPLEMENTED.
#[test]
fn a_generated_stub_loads_and_reports_what_is_missing() {
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/test-plugin-smoke/src/lib.rs");
    let (iface, source) =
        fidius_interface::source::interface_from_source(&src, Some("Calculator")).unwrap();
    assert_eq!(iface.hash, Calculator_PYTHON_DESCRIPTOR.interface_hash);
    let stub = fidius_interface::python::python_stub(&iface, Some(&source));
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("stub");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("stub_calc.py"), stub).unwrap();
    std::fs::write(
        pkg.join("package.toml"),
        "[package]\nname = \"stub-calc\"\nversion = \"0.1.0\"\ninterface = \"Calculator\"\ninterface_version = 1\nruntime = \"python\"\n\n[metadata]\n\n[python]\nentry_module = \"stub_calc\"\n",
    )
    .unwrap();
    fidius_test::vendor_python_sdk(&pkg);
    let calc = CalculatorClient::load(&host(dir.path()), "stub-calc").unwrap();
    match calc.add_direct(&1, &2) {
        Err(CallError::Plugin(e)) => {
            assert_eq!(e.code, "NOT_IMPLEMENTED");
            assert!(e.message.contains("add_direct"));
        }
        other => panic!("expected NOT_IMPLEMENTED, got {other:?}"),
    }
}

/// Server streams: a generator advanced one pull at a time; an exception
/// mid-stream is one typed error; dropping the stream closes the generator
/// (its `finally` runs, observably).
#[test]
fn server_streams_are_generators_pulled_lazily_and_closed_on_drop() {
    use test_plugin_smoke::__fidius_Ticker::{Ticker_PYTHON_DESCRIPTOR, METHOD_TICK};
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("ticker");
    std::fs::create_dir_all(&pkg).unwrap();
    let marker = dir.path().join("closed.txt");
    std::fs::write(
        pkg.join("package.toml"),
        "[package]\nname = \"py-ticker\"\nversion = \"0.1.0\"\ninterface = \"Ticker\"\ninterface_version = 1\nruntime = \"python\"\n\n[metadata]\n\n[python]\nentry_module = \"ticker\"\n",
    )
    .unwrap();
    std::fs::write(
        pkg.join("ticker.py"),
        format!(
            r#"
__interface_hash__ = {hash:#x}
produced = 0

def tick(n):
    global produced
    i = 0
    try:
        while n == 0 or i < n:
            if n == 7 and i == 3:
                raise KeyError("no tick 3")
            produced += 1
            yield i * 10
            i += 1
    finally:
        with open({marker:?}, "w") as f:
            f.write(str(i))
"#,
            hash = Ticker_PYTHON_DESCRIPTOR.interface_hash,
            marker = marker.to_string_lossy(),
        ),
    )
    .unwrap();
    let handle = host(dir.path())
        .load_python("py-ticker", &Ticker_PYTHON_DESCRIPTOR)
        .unwrap();
    let all: Vec<u64> = handle
        .call_server_stream::<_, u64>(METHOD_TICK, &(4u32,))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(all, [0, 10, 20, 30]);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "4");
    std::fs::remove_file(&marker).unwrap();

    // Unbounded: take three, drop the rest; the generator is closed.
    let mut endless = handle
        .call_server_stream::<_, u64>(METHOD_TICK, &(0u32,))
        .unwrap();
    let first: Vec<u64> = endless.by_ref().take(3).map(Result::unwrap).collect();
    assert_eq!(first, [0, 10, 20]);
    assert!(
        !marker.exists(),
        "nothing closes the generator while it is in use"
    );
    drop(endless);
    // Closed while suspended at its third `yield` (i == 2).
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "2");

    // An exception mid-stream: the items before it, one typed error, the end.
    let items: Vec<_> = handle
        .call_server_stream::<_, u64>(METHOD_TICK, &(7u32,))
        .unwrap()
        .collect();
    assert_eq!(items.len(), 4);
    assert!(
        matches!(&items[3], Err(CallError::Plugin(e)) if e.code == "KeyError"),
        "{:?}",
        items[3]
    );
    // The fidius 0.5 async entry point streams the same items as values.
    let stream = fidius_test::stream::collect(
        block_on(handle.call_streaming::<_, u64>(METHOD_TICK, &(3u32,))).unwrap(),
    );
    let values = block_on(stream).unwrap();
    assert_eq!(values.len(), 3);
}

/// Runs a future to completion on this thread (the test needs no runtime).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(f)
}

/// Client and bidirectional streams: the host's items arrive as a lazy
/// iterator at the argument position the trait declares, so unbounded input
/// works; a bidi method is a generator over it; errors are typed.
#[test]
fn client_and_bidi_streams_pull_host_items_lazily() {
    use test_plugin_smoke::__fidius_StreamWorks::StreamWorks_PYTHON_DESCRIPTOR;
    let dir = works_package();
    let h = host(dir.path())
        .load_python_configured(
            "py-works",
            &StreamWorks_PYTHON_DESCRIPTOR,
            &StreamConfig { step: 3 },
        )
        .unwrap();
    exercise_streams(&h);
}

/// The same streams with the Python plugin in a runner child: the host's
/// items and the plugin's cross the process boundary as JSON values.
#[cfg(target_os = "linux")]
#[test]
fn python_streams_cross_the_process_boundary() {
    use fidius_host::process::ProcessOptions;
    use test_plugin_smoke::__fidius_StreamWorks::StreamWorks_PYTHON_DESCRIPTOR;
    let dir = works_package();
    let host = PluginHost::builder()
        .search_path(dir.path())
        .isolate("py-works")
        .process_options(
            ProcessOptions::default()
                .runner(env!("CARGO_BIN_EXE_fidius-runner"))
                .deadline(std::time::Duration::from_secs(20)),
        )
        .build()
        .unwrap();
    let h = host
        .load_python_configured(
            "py-works",
            &StreamWorks_PYTHON_DESCRIPTOR,
            &StreamConfig { step: 3 },
        )
        .unwrap();
    assert!(h.process_id().is_some());
    exercise_streams(&h);
    // The child ran the generator: dropping the consumer mid-stream, then
    // calling again on the same child, works.
    use test_plugin_smoke::__fidius_StreamWorks as sw;
    let mut s = h
        .call_server_stream::<_, u64>(sw::METHOD_COUNT, &(0u64, String::new()))
        .unwrap();
    assert_eq!(s.next().unwrap().unwrap(), 0);
    drop(s);
    let step: u64 = h.call_method(sw::METHOD_STEP, &()).unwrap();
    assert_eq!(step, 3);
    // Python plugins have no host functions: binding is refused, typed.
    struct NoHost;
    impl test_plugin_smoke::TestHost for NoHost {
        fn get_value(&self, _: String) -> u64 {
            0
        }
        fn release_slot(&self, n: u32) -> Result<u32, fidius_core::PluginError> {
            Ok(n)
        }
        fn panicky(&self) -> u32 {
            0
        }
    }
    match test_plugin_smoke::TestHostBinding::bind_handle(&h, std::sync::Arc::new(NoHost)) {
        Err(fidius_host::LoadError::HostBindFailed { code, message, .. }) => {
            assert_eq!(code, fidius_core::host_ffi::BIND_ERR_WRONG_BACKEND);
            assert!(message.contains("Python"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// A package of `StreamWorks` written in Python (configured by `step`),
/// taking `weigh`'s stream where the trait declares it (second).
fn works_package() -> tempfile::TempDir {
    works_package_as("StreamWorks", "offset, items, stop")
}

/// [`works_package`] declaring `interface`, with `weigh(self, <weigh_args>)`.
fn works_package_as(interface: &str, weigh_args: &str) -> tempfile::TempDir {
    use test_plugin_smoke::__fidius_StreamWorks::StreamWorks_PYTHON_DESCRIPTOR;
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("works");
    fidius_test::vendor_python_sdk(&pkg);
    std::fs::write(
        pkg.join("package.toml"),
        format!("[package]\nname = \"py-works\"\nversion = \"0.1.0\"\ninterface = \"{interface}\"\ninterface_version = 1\nruntime = \"python\"\n\n[metadata]\n\n[python]\nentry_module = \"works\"\n"),
    )
    .unwrap();
    std::fs::write(
        pkg.join("works.py"),
        format!(
            r#"
import fidius
__interface_hash__ = {hash:#x}

class Works:
    def __init__(self, step):
        self.factor = step
    def count(self, limit, marker):
        i = 0
        while limit == 0 or i < limit:
            yield i * self.factor
            i += 1
    def fail_at(self, at):
        raise fidius.PluginError("UNUSED", "not used here")
    def panic_at(self, at):
        raise fidius.PluginError("UNUSED", "not used here")
    def blobs(self, n, size):
        for _ in range(n):
            yield bytes(size)
    def sum(self, items):
        return sum(items)
    def weigh(self, {weigh_args}):
        pulled = total = 0
        for x in items:
            pulled += 1
            if x == stop:
                break
            total += x
        return (pulled, offset + total)
    def scale(self, items, marker):
        for x in items:
            yield x * self.factor
    def checked_sum(self, items):
        total = 0
        for x in items:
            if x > 1000:
                raise fidius.PluginError("TOO_BIG", "item %d is over 1000" % x, {{"item": x}})
            total += x
        return total
    def total_len(self, items):
        return sum(len(b) for b in items)
    def reverse_each(self, items):
        for b in items:
            yield bytes(b[::-1])
    def step(self):
        return self.factor
    def async_count(self, n):
        return iter(range(n))

def __fidius_configure__(config):
    return Works(config["step"])
"#,
            hash = StreamWorks_PYTHON_DESCRIPTOR.interface_hash,
            weigh_args = weigh_args,
        ),
    )
    .unwrap();
    dir
}

/// Client, bidirectional and server streams of a `StreamWorks` handle.
fn exercise_streams(h: &fidius_host::PluginHandle) {
    use test_plugin_smoke::__fidius_StreamWorks as sw;
    let total: u64 = h
        .call_client_stream(sw::METHOD_SUM, 1u64..=100, &())
        .unwrap();
    assert_eq!(total, 5050);
    // Unbounded input: the plugin stops pulling at `stop`.
    let (pulled, weight): (u64, u64) = h
        .call_client_stream(sw::METHOD_WEIGH, 0u64.., &(1000u64, 5u64))
        .unwrap();
    assert_eq!((pulled, weight), (6, 1000 + 10));
    match h.call_client_stream::<_, _, u64>(sw::METHOD_CHECKED_SUM, [1u64, 2000, 3], &()) {
        Err(CallError::Plugin(e)) => assert_eq!(e.code, "TOO_BIG"),
        other => panic!("expected TOO_BIG, got {other:?}"),
    }
    let lens: u64 = h
        .call_client_stream(sw::METHOD_TOTAL_LEN, vec![vec![1u8; 10], vec![2u8; 5]], &())
        .unwrap();
    assert_eq!(lens, 15);
    // Bidirectional over unbounded input: pulling an output pulls one input.
    let scaled: Vec<u64> = h
        .call_bidi_stream::<_, _, u64>(sw::METHOD_SCALE, 1u64.., &(String::new(),))
        .unwrap()
        .take(4)
        .map(Result::unwrap)
        .collect();
    assert_eq!(scaled, [3, 6, 9, 12]);
    let reversed: Vec<Vec<u8>> = h
        .call_bidi_stream::<_, _, Vec<u8>>(sw::METHOD_REVERSE_EACH, vec![vec![1u8, 2, 3]], &())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(reversed, [vec![3u8, 2, 1]]);
    let counted: Vec<u64> = h
        .call_server_stream::<_, u64>(sw::METHOD_COUNT, &(3u64, String::new()))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(counted, [0, 3, 6]);
}

/// Python plugins in the process tier: the host verifies and copies the
/// package, a runner child imports it; crashes and hangs are typed errors.
#[cfg(target_os = "linux")]
#[test]
fn python_plugins_run_in_a_killable_child_process() {
    use fidius_host::process::{ProcessDeath, ProcessOptions};
    use std::time::Duration;
    let dir = packages();
    // `boom("exit")` exits the interpreter's process, `boom("hang")` sleeps.
    let module = dir.path().join("fallible/fallible.py");
    let text = std::fs::read_to_string(&module).unwrap().replace(
        "def boom(msg):\n",
        "def boom(msg):\n    import os, time\n    if msg == 'exit':\n        os._exit(3)\n    if msg == 'hang':\n        time.sleep(60)\n",
    );
    std::fs::write(&module, text).unwrap();
    let host = PluginHost::builder()
        .search_path(dir.path())
        .isolate("py-calc")
        .isolate("py-fallible")
        .isolate("py-greeter")
        .process_options(
            ProcessOptions::default()
                .runner(env!("CARGO_BIN_EXE_fidius-runner"))
                .deadline(Duration::from_secs(2)),
        )
        .build()
        .unwrap();
    let calc = CalculatorClient::load(&host, "py-calc").unwrap();
    assert_eq!(calc.add_direct(&40, &2).unwrap(), 42);
    assert_eq!(
        calc.add(&AddInput { a: 2, b: 40 }).unwrap(),
        AddOutput { result: 42 }
    );
    assert_eq!(calc.handle().info().runtime, PluginRuntimeKind::Python);
    let pid = calc.handle().process_id().expect("runs in a child");
    assert_ne!(pid, std::process::id());

    let f = FallibleClient::load(&host, "py-fallible").unwrap();
    match f.check(&3) {
        Err(CallError::Plugin(e)) => assert_eq!(e.code, "ODD"),
        other => panic!("{other:?}"),
    }
    assert_eq!(f.check(&4).unwrap(), "v4");
    match f.boom("exit") {
        Err(CallError::ProcessDied {
            death: ProcessDeath::Exited { code: 3 },
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(f.check(&6).unwrap(), "v6", "a fresh child after the exit");
    match f.boom("hang") {
        Err(CallError::Timeout { .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        f.check(&8).unwrap(),
        "v8",
        "a fresh child after the timeout"
    );

    // Configured, and the fidius 0.5 entry point honours the policy too.
    let hi = GreeterClient::load_configured(
        &host,
        "py-greeter",
        &GreetConfig {
            greeting: "Hi".into(),
        },
    )
    .unwrap();
    assert_eq!(hi.greet("Bob").unwrap(), "Hi, Bob!");
    assert!(hi.handle().process_id().is_some());
    let hello = host
        .load_python_configured(
            "py-greeter",
            &Greeter_PYTHON_DESCRIPTOR,
            &GreetConfig {
                greeting: "Hello".into(),
            },
        )
        .unwrap();
    assert!(hello.process_id().is_some());
    let out: String = hello
        .call_method(__fidius_Greeter::METHOD_GREET, &("Ada".to_string(),))
        .unwrap();
    assert_eq!(out, "Hello, Ada!");
}

/// `isolation = "process"` in a package's manifest puts it in a runner child
/// unless the host opts out of such hints.
#[cfg(target_os = "linux")]
#[test]
fn a_package_can_suggest_the_process_tier() {
    use fidius_host::process::ProcessOptions;
    use test_plugin_smoke::__fidius_StreamWorks::{self as sw, StreamWorks_PYTHON_DESCRIPTOR};
    let dir = works_package();
    let manifest = dir.path().join("works/package.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "runtime = \"python\"\n",
        "runtime = \"python\"\nisolation = \"process\"\n",
    );
    std::fs::write(&manifest, text).unwrap();
    let load = |honour: bool| {
        let host = PluginHost::builder()
            .search_path(dir.path())
            .package_isolation_hints(honour)
            .process_options(ProcessOptions::default().runner(env!("CARGO_BIN_EXE_fidius-runner")))
            .build()
            .unwrap();
        host.load_python_configured(
            "py-works",
            &StreamWorks_PYTHON_DESCRIPTOR,
            &StreamConfig { step: 2 },
        )
        .unwrap()
    };
    let isolated = load(true);
    assert!(isolated.process_id().is_some(), "the hint was not honoured");
    let step: u64 = isolated.call_method(sw::METHOD_STEP, &()).unwrap();
    assert_eq!(step, 2);
    assert!(load(false).process_id().is_none(), "the host opted out");
}

#[test]
fn a_package_manifest_stating_another_interface_version_still_loads() {
    // fidius 0.5 never checked `interface_version` of a package manifest
    // (the hash is what binds a module to its interface), so neither do we.
    let dir = tempfile::tempdir().unwrap();
    let pkg = python_package(
        dir.path(),
        &fixture("calculator"),
        Calculator_PYTHON_DESCRIPTOR.interface_hash,
    );
    let manifest = pkg.join("package.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("interface_version = 1", "interface_version = 9"),
    )
    .unwrap();
    let calc = CalculatorClient::load(&host(dir.path()), "py-calc").unwrap();
    assert_eq!(calc.handle().info().interface_version, 9);
    assert_eq!(calc.add_direct(&40, &2).unwrap(), 42);
}

/// A descriptor made by hand (no stream positions registered for it) gets
/// fidius 0.5's convention: the stream is the first argument.
#[test]
fn without_registered_positions_the_stream_goes_first() {
    use fidius_core::python_descriptor::{stream_arg_positions, PythonInterfaceDescriptor};
    use test_plugin_smoke::__fidius_StreamWorks as sw;
    assert_eq!(
        stream_arg_positions(&sw::StreamWorks_PYTHON_DESCRIPTOR).map(|p| p[sw::METHOD_WEIGH]),
        Some(Some(1)),
        "the macro registers weigh's stream at its declared position"
    );
    static HAND_MADE: PythonInterfaceDescriptor = PythonInterfaceDescriptor {
        interface_name: "HandMadeWorks",
        interface_hash: sw::StreamWorks_PYTHON_DESCRIPTOR.interface_hash,
        methods: sw::StreamWorks_PYTHON_DESCRIPTOR.methods,
    };
    assert!(stream_arg_positions(&HAND_MADE).is_none());
    let dir = works_package_as("HandMadeWorks", "items, offset, stop");
    let h = host(dir.path())
        .load_python_configured("py-works", &HAND_MADE, &StreamConfig { step: 3 })
        .unwrap();
    let (pulled, weight): (u64, u64) = h
        .call_client_stream(sw::METHOD_WEIGH, 0u64.., &(1000u64, 5u64))
        .unwrap();
    assert_eq!((pulled, weight), (6, 1000 + 10));
}
