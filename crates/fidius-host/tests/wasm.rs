//! The WASM component backend end to end: the `wasm-lab` fixture is built
//! with `cargo build --target wasm32-wasip2`, packaged, and loaded through
//! `PluginHost` and the generated `LabClient`.

#![cfg(feature = "wasm")]

use fidius_core::wasm_descriptor::WasmInterfaceDescriptor;
use fidius_host::executor::wasm::{precompile_component, validate_component};
use fidius_host::{CallError, CallLimits, LoadError, PluginHost};
use fidius_test::{fixture_keypair, wasm_fixture, wasm_package};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use wasm_lab::__fidius_Lab::Lab_WASM_DESCRIPTOR;
use wasm_lab::{LabClient, Shape, Summary};

fn component() -> &'static Path {
    static C: OnceLock<PathBuf> = OnceLock::new();
    C.get_or_init(|| {
        wasm_fixture(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/wasm-lab"))
            .build()
            .into_path()
    })
}

fn host(dir: &Path) -> PluginHost {
    PluginHost::builder()
        .search_path(dir)
        .wasm_cache_dir(None)
        .build()
        .unwrap()
}

fn lab(caps: &[&str], extra: &str) -> (tempfile::TempDir, LabClient) {
    let dir = tempfile::tempdir().unwrap();
    wasm_package(dir.path(), "lab", component(), caps, extra);
    let client = LabClient::load(&host(dir.path()), "lab").expect("load the wasm lab");
    (dir, client)
}

#[test]
fn the_generated_client_loads_a_wasm_package_and_calls_every_shape() {
    let (_d, lab) = lab(&[], "");
    assert!(lab.handle().info().is_wasm());
    assert_eq!(lab.add(&40, &2).unwrap(), 42);
    lab.ping().unwrap();
    assert_eq!(lab.greet("wasm").unwrap(), "hello, wasm");
    assert_eq!(
        lab.describe(&Shape::Rect { w: 2.0, h: 3.0 }).unwrap(),
        Summary {
            r#type: "rect".into(),
            area: 6.0,
            tags: vec!["RECT".into()],
            note: None,
        }
    );
    let empty = lab.describe(&Shape::Empty).unwrap();
    assert_eq!(empty.note.as_deref(), Some("nothing"));
    assert!((lab.describe(&Shape::Circle(1.0)).unwrap().area - std::f64::consts::PI).abs() < 1e-9);
    assert_eq!(lab.checked_div(&7, &2).unwrap(), 3);
    match lab.checked_div(&1, &0) {
        Err(CallError::Plugin(e)) => {
            assert_eq!((e.code.as_str(), e.message.as_str()), ("DIV_ZERO", "1 / 0"))
        }
        other => panic!("expected a plugin error, got {other:?}"),
    }
    lab.maybe_fail(&false).unwrap();
    assert!(matches!(lab.maybe_fail(&true), Err(CallError::Plugin(e)) if e.code == "ASKED"));
    assert_eq!(lab.reverse(b"abc").unwrap(), b"cba");
    assert_eq!(lab.echo(b"abc").unwrap(), b"abc");
    let m: HashMap<String, u32> = [("b".to_string(), 2), ("a".to_string(), 1)].into();
    assert_eq!(
        lab.sorted(&m).unwrap(),
        vec![("a".to_string(), 1), ("b".to_string(), 2)]
    );
    assert_eq!(lab.maybe(&Some(7)).unwrap().as_deref(), Some("7"));
    assert_eq!(lab.maybe(&None).unwrap(), None);
    assert_eq!(lab.bytes(&[0, 1, 255]).unwrap(), vec![0, 1, 255]);
    assert_eq!(lab.spin(&10).unwrap(), 45);
}

#[test]
fn zero_config_calls_are_isolated_unless_reuse_is_asked_for() {
    let (_d, fresh) = lab(&[], "");
    assert_eq!(fresh.counter().unwrap(), 1);
    assert_eq!(
        fresh.counter().unwrap(),
        1,
        "a fresh instance per call keeps no state"
    );
    let (_d2, reused) = lab(&[], "reuse_instances = true\n");
    assert_eq!(reused.counter().unwrap(), 1);
    assert_eq!(reused.counter().unwrap(), 2);
}

