//! Memory stays flat for unbounded streams in every direction (its own test
//! binary, so no other test's allocations show up in the process's RSS).

use fidius_host::PluginHandle;
use std::future::poll_fn;
use std::path::Path;
use std::pin::Pin;
use test_plugin_smoke::*;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

async fn next<S: futures_core::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

#[test]
fn unbounded_streams_use_bounded_memory() {
    let lib = fidius_test::dylib_fixture(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/test-plugin-smoke"),
    )
    .build()
    .into_path();
    let (_dir, host) = fidius_test::temp_host(&[&lib]);
    let handle = PluginHandle::configure_from_loaded(
        host.load("StreamWorksImpl").unwrap(),
        &StreamConfig { step: 1 },
    )
    .unwrap();
    let w = StreamWorksClient::try_from_handle(handle).unwrap();
    let limit = 32 << 20;

    // Server stream, blocking pulls.
    let mut s = w.count(&0, "").unwrap();
    s.by_ref().take(100_000).for_each(|r| {
        r.unwrap();
    });
    let before = rss_bytes();
    s.by_ref().take(3_000_000).for_each(|r| {
        r.unwrap();
    });
    let grown = rss_bytes().saturating_sub(before);
    assert!(
        grown < limit,
        "server stream: memory grew by {grown} bytes over 3M items"
    );
    drop(s);

    // Server stream, async pulls through the pump.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut s = w.count(&0, "").unwrap();
        for _ in 0..100_000 {
            next(&mut s).await.unwrap().unwrap();
        }
        let before = rss_bytes();
        for _ in 0..1_000_000 {
            next(&mut s).await.unwrap().unwrap();
        }
        let grown = rss_bytes().saturating_sub(before);
        assert!(
            grown < limit,
            "async server stream: memory grew by {grown} bytes over 1M items"
        );
    });

    // Client stream over an unbounded host iterator (the plugin stops at 2M).
    let before = rss_bytes();
    let (n, _) = w.weigh(&0, 0u64.., &2_000_000).unwrap();
    assert_eq!(n, 2_000_001);
    let grown = rss_bytes().saturating_sub(before);
    assert!(
        grown < limit,
        "client stream: memory grew by {grown} bytes over 2M items"
    );

    // Bidirectional over an unbounded input.
    let mut s = w.scale(0u64.., "").unwrap();
    s.by_ref().take(100_000).for_each(|r| {
        r.unwrap();
    });
    let before = rss_bytes();
    s.by_ref().take(2_000_000).for_each(|r| {
        r.unwrap();
    });
    let grown = rss_bytes().saturating_sub(before);
    assert!(
        grown < limit,
        "bidi stream: memory grew by {grown} bytes over 2M items"
    );
}
