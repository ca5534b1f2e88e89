//! Load → call → stream → unload cycles, for `cargo xtask leaks` to run
//! under valgrind: calls and streams on a loaded plugin must leak nothing,
//! and what each load/unload costs is measured.
//!
//! Usage: `leak_cycles <plugin directory> <loads> <rounds per load>` (the
//! directory holds the test-plugin-smoke library). One round is a typed
//! call, a whole server stream and a stream dropped mid-way.

use fidius_host::PluginHost;
use std::path::PathBuf;
use test_plugin_smoke::{AddInput, CalculatorClient, TickerClient};

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: leak_cycles <plugin dir> <loads> <rounds per load>";
    let dir = PathBuf::from(args.next().expect(usage));
    let loads: u32 = args.next().map_or(1, |n| n.parse().expect(usage));
    let rounds: u32 = args.next().map_or(1, |n| n.parse().expect(usage));
    for _ in 0..loads {
        let host = PluginHost::builder()
            .search_path(&dir)
            .build()
            .expect("host");
        let calc = CalculatorClient::load(&host, "BasicCalculator").expect("load");
        let ticker = TickerClient::load(&host, "TickerImpl").expect("load");
        for _ in 0..rounds {
            let sum = calc.add(&AddInput { a: 40, b: 2 }).expect("call").result;
            assert_eq!(sum, 42);
            let items: Vec<u64> = ticker
                .tick(&5)
                .expect("stream")
                .map(|r| r.expect("item"))
                .collect();
            assert_eq!(items, [0, 1, 2, 3, 4]);
            // Dropped mid-stream: the producer is freed too.
            let mut partial = ticker.tick(&1000).expect("stream");
            assert_eq!(partial.next().transpose().expect("item"), Some(0));
            drop(partial);
        }
        drop((calc, ticker, host));
    }
    println!("{loads} loads x {rounds} rounds done");
}
