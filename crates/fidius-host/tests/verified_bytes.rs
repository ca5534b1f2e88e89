//! The host maps exactly the bytes it verified (issue: a library swapped
//! between signature verification and `dlopen` used to run unsigned). Its
//! own test binary: the hook between verification and mapping is global.

use fidius_host::mapping::BEFORE_MAP_HOOK;
use fidius_host::{LoadError, PluginHandle, PluginHost};
use fidius_test::{copy_into, dylib_fixture, fixture_keypair, sign_dylib};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use test_plugin_smoke::CalculatorClient;

fn fixtures() -> &'static (PathBuf, PathBuf) {
    static F: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    F.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests");
        (
            dylib_fixture(root.join("test-plugin-smoke"))
                .build()
                .into_path(),
            dylib_fixture(root.join("bus-plugin")).build().into_path(),
        )
    })
}

fn swap_in_other(path: &Path) {
    std::fs::copy(&fixtures().1, path).unwrap();
}

#[test]
fn the_loaded_library_is_the_verified_one_and_a_changed_path_is_refused() {
    let (good, other) = fixtures();
    let (sk, vk) = fixture_keypair();
    let dir = tempfile::tempdir().unwrap();
    let path = copy_into(good, dir.path());
    sign_dylib(&path, &sk).expect("sign");
    let host = PluginHost::builder()
        .search_path(dir.path())
        .require_signature(true)
        .trusted_keys(&[vk])
        .build()
        .unwrap();

    // The file is replaced after it was read and verified, before it is mapped.
    *BEFORE_MAP_HOOK.lock().unwrap() = Some(swap_in_other);
    let loaded = host.load("BasicCalculator");
    *BEFORE_MAP_HOOK.lock().unwrap() = None;
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(other).unwrap(),
        "the swap happened"
    );
    let plugin = loaded.expect("the verified library loads");
    let calc = CalculatorClient::from_handle(PluginHandle::try_from_loaded(plugin).unwrap());
    assert_eq!(
        calc.add_direct(&20, &22).unwrap(),
        42,
        "the verified code runs"
    );
    // The swapped-in bytes are not the signed ones: the library is refused
    // (never opened), and as it does not name the plugin, the plugin is
    // simply not found (issue 12 defect 9); discovery lists nothing.
    assert!(matches!(
        host.load("BasicCalculator"),
        Err(LoadError::PluginNotFound { .. })
    ));
    assert!(host.discover().unwrap().is_empty());
    assert!(matches!(
        fidius_host::signing::verify_signature(&path, &[vk]),
        Err(LoadError::SignatureInvalid { .. })
    ));

    // A path still mapped from other bytes is refused (calc keeps the first alive).
    let unsigned = tempfile::tempdir().unwrap();
    let p = copy_into(good, unsigned.path());
    let first = fidius_host::load_library(&p).unwrap();
    std::fs::copy(other, &p).unwrap();
    match fidius_host::load_library(&p) {
        Err(e @ LoadError::LibraryChangedWhileLoaded { .. }) => {
            assert!(e.to_string().contains("different bytes"), "{e}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Same bytes again: one mapping, shared.
    std::fs::copy(good, &p).unwrap();
    let again = fidius_host::load_library(&p).unwrap();
    assert!(std::sync::Arc::ptr_eq(&first.library, &again.library));
    drop(calc);
}
