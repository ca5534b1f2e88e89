//! Cost of WASM streams against an in-process iterator in the same run:
//! draining a server stream of `u64`s (items per second), and setting up and
//! draining a 10-item stream (fresh instance, and with instance reuse). A
//! client stream of `u64`s summed by the guest. See docs/performance.md.
//!
//! Run with `cargo bench -p fidius-host --features wasm --bench wasm_streams`.

use divan::{black_box, Bencher};
use fidius_host::PluginHost;
use std::path::Path;
use std::sync::OnceLock;
use wasm_flow::FlowClient;

const ITEMS: u64 = 10_000;

struct Fixture {
    fresh: FlowClient,
    reused: FlowClient,
    _host: PluginHost,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let component = fidius_test::wasm_fixture(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/wasm-flow"),
        )
        .release()
        .build()
        .into_path();
        let dir = tempfile::tempdir().unwrap();
        fidius_test::wasm_package(dir.path(), "fresh", &component, &[], "");
        fidius_test::wasm_package(
            dir.path(),
            "reused",
            &component,
            &[],
            "reuse_instances = true\n",
        );
        let host = PluginHost::builder()
            .search_path(dir.path())
            .wasm_cache_dir(None)
            .build()
            .unwrap();
        Fixture {
            fresh: FlowClient::load(&host, "fresh").unwrap(),
            reused: FlowClient::load(&host, "reused").unwrap(),
            _host: host,
            _dir: dir,
        }
    })
}

fn main() {
    divan::main();
}

/// Baseline: an in-process iterator of the same items.
#[divan::bench]
fn iterator_10k_items(b: Bencher) {
    b.bench(|| (0..black_box(ITEMS)).map(black_box).sum::<u64>());
}

/// A WASM server stream of 10 000 `u64`s, drained.
#[divan::bench]
fn wasm_server_stream_10k_items(b: Bencher) {
    let f = fixture();
    b.bench(|| {
        f.reused
            .count(&ITEMS)
            .unwrap()
            .map(|i| i.unwrap())
            .sum::<u64>()
    });
}

/// Set-up and drain of a 10-item stream on a fresh instance.
#[divan::bench]
fn wasm_stream_setup_10_items_fresh(b: Bencher) {
    let f = fixture();
    b.bench(|| f.fresh.count(&10).unwrap().map(|i| i.unwrap()).sum::<u64>());
}

/// Set-up and drain of a 10-item stream on a pooled instance.
#[divan::bench]
fn wasm_stream_setup_10_items_reused(b: Bencher) {
    let f = fixture();
    b.bench(|| {
        f.reused
            .count(&10)
            .unwrap()
            .map(|i| i.unwrap())
            .sum::<u64>()
    });
}

/// A WASM client stream of 10 000 `u64`s, summed by the guest.
#[divan::bench]
fn wasm_client_stream_10k_items(b: Bencher) {
    let f = fixture();
    b.bench(|| f.reused.sum(0..black_box(ITEMS)).unwrap());
}
