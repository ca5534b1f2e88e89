//! Host functions over a real cdylib: binding with version/hash gates,
//! re-entrant host → plugin → host → plugin calls, typed host errors, panics
//! on either side, callbacks from plugin threads, unbound interfaces.

use fidius_host::{CallError, LoadError, LoadedLibrary, PluginHandle};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use test_plugin_smoke::*;

/// A fresh, unbound copy of the fixture library (binding is per library).
fn fresh_library() -> (tempfile::TempDir, LoadedLibrary) {
    let lib = fidius_test::dylib_fixture(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/test-plugin-smoke"),
    )
    .build()
    .into_path();
    let dir = tempfile::tempdir().unwrap();
    let copy = fidius_test::copy_into(&lib, dir.path());
    (dir, fidius_host::load_library(&copy).unwrap())
}

fn deferrable(lib: &LoadedLibrary) -> DeferrableClient {
    let p = lib
        .plugins
        .iter()
        .find(|p| p.info.name == "DeferrableImpl")
        .unwrap()
        .clone();
    DeferrableClient::try_from_handle(PluginHandle::try_from_loaded(p).unwrap()).unwrap()
}

#[derive(Default)]
struct Host {
    /// The plugin, for re-entrant calls from inside a host function.
    plugin: OnceLock<DeferrableClient>,
}

impl TestHost for Host {
    fn get_value(&self, key: String) -> u64 {
        match key.as_str() {
            "reenter" => {
                assert_eq!(fidius_core::host_ffi::host_callback_depth(), 1);
                self.plugin.get().expect("plugin set").add_one(&41).unwrap()
            }
            other => other.len() as u64 * 10,
        }
    }
    fn release_slot(&self, n: u32) -> Result<u32, fidius_core::PluginError> {
        if n == 0 {
            Err(fidius_core::PluginError::new(
                "NO_SLOT",
                "slot 0 does not exist",
            ))
        } else {
            Ok(n * 2)
        }
    }
    fn panicky(&self) -> u32 {
        panic!("the host function blew up")
    }
}

#[test]
fn bound_host_functions_work_reentrantly_and_from_threads() {
    let (_dir, lib) = fresh_library();
    let imports = lib.host_imports().unwrap();
    assert_eq!(imports.len(), 1);
    assert_eq!(imports[0].interface_name, "TestHost");
    assert_eq!(imports[0].interface_hash, TestHostBinding::INTERFACE_HASH);

    let plugin = deferrable(&lib);
    assert!(!plugin.host_bound().unwrap());
    let host = Arc::new(Host::default());
    assert!(TestHostBinding::bind(&lib, host.clone()).unwrap());
    assert!(plugin.host_bound().unwrap());
    assert!(host.plugin.set(deferrable(&lib)).is_ok());

    assert_eq!(plugin.run_deferred("abc").unwrap(), 31);
    // host → plugin → host → plugin → back.
    assert_eq!(plugin.run_deferred("reenter").unwrap(), 43);
    assert_eq!(plugin.value_from_thread("abcd").unwrap(), 40);
    assert_eq!(plugin.try_release(&3).unwrap(), "ok:6");
    assert_eq!(plugin.try_release(&0).unwrap(), "err:NO_SLOT");
    let seen = plugin.observe_host_panic().unwrap();
    assert!(
        seen.contains("HostPanic") && seen.contains("blew up"),
        "{seen}"
    );
    assert!(
        matches!(plugin.panic_after_callback(), Err(CallError::Panic(m)) if m.contains("after a host call"))
    );
    assert_eq!(fidius_core::host_ffi::host_callback_depth(), 0);

    // Binding twice is refused by the plugin, and the refused table (with
    // its reference to the host object) is freed again.
    let refs = Arc::strong_count(&host);
    for _ in 0..3 {
        match TestHostBinding::bind(&lib, host.clone()) {
            Err(LoadError::HostBindFailed { code, .. }) => {
                assert_eq!(code, fidius_core::host_ffi::BIND_ERR_ALREADY_BOUND)
            }
            other => panic!("expected HostBindFailed, got {other:?}"),
        }
        let handle = plugin.handle();
        assert!(matches!(
            TestHostBinding::bind_handle(handle, host.clone()),
            Err(LoadError::HostBindFailed { .. })
        ));
    }
    assert_eq!(
        Arc::strong_count(&host),
        refs,
        "refused binds kept the host"
    );
}

/// A host whose answers say which one it is.
struct Numbered(u64);

