//! Signature policy over real cdylibs: required/optional signatures, several
//! trusted keys, tampering, `LoadPolicy`, and unrelated libraries in the path.

use fidius_host::{LoadError, LoadPolicy, PluginHandle, PluginHost};
use fidius_test::{copy_into, fixture_keypair, fixture_keypair_with_seed, sign_dylib};
use std::path::{Path, PathBuf};

fn smoke_lib() -> PathBuf {
    fidius_test::dylib_fixture(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/test-plugin-smoke"),
    )
    .build()
    .into_path()
}

fn hostile_lib() -> PathBuf {
    fidius_test::dylib_fixture(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/hostile-plugin"),
    )
    .build()
    .into_path()
}

fn call_add(host: &PluginHost) -> Result<i64, LoadError> {
    let h = PluginHandle::try_from_loaded(host.load("BasicCalculator")?)?;
    Ok(h.call_method::<_, i64>(1, &(20i64, 22i64)).expect("call"))
}

#[test]
fn signed_with_a_trusted_key_loads() {
    let dir = tempfile::tempdir().unwrap();
    let lib = copy_into(&smoke_lib(), dir.path());
    let (sk, _) = fixture_keypair();
    let (_, other_vk) = fixture_keypair_with_seed(9);
    sign_dylib(&lib, &sk).expect("sign");
    let host = PluginHost::builder()
        .search_path(dir.path())
        .require_signature(true)
        .trusted_keys(&[other_vk, sk.verifying_key()])
        .build()
        .unwrap();
    assert_eq!(call_add(&host).unwrap(), 42);
    assert_eq!(host.discover().unwrap().len(), 8);
}

#[test]
fn wrong_key_missing_signature_and_tampering_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lib = copy_into(&smoke_lib(), dir.path());
    let (sk, _) = fixture_keypair();
    let (_, wrong) = fixture_keypair_with_seed(2);
    let required = |keys: &[ed25519_dalek::VerifyingKey]| {
        PluginHost::builder()
            .search_path(dir.path())
            .require_signature(true)
            .trusted_keys(keys)
            .build()
            .unwrap()
    };
    assert!(matches!(
        call_add(&required(&[sk.verifying_key()])),
        Err(LoadError::SignatureRequired { .. })
    ));
    assert!(required(&[sk.verifying_key()])
        .discover()
        .unwrap()
        .is_empty());
    sign_dylib(&lib, &sk).expect("sign");
    assert!(matches!(
        call_add(&required(&[wrong])),
        Err(LoadError::SignatureInvalid { .. })
    ));
    assert_eq!(call_add(&required(&[sk.verifying_key()])).unwrap(), 42);
    // Flip one byte after signing.
    let mut bytes = std::fs::read(&lib).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&lib, bytes).unwrap();
    assert!(matches!(
        call_add(&required(&[sk.verifying_key()])),
        Err(LoadError::SignatureInvalid { .. })
    ));
    // Requiring signatures without any trusted key is a configuration error.
    assert!(PluginHost::builder()
        .require_signature(true)
        .build()
        .is_err());
}

#[test]
fn unsigned_loads_when_not_required() {
    let dir = tempfile::tempdir().unwrap();
    copy_into(&smoke_lib(), dir.path());
    let host = PluginHost::builder()
        .search_path(dir.path())
        .build()
        .unwrap();
    assert_eq!(call_add(&host).unwrap(), 42);
}

#[test]
fn an_unrelated_unsigned_library_does_not_block_a_signed_plugin() {
    let dir = tempfile::tempdir().unwrap();
    // `libhostile_plugin.so` sorts before `libtest_plugin_smoke.so` and stays unsigned.
    copy_into(&hostile_lib(), dir.path());
    let lib = copy_into(&smoke_lib(), dir.path());
    let (sk, vk) = fixture_keypair();
    sign_dylib(&lib, &sk).expect("sign");
    let host = PluginHost::builder()
        .search_path(dir.path())
        .require_signature(true)
        .trusted_keys(&[vk])
        .build()
        .unwrap();
    assert_eq!(call_add(&host).unwrap(), 42);
    // A plugin that only lives in the unsigned library reports why it was refused.
    assert!(matches!(
        host.load("NullOutput"),
        Err(LoadError::SignatureRequired { .. })
    ));
    // A plugin that is nowhere is not found: the unrelated unsigned library
    // does not turn that into a signature error (issue 12 defect 9).
    assert!(matches!(
        host.load("NoSuchPlugin"),
        Err(LoadError::PluginNotFound { .. })
    ));
}

#[test]
fn a_plugin_of_that_name_with_another_interface_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    copy_into(&smoke_lib(), dir.path());
    // With an expected hash that the library's BasicCalculator lacks, the
    // search goes on and reports the mismatch once nothing else fits.
    let host = PluginHost::builder()
        .search_path(dir.path())
        .interface_hash(0x1234)
        .build()
        .unwrap();
    assert!(matches!(
        host.load("BasicCalculator"),
        Err(LoadError::InterfaceHashMismatch {
            expected: 0x1234,
            ..
        })
    ));
}

#[test]
fn load_policy_strict_checks_present_signatures_lenient_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let lib = copy_into(&smoke_lib(), dir.path());
    let (_, vk) = fixture_keypair();
    let (other_sk, _) = fixture_keypair_with_seed(3);
    // Signed by a key the host does not trust, signatures not required.
    sign_dylib(&lib, &other_sk).expect("sign");
    let host = |policy| {
        PluginHost::builder()
            .search_path(dir.path())
            .trusted_keys(&[vk])
            .load_policy(policy)
            .build()
            .unwrap()
    };
    assert!(matches!(
        call_add(&host(LoadPolicy::Strict)),
        Err(LoadError::SignatureInvalid { .. })
    ));
    assert_eq!(call_add(&host(LoadPolicy::Lenient)).unwrap(), 42);
    // Lenient never relaxes a required signature.
    let required = PluginHost::builder()
        .search_path(dir.path())
        .trusted_keys(&[vk])
        .require_signature(true)
        .load_policy(LoadPolicy::Lenient)
        .build()
        .unwrap();
    assert!(matches!(
        call_add(&required),
        Err(LoadError::SignatureInvalid { .. })
    ));
    std::fs::remove_file(fidius_host::signing::sig_path_for(&lib)).unwrap();
    assert!(matches!(
        call_add(&required),
        Err(LoadError::SignatureRequired { .. })
    ));
}
