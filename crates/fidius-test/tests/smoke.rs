//! fidius-test's helpers: deterministic keys, signing, cached fixture builds.

use fidius_test::*;
use std::path::Path;

#[test]
fn keys_are_deterministic_and_distinct() {
    let (a, va) = fixture_keypair();
    let (b, vb) = fixture_keypair();
    assert_eq!(a.to_bytes(), b.to_bytes());
    assert_eq!(va, vb);
    assert_eq!(a.to_bytes(), [1u8; 32]);
    let (c, vc) = fixture_keypair_with_seed(2);
    assert_ne!(c.to_bytes(), a.to_bytes());
    assert_ne!(vc, va);
}

#[test]
fn sign_dylib_writes_a_verifiable_signature() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("libx.so");
    std::fs::write(&lib, b"bytes").unwrap();
    let (sk, vk) = fixture_keypair();
    sign_dylib(&lib, &sk).expect("sign");
    let sig = dir.path().join("libx.so.sig");
    assert_eq!(sign_library(&lib, &sk).unwrap(), sig);
    assert_eq!(std::fs::read(&sig).unwrap().len(), 64);
    fidius_host::signing::verify_signature(&lib, &[vk]).unwrap();
}

#[test]
fn fixture_builds_once_and_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/my-plugin");
    let first = dylib_fixture(&dir).build();
    let second = dylib_fixture(&dir).build();
    assert_eq!(first, second);
    // The library sits alone in its directory, under cargo's file name.
    let names: Vec<_> = std::fs::read_dir(first.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [first.dylib_path().file_name().unwrap()]);
    let lib = fidius_host::load_library(&first).unwrap();
    assert_eq!(lib.plugins.len(), 1);
    assert_eq!(lib.plugins[0].info.name, "Invert");
    assert!(dylib_fixture(dir.join("no-such-crate"))
        .try_build()
        .is_err());
}

/// fidius 0.5's builder shape: `with_release`, `signed_with`, `dir()` as a
/// search path that requires signatures.
#[test]
fn signed_fixture_dir_is_a_verifying_search_path() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/my-plugin");
    let (sk, vk) = fixture_keypair_with_seed(7);
    let fixture = dylib_fixture(src.clone())
        .with_release(false)
        .signed_with(&sk)
        .build();
    assert!(fixture
        .dir()
        .join(format!(
            "{}.sig",
            fixture.dylib_path().file_name().unwrap().to_string_lossy()
        ))
        .is_file());
    let host = fidius_host::PluginHost::builder()
        .search_path(fixture.dir())
        .require_signature(true)
        .trusted_keys(&[vk])
        .build()
        .unwrap();
    let found = host.discover().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "Invert");
    // The unsigned fixture of the same crate lives elsewhere and stays unsigned.
    let plain = dylib_fixture(src).build();
    assert_ne!(plain.dir(), fixture.dir());
    let (_, other) = fixture_keypair_with_seed(8);
    let strict = fidius_host::PluginHost::builder()
        .search_path(fixture.dir())
        .require_signature(true)
        .trusted_keys(&[other])
        .build()
        .unwrap();
    assert!(strict.discover().unwrap().is_empty());
}
