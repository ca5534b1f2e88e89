//! Client streaming: the host produces (lazily, from any iterator); the
//! plugin pulls. An unbounded host iterator is fine: the plugin stops pulling.

use fidius::{plugin_impl, Stream};

#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Stats: Send + Sync {
    fn mean(&self, values: Stream<f64>) -> f64;
    fn first_over(&self, threshold: u64, values: Stream<u64>) -> Option<u64>;
}

pub struct Calculator;

#[plugin_impl(Stats)]
impl Stats for Calculator {
    fn mean(&self, values: Stream<f64>) -> f64 {
        let (n, sum) = values.fold((0u64, 0.0), |(n, s), v| (n + 1, s + v));
        if n == 0 {
            0.0
        } else {
            sum / n as f64
        }
    }
    fn first_over(&self, threshold: u64, mut values: Stream<u64>) -> Option<u64> {
        values.find(|v| *v > threshold)
    }
}

fidius::fidius_plugin_registry!();

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let stats = StatsClient::in_process("Calculator")?;
    println!("mean of 1..=100: {}", stats.mean((1..=100).map(f64::from))?);
    let squares = (0u64..).map(|i| i * i); // unbounded
    println!(
        "first square over 1000: {:?}",
        stats.first_over(&1000, squares)?
    );
    Ok(())
}
