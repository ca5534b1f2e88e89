//! Dynamic message plugins from a real cdylib, loaded through `PluginHost`
//! with signatures required, on both hosts, next to in-process plugins.
#![cfg(feature = "host")]

use fidius_bus::{from_fn, DynamicPlugin, Host, Message, PluginFailure};
use std::path::Path;

fn signed_host() -> (tempfile::TempDir, fidius::PluginHost) {
    let lib = fidius_test::dylib_fixture(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/bus-plugin"),
    )
    .build()
    .into_path();
    let dir = tempfile::tempdir().unwrap();
    let copy = fidius_test::copy_into(&lib, dir.path());
    let (sk, vk) = fidius_test::fixture_keypair();
    fidius_test::sign_dylib(&copy, &sk).expect("sign");
    let host = fidius::PluginHost::builder()
        .search_path(dir.path())
        .require_signature(true)
        .trusted_keys(&[vk])
        .build()
        .unwrap();
    (dir, host)
}

#[test]
fn dynamic_plugins_on_the_std_host() {
    let (_dir, plugins) = signed_host();
    let mut bus = Host::new();
    bus.attach(DynamicPlugin::<u32>::load(&plugins, "Counter").unwrap());
    bus.attach(DynamicPlugin::<u32>::load(&plugins, "Unlucky").unwrap());
    let threshold = fidius_bus_fixture_config(50, 9);
    bus.attach(DynamicPlugin::<u32>::load_configured(&plugins, "Threshold", &threshold).unwrap());
    bus.attach(from_fn(|_m: Message<u32>| None)); // an in-process plugin alongside
    for i in 0..100 {
        bus.send(i);
    }
    bus.send(u32::MAX);
    let reports = bus.end();
    assert_eq!(
        reports[0].result,
        Ok(Some(100)),
        "the counter saw 0..100 in order"
    );
    match &reports[1].result {
        Err(PluginFailure::Panicked(m)) => assert!(m.contains("unlucky number 13"), "{m}"),
        other => panic!("expected the plugin's panic, got {other:?}"),
    }
    assert_eq!(reports[2].result, Ok(Some(9)));
    assert_eq!(reports[3].result, Ok(None));
}

/// The fixture's config type, mirrored (same wire encoding).
#[derive(serde::Serialize)]
struct Threshold {
    code: u8,
    limit: u32,
}

fn fidius_bus_fixture_config(limit: u32, code: u8) -> Threshold {
    Threshold { code, limit }
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_plugins_on_the_tokio_host() {
    let (_dir, plugins) = signed_host();
    let mut bus = fidius_bus::tokio_host::Host::new();
    bus.attach(DynamicPlugin::<u32>::load(&plugins, "Counter").unwrap());
    for i in 0..30 {
        bus.send(i).await;
    }
    bus.send(u32::MAX).await;
    let reports = bus.end().await;
    assert_eq!(reports[0].result, Ok(Some(30)));
}

#[test]
fn an_unsigned_or_unknown_dynamic_plugin_is_refused() {
    let (_dir, plugins) = signed_host();
    assert!(matches!(
        DynamicPlugin::<u32>::load(&plugins, "Nope"),
        Err(fidius::LoadError::PluginNotFound { .. })
    ));
}
