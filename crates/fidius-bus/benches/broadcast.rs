//! Broadcast throughput of the std host to 1, 4 and 16 no-op plugins,
//! against `tokio::sync::broadcast` with the same number of consuming
//! threads, in the same run (messages per second, end to end: send all,
//! then wait until every consumer has seen every message).

use divan::counter::ItemsCount;
use divan::Bencher;
use fidius_bus::{from_fn, AttachOptions, Host, Message};

const N: u64 = 20_000;

fn main() {
    divan::main();
}

#[divan::bench(args = [1, 4, 16])]
fn fidius_bus_std_host(b: Bencher, plugins: usize) {
    b.counter(ItemsCount::new(N)).bench_local(|| {
        let mut host = Host::new();
        for _ in 0..plugins {
            host.attach_with(
                from_fn(|m: Message<u64>| {
                    divan::black_box(*m);
                    None
                }),
                AttachOptions::default().capacity(1024),
            );
        }
        for i in 0..N {
            host.send(i);
        }
        host.end()
    });
}

#[divan::bench(args = [1, 4, 16])]
fn tokio_sync_broadcast(b: Bencher, receivers: usize) {
    b.counter(ItemsCount::new(N)).bench_local(|| {
        let (tx, _) = tokio::sync::broadcast::channel::<std::sync::Arc<u64>>(1024);
        let workers: Vec<_> = (0..receivers)
            .map(|_| {
                let mut rx = tx.subscribe();
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while let Ok(v) = rx.blocking_recv() {
                        divan::black_box(*v);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        for i in 0..N {
            // Same backpressure as the bus's Block policy: wait while any
            // receiver would lag (so no message is lost).
            while tx.len() >= 1000 {
                std::thread::yield_now();
            }
            let _ = tx.send(std::sync::Arc::new(i));
        }
        drop(tx);
        workers.into_iter().map(|w| w.join().unwrap()).sum::<u64>()
    });
}