impl TestHost for Numbered {
    fn get_value(&self, key: String) -> u64 {
        self.0 + key.len() as u64
    }
    fn release_slot(&self, n: u32) -> Result<u32, fidius_core::PluginError> {
        Ok(n)
    }
    fn panicky(&self) -> u32 {
        panic!("not called")
    }
}

#[test]
fn a_library_loaded_again_binds_the_new_host() {
    let lib = fidius_test::dylib_fixture(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/test-plugin-smoke"),
    )
    .build()
    .into_path();
    let dir = tempfile::tempdir().unwrap();
    fidius_test::copy_into(&lib, dir.path());
    let host = fidius_host::PluginHost::builder()
        .search_path(dir.path())
        .build()
        .unwrap();
    // Load, bind, call, drop: each round's plugin calls that round's host.
    for round in 1..=3u64 {
        let plugin = DeferrableClient::load(&host, "DeferrableImpl").unwrap();
        let imp = Arc::new(Numbered(round * 100));
        assert!(TestHostBinding::bind_handle(plugin.handle(), imp.clone()).unwrap());
        assert_eq!(
            plugin.run_deferred("abc").unwrap(),
            round * 100 + 4,
            "round {round}"
        );
        // A second handle of the same mapping shares the binding.
        let again = DeferrableClient::load(&host, "DeferrableImpl").unwrap();
        assert_eq!(again.run_deferred("ab").unwrap(), round * 100 + 3);
        drop((plugin, again));
    }
}

#[test]
fn gates_refuse_skew_before_building_a_table() {
    let (_dir, lib) = fresh_library();
    let mut built = false;
    let err = fidius_host::host_import::bind_host_interface(
        &lib.library,
        "TestHost",
        TestHostBinding::INTERFACE_HASH,
        TestHostBinding::INTERFACE_VERSION + 1,
        || {
            built = true;
            std::ptr::null()
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::HostInterfaceVersionMismatch {
                plugin_expects: 1,
                host_provides: 2,
                ..
            }
        ),
        "{err}"
    );
    let err = fidius_host::host_import::bind_host_interface(
        &lib.library,
        "TestHost",
        TestHostBinding::INTERFACE_HASH ^ 1,
        TestHostBinding::INTERFACE_VERSION,
        || {
            built = true;
            std::ptr::null()
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, LoadError::HostInterfaceHashMismatch { .. }),
        "{err}"
    );
    assert!(!built, "no table may be built for a refused bind");
    // An interface the library does not import.
    assert!(!fidius_host::host_import::bind_host_interface(
        &lib.library,
        "Nope",
        1,
        1,
        std::ptr::null
    )
    .unwrap());
    // A doctored table is refused by the plugin's own check.
    let err = fidius_host::host_import::bind_host_interface(
        &lib.library,
        "TestHost",
        TestHostBinding::INTERFACE_HASH,
        TestHostBinding::INTERFACE_VERSION,
        std::ptr::null,
    )
    .unwrap_err();
    assert!(
        matches!(err, LoadError::HostBindFailed { code: -1, .. }),
        "{err}"
    );
}

#[test]
fn unbound_interface_is_a_typed_error() {
    let (_dir, lib) = fresh_library();
    let plugin = deferrable(&lib);
    assert!(!plugin.host_bound().unwrap());
    match plugin.run_deferred("x") {
        Err(CallError::Plugin(e)) => {
            assert_eq!(e.code, "NOT_BOUND");
            assert!(e.message.contains("TestHost"), "{}", e.message);
        }
        other => panic!("expected NOT_BOUND, got {other:?}"),
    }
}

#[test]
fn libraries_without_host_imports_bind_nothing() {
    let lib = fidius_test::dylib_fixture(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/bench-plugin"),
    )
    .build()
    .into_path();
    let lib = fidius_host::load_library(&lib).unwrap();
    assert!(lib.host_imports().unwrap().is_empty());
    assert!(!TestHostBinding::bind(&lib, Arc::new(Host::default())).unwrap());
}

#[test]
fn a_short_import_descriptor_is_refused_before_it_is_read() {
    let lib = fidius_test::dylib_fixture(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/hostile-plugin"),
    )
    .build()
    .into_path();
    let lib = fidius_host::load_library(&lib).unwrap();
    match lib.host_imports() {
        Err(LoadError::HostImportRegistryInvalid { reason }) => {
            assert!(reason.contains("smaller than this layout"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        TestHostBinding::bind(&lib, Arc::new(Host::default())),
        Err(LoadError::HostImportRegistryInvalid { .. })
    ));
}
