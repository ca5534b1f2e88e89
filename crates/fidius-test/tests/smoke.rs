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
    let sig = sign_dylib(&lib, &sk);
    assert_eq!(sig, dir.path().join("libx.so.sig"));
    assert_eq!(std::fs::read(&sig).unwrap().len(), 64);
    fidius_host::signing::verify_signature(&lib, &[vk]).unwrap();
}

#[test]
fn fixture_builds_once_and_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/my-plugin");
    let first = dylib_fixture(&dir).build();
    let t = std::time::Instant::now();
    let second = dylib_fixture(&dir).build();
    assert_eq!(first, second);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(1),
        "second build must come from the cache"
    );
    let lib = fidius_host::load_library(&first).unwrap();
    assert_eq!(lib.plugins.len(), 1);
    assert_eq!(lib.plugins[0].info.name, "Invert");
    assert!(dylib_fixture(dir.join("no-such-crate"))
        .try_build()
        .is_err());
}
