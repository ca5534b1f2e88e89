//! Streaming throughput (items/s) of the cdylib tier in each direction, for
//! `u64` and 4 KiB items, against an in-process iterator in the same run.
//! See docs/performance.md.

use bench_plugin::{StreamBencher, StreamerClient};
use divan::counter::ItemsCount;
use divan::{black_box, Bencher};
use fidius_host::PluginHost;
use std::path::Path;
use std::sync::OnceLock;

const N: u64 = 100_000;
const CHUNK: u32 = 4096;
const N_CHUNKS: u64 = 5_000;

struct Fixture {
    client: StreamerClient,
    _dir: tempfile::TempDir,
}

fn client() -> &'static StreamerClient {
    static F: OnceLock<Fixture> = OnceLock::new();
    &F.get_or_init(|| {
        let lib = fidius_test::dylib_fixture(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/bench-plugin"),
        )
        .release()
        .build()
        .into_path();
        let dir = tempfile::tempdir().unwrap();
        fidius_test::copy_into(&lib, dir.path());
        let host = PluginHost::builder()
            .search_path(dir.path())
            .build()
            .unwrap();
        Fixture {
            client: StreamerClient::load(&host, "StreamBencher").unwrap(),
            _dir: dir,
        }
    })
    .client
}

/// The same producer in process, behind a `Box<dyn Iterator>` (the baseline).
fn local_range(n: u64) -> Box<dyn Iterator<Item = u64> + Send> {
    black_box(Box::new(0..n))
}

fn main() {
    client();
    let _ = StreamBencher;
    divan::main();
}

mod server_u64 {
    use super::*;

    #[divan::bench]
    fn in_process_iterator(b: Bencher) {
        b.counter(ItemsCount::new(N))
            .bench_local(|| local_range(N).fold(0u64, |a, v| a.wrapping_add(v)));
    }

    #[divan::bench]
    fn cdylib_blocking(b: Bencher) {
        let c = client();
        b.counter(ItemsCount::new(N)).bench_local(|| {
            c.range(&N)
                .unwrap()
                .map(|r| r.unwrap())
                .fold(0u64, |a, v| a.wrapping_add(v))
        });
    }

    #[divan::bench]
    fn cdylib_async(b: Bencher) {
        let c = client();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        b.counter(ItemsCount::new(N)).bench_local(|| {
            rt.block_on(async {
                let mut s = c.range(&N).unwrap();
                let mut total = 0u64;
                while let Some(v) = std::future::poll_fn(|cx| {
                    futures_core::Stream::poll_next(std::pin::Pin::new(&mut s), cx)
                })
                .await
                {
                    total = total.wrapping_add(v.unwrap());
                }
                total
            })
        });
    }
}

mod server_4k {
    use super::*;

    #[divan::bench]
    fn in_process_iterator(b: Bencher) {
        b.counter(ItemsCount::new(N_CHUNKS)).bench_local(|| {
            let it: Box<dyn Iterator<Item = Vec<u8>>> = black_box(Box::new(
                (0..N_CHUNKS).map(|i| vec![i as u8; CHUNK as usize]),
            ));
            it.map(|c| c.len()).sum::<usize>()
        });
    }

    #[divan::bench]
    fn cdylib_blocking(b: Bencher) {
        let c = client();
        b.counter(ItemsCount::new(N_CHUNKS)).bench_local(|| {
            c.chunks(&N_CHUNKS, &CHUNK)
                .unwrap()
                .map(|r| r.unwrap().len())
                .sum::<usize>()
        });
    }
}

mod client_u64 {
    use super::*;

    #[divan::bench]
    fn in_process_iterator(b: Bencher) {
        b.counter(ItemsCount::new(N)).bench_local(|| {
            let it: Box<dyn Iterator<Item = u64> + Send> = black_box(Box::new(0..N));
            it.fold(0u64, |a, v| a.wrapping_add(v))
        });
    }

    #[divan::bench]
    fn cdylib(b: Bencher) {
        let c = client();
        b.counter(ItemsCount::new(N))
            .bench_local(|| c.sum(0..N).unwrap());
    }
}

mod client_4k {
    use super::*;

    #[divan::bench]
    fn cdylib(b: Bencher) {
        let c = client();
        b.counter(ItemsCount::new(N_CHUNKS)).bench_local(|| {
            c.total((0..N_CHUNKS).map(|i| vec![i as u8; CHUNK as usize]))
                .unwrap()
        });
    }
}

mod bidi_u64 {
    use super::*;

    #[divan::bench]
    fn cdylib_blocking(b: Bencher) {
        let c = client();
        b.counter(ItemsCount::new(N)).bench_local(|| {
            c.echo(0..N)
                .unwrap()
                .map(|r| r.unwrap())
                .fold(0u64, |a, v| a.wrapping_add(v))
        });
    }
}

mod bidi_4k {
    use super::*;

    #[divan::bench]
    fn cdylib_blocking(b: Bencher) {
        let c = client();
        b.counter(ItemsCount::new(N_CHUNKS)).bench_local(|| {
            c.echo_chunks((0..N_CHUNKS).map(|i| vec![i as u8; CHUNK as usize]))
                .unwrap()
                .map(|r| r.unwrap().len())
                .sum::<usize>()
        });
    }
}