#[test]
fn pooled_slots_are_pristine_after_calls_that_dirty_memory() {
    // Pooled memories are reset in place (the dirtied pages restored, up to
    // 1 MiB kept resident, the rest released): calls that write well past
    // that must leave nothing behind for the next fresh instance.
    let (_d, fresh) = lab(&[], "");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    for round in 0..8 {
        assert_eq!(fresh.hog(&3).unwrap(), 3, "round {round}");
        assert_eq!(fresh.echo(&data).unwrap(), data, "round {round}");
        assert_eq!(fresh.counter().unwrap(), 1, "round {round}");
    }
}

#[test]
fn a_runaway_guest_is_stopped_by_its_deadline_and_the_handle_keeps_working() {
    let (_d, lab) = lab(&[], "[wasm.limits]\ndeadline_ms = 50\n");
    let t = Instant::now();
    let r = lab.spin(&u64::MAX);
    let took = t.elapsed();
    match r {
        Err(CallError::Timeout { deadline }) => assert_eq!(deadline, Duration::from_millis(50)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
    assert_eq!(lab.add(&1, &2).unwrap(), 3);
}

#[test]
fn fuel_and_memory_limits_have_their_own_errors() {
    let (_d, lab) = lab(&[], "[wasm.limits]\nfuel = 2000000\n");
    assert!(matches!(
        lab.spin(&u64::MAX),
        Err(CallError::FuelExhausted { budget: 2_000_000 })
    ));
    assert_eq!(lab.spin(&100).unwrap(), 4950);
    let (_d, lab) = self::lab(&[], "[wasm.limits]\nmax_memory_bytes = 33554432\n");
    match lab.hog(&64) {
        Err(CallError::MemoryLimitExceeded { limit }) => assert_eq!(limit, 32 << 20),
        other => panic!("expected the memory cap, got {other:?}"),
    }
    assert_eq!(lab.hog(&2).unwrap(), 2);
}

#[test]
fn limits_can_be_changed_while_running_and_by_the_host() {
    let (_d, lab) = lab(&[], "");
    assert_eq!(lab.handle().limits(), Some(CallLimits::default()));
    lab.handle()
        .set_limits(CallLimits {
            fuel: Some(1_000_000),
            ..CallLimits::default()
        })
        .unwrap();
    assert!(matches!(
        lab.spin(&u64::MAX),
        Err(CallError::FuelExhausted { .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    wasm_package(
        dir.path(),
        "lab",
        component(),
        &[],
        "[wasm.limits]\nfuel = 5\n",
    );
    let host = PluginHost::builder()
        .search_path(dir.path())
        .wasm_cache_dir(None)
        .wasm_limits(CallLimits {
            deadline: Some(Duration::from_millis(30)),
            ..CallLimits::default()
        })
        .build()
        .unwrap();
    let lab = LabClient::load(&host, "lab").unwrap();
    assert_eq!(
        lab.spin(&1000).unwrap(),
        499500,
        "the host's limits replace the package's"
    );
    assert!(matches!(
        lab.spin(&u64::MAX),
        Err(CallError::Timeout { .. })
    ));
}

#[test]
fn a_guest_panic_is_a_typed_error_with_its_message() {
    let (_d, lab) = lab(&[], "");
    match lab.boom("kaboom") {
        Err(CallError::Panic(m)) => assert!(m.contains("kaboom"), "{m}"),
        other => panic!("expected a panic error, got {other:?}"),
    }
    assert_eq!(lab.add(&2, &2).unwrap(), 4);
}

#[test]
fn the_sandbox_denies_files_and_environment_unless_granted() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("note.txt");
    std::fs::write(&file, "inside").unwrap();
    let path = file.to_string_lossy().into_owned();
    std::env::set_var("FIDIUS_WASM_TEST_SECRET", "s3cret");

    let (_d, denied) = lab(&[], "");
    assert!(matches!(denied.read_file(&path), Err(CallError::Plugin(e)) if e.code == "IO"));
    assert_eq!(denied.env_var("FIDIUS_WASM_TEST_SECRET").unwrap(), None);
    assert_eq!(denied.env_var("HOME").unwrap(), None);

    let grant = format!("fs:ro:{}", data.path().display());
    let (_d2, granted) = lab(&[&grant, "env:FIDIUS_WASM_TEST_SECRET"], "");
    assert_eq!(granted.read_file(&path).unwrap(), "inside");
    assert_eq!(
        granted
            .env_var("FIDIUS_WASM_TEST_SECRET")
            .unwrap()
            .as_deref(),
        Some("s3cret")
    );
    assert_eq!(
        granted.env_var("HOME").unwrap(),
        None,
        "only the named variable"
    );
    assert!(
        matches!(granted.read_file("/etc/passwd"), Err(CallError::Plugin(e)) if e.code == "IO"),
        "a path outside the granted directory"
    );
}

#[test]
fn bad_capabilities_are_refused_at_load_listing_what_is_allowed() {
    for bad in ["env", "fs", "fs:ro:", "env:", "telepathy"] {
        let dir = tempfile::tempdir().unwrap();
        wasm_package(dir.path(), "lab", component(), &[bad], "");
        match LabClient::load(&host(dir.path()), "lab") {
            Err(LoadError::WasmLoad(m)) => assert!(m.contains("allowed"), "{bad}: {m}"),
            other => panic!("{bad}: expected a load error, got {other:?}"),
        }
    }
}

#[test]
fn bad_packages_and_components_are_typed_load_errors() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = wasm_package(dir.path(), "lab", component(), &[], "");
    std::fs::write(pkg.join("plugin.wasm"), b"\0asm garbage").unwrap();
    match LabClient::load(&host(dir.path()), "lab") {
        Err(LoadError::WasmLoad(m)) => assert!(m.contains("not a valid WASM component"), "{m}"),
        other => panic!("expected a load error, got {other:?}"),
    }
    assert!(validate_component(b"not wasm").is_err());

    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("lab");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(
        pkg.join("package.toml"),
        "[package]\nname = \"lab\"\nversion = \"1\"\ninterface = \"i\"\ninterface_version = 1\nruntime = \"wasm\"\n[metadata]\n",
    )
    .unwrap();
    match host(dir.path()).load_wasm("lab", &Lab_WASM_DESCRIPTOR) {
        Err(LoadError::WasmLoad(m)) => assert!(m.contains("[wasm]"), "{m}"),
        other => panic!("expected a load error, got {other:?}"),
    }

    static WRONG_HASH: WasmInterfaceDescriptor = WasmInterfaceDescriptor {
        interface_hash: 0x1234,
        ..Lab_WASM_DESCRIPTOR
    };
    let dir = tempfile::tempdir().unwrap();
    wasm_package(dir.path(), "lab", component(), &[], "");
    assert!(matches!(
        host(dir.path()).load_wasm("lab", &WRONG_HASH),
        Err(LoadError::InterfaceHashMismatch {
            expected: 0x1234,
            ..
        })
    ));
    assert!(matches!(
        LabClient::load(&host(dir.path()), "nope"),
        Err(LoadError::PluginNotFound { .. })
    ));
}

#[test]
fn package_signatures_are_checked_and_cover_the_capabilities() {
    let (sk, vk) = fixture_keypair();
    let dir = tempfile::tempdir().unwrap();
    let pkg = wasm_package(dir.path(), "lab", component(), &[], "");
    let strict = PluginHost::builder()
        .search_path(dir.path())
        .require_signature(true)
        .trusted_keys(&[vk])
        .wasm_cache_dir(None)
        .build()
        .unwrap();
    assert!(matches!(
        LabClient::load(&strict, "lab"),
        Err(LoadError::SignatureRequired { .. })
    ));
    fidius_host::package::sign_package(&pkg, &sk).unwrap();
    assert_eq!(
        LabClient::load(&strict, "lab")
            .unwrap()
            .add(&1, &1)
            .unwrap(),
        2
    );
    // Widening the capabilities after signing breaks the signature.
    let manifest = std::fs::read_to_string(pkg.join("package.toml")).unwrap();
    std::fs::write(
        pkg.join("package.toml"),
        manifest.replace("capabilities = []", "capabilities = [\"env:HOME\"]"),
    )
    .unwrap();
    assert!(matches!(
        LabClient::load(&strict, "lab"),
        Err(LoadError::SignatureInvalid { .. })
    ));
}

#[test]
fn precompiled_components_load_and_stale_ones_fall_back_to_compiling() {
    let (sk, vk) = fixture_keypair();
    let bytes = std::fs::read(component()).unwrap();
    let cwasm = precompile_component(&bytes).unwrap();
    for art in [cwasm, b"stale or foreign artifact".to_vec()] {
        let dir = tempfile::tempdir().unwrap();
        let pkg = wasm_package(dir.path(), "lab", component(), &[], "");
        std::fs::write(pkg.join("plugin.cwasm"), &art).unwrap();
        fidius_host::package::sign_package(&pkg, &sk).unwrap();
        let strict = PluginHost::builder()
            .search_path(dir.path())
            .require_signature(true)
            .trusted_keys(&[vk])
            .wasm_cache_dir(None)
            .build()
            .unwrap();
        assert_eq!(
            LabClient::load(&strict, "lab")
                .unwrap()
                .add(&3, &4)
                .unwrap(),
            7
        );
    }
}

#[test]
fn calls_run_in_parallel_from_several_threads_and_from_tokio() {
    let (_d, lab) = lab(&[], "reuse_instances = true\n");
    std::thread::scope(|s| {
        for t in 0..4i64 {
            let lab = &lab;
            s.spawn(move || {
                for i in 0..50 {
                    assert_eq!(lab.add(&t, &i).unwrap(), t + i);
                }
            });
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), "from tokio").unwrap();
    let grant = format!("fs:ro:{}", dir.path().display());
    let (_d2, fs_lab) = self::lab(&[&grant], "");
    let path = dir.path().join("f.txt").to_string_lossy().into_owned();
    let got = rt.block_on(async { fs_lab.read_file(&path) });
    assert_eq!(got.unwrap(), "from tokio");
}

#[test]
fn discover_lists_wasm_packages() {
    let dir = tempfile::tempdir().unwrap();
    wasm_package(dir.path(), "lab", component(), &[], "");
    let found = host(dir.path()).discover().unwrap();
    assert!(
        found.iter().any(|p| p.name == "lab" && p.is_wasm()),
        "{found:?}"
    );
}

#[test]
fn a_reused_instance_that_trapped_is_replaced_and_the_handle_keeps_working() {
    let (_d, lab) = lab(&[], "reuse_instances = true\n");
    assert_eq!(lab.counter().unwrap(), 1);
    assert_eq!(lab.counter().unwrap(), 2);
    assert!(matches!(lab.boom("trap"), Err(CallError::Panic(_))));
    // The trapped instance was discarded: a fresh one starts counting again.
    assert_eq!(lab.counter().unwrap(), 1);
}

#[test]
fn a_descriptor_that_does_not_match_the_component_is_a_typed_error() {
    use fidius_core::wasm_descriptor::WasmMethodDesc;
    static MISSING: WasmInterfaceDescriptor = WasmInterfaceDescriptor {
        methods: &[
            WasmMethodDesc {
                name: "no-such-method",
                wire_raw: false,
                streaming: false,
            },
            WasmMethodDesc {
                name: "add",
                wire_raw: true,
                streaming: false,
            },
        ],
        ..Lab_WASM_DESCRIPTOR
    };
    let dir = tempfile::tempdir().unwrap();
    wasm_package(dir.path(), "lab", component(), &[], "");
    let h = host(dir.path()).load_wasm("lab", &MISSING).unwrap();
    assert!(matches!(
        h.call_method::<_, i64>(0, &(1i64,)),
        Err(CallError::NotImplemented { .. })
    ));
    assert!(matches!(
        h.call_method::<_, i64>(1, &(1i64, 2i64)),
        Err(CallError::WireModeMismatch { .. })
    ));
    assert!(matches!(
        h.call_method::<_, i64>(7, &()),
        Err(CallError::InvalidMethodIndex { index: 7, .. })
    ));
    // Arguments that do not fit the component's types.
    let good = host(dir.path())
        .load_wasm("lab", &Lab_WASM_DESCRIPTOR)
        .unwrap();
    let add = wasm_lab::__fidius_Lab::METHOD_ADD;
    assert!(matches!(
        good.call_method::<_, i64>(add, &("one", 2i64)),
        Err(CallError::Serialization(_))
    ));
    assert!(matches!(
        good.call_method::<_, String>(add, &(1i64, 2i64)),
        Err(CallError::Deserialization(_))
    ));
    assert_eq!(good.call_method::<_, i64>(add, &(1i64, 2i64)).unwrap(), 3);
}
