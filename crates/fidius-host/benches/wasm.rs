//! Cost of the WASM component tier against a direct `Box<dyn Trait>` call
//! (and `memcpy`) in the same run: `add(i64, i64)` with a fresh instance per
//! call (zero-config isolation) and with instance reuse, a raw 256 KiB echo,
//! and loading an already-compiled component. See docs/performance.md.
//!
//! Run with `cargo bench -p fidius-host --features wasm --bench wasm`.

use divan::{black_box, Bencher};
use fidius_host::PluginHost;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use wasm_lab::__fidius_Lab::Lab_WASM_DESCRIPTOR;
use wasm_lab::{Lab, LabClient, LabPlugin};

struct Fixture {
    fresh: LabClient,
    reused: LabClient,
    host: PluginHost,
    component: PathBuf,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let component = fidius_test::wasm_fixture(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/wasm-lab"),
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
            fresh: LabClient::load(&host, "fresh").unwrap(),
            reused: LabClient::load(&host, "reused").unwrap(),
            host,
            component,
            _dir: dir,
        }
    })
}

fn main() {
    if !fidius_host::executor::wasm::pooling_allocator_in_use() {
        eprintln!("note: the pooling allocator is not in use on this machine");
    }
    divan::main();
}

fn direct() -> Box<dyn Lab> {
    black_box(Box::new(LabPlugin::default()) as Box<dyn Lab>)
}

#[divan::bench]
fn add_direct_dyn(b: Bencher) {
    let d = direct();
    b.bench_local(|| d.add(black_box(1), black_box(2)));
}

#[divan::bench]
fn add_wasm_fresh_instance(b: Bencher) {
    let f = fixture();
    b.bench_local(|| f.fresh.add(black_box(&1), black_box(&2)).unwrap());
}

#[divan::bench]
fn add_wasm_reused_instance(b: Bencher) {
    let f = fixture();
    b.bench_local(|| f.reused.add(black_box(&1), black_box(&2)).unwrap());
}

const ECHO: usize = 256 * 1024;

#[divan::bench]
fn echo_256k_memcpy(b: Bencher) {
    let input = vec![7u8; ECHO];
    b.bench_local(|| black_box(input.clone()).len());
}

/// Times `call` on a 256 KiB input (it returns the output's length).
fn bytes_256k(b: Bencher, call: impl Fn(&[u8]) -> usize) {
    let input = vec![7u8; ECHO];
    b.bench_local(|| call(black_box(&input)));
}

#[divan::bench]
fn echo_256k_wasm_raw_reused(b: Bencher) {
    let f = fixture();
    bytes_256k(b, |i| f.reused.echo(i).unwrap().len());
}

#[divan::bench]
fn echo_256k_wasm_raw_fresh(b: Bencher) {
    let f = fixture();
    bytes_256k(b, |i| f.fresh.echo(i).unwrap().len());
}

/// `reverse` does guest work on every byte (under fuel): not a crossing cost.
#[divan::bench]
fn reverse_256k_wasm_raw_reused(b: Bencher) {
    let f = fixture();
    bytes_256k(b, |i| f.reused.reverse(i).unwrap().len());
}

#[divan::bench]
fn load_compiled_component(b: Bencher) {
    let f = fixture();
    b.bench_local(|| f.host.load_wasm("fresh", &Lab_WASM_DESCRIPTOR).unwrap());
}

#[divan::bench(sample_count = 10)]
fn load_first_compile(b: Bencher) {
    let bytes = std::fs::read(&fixture().component).unwrap();
    b.bench_local(|| {
        // A byte of difference defeats the cache (custom section appended).
        let mut unique = bytes.clone();
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        unique.extend_from_slice(&[0, 7, 1, b'x']);
        unique.extend_from_slice(&n.to_le_bytes()[..5]);
        fidius_host::executor::wasm::validate_component(&unique).unwrap()
    });
}
