//! Configured instances: the config crosses the boundary once, setup runs
//! once, and differently configured instances coexist.

use fidius::plugin_impl;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct CounterConfig {
    pub start: u64,
    pub step: u64,
}

#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Counter: Send + Sync {
    fn next(&self) -> u64;
}

pub struct StepCounter {
    state: std::sync::atomic::AtomicU64,
    step: u64,
}

impl StepCounter {
    pub fn configure(cfg: CounterConfig) -> Self {
        println!(
            "  (setup runs once: start {}, step {})",
            cfg.start, cfg.step
        );
        Self {
            state: std::sync::atomic::AtomicU64::new(cfg.start),
            step: cfg.step,
        }
    }
}

#[plugin_impl(Counter, config = CounterConfig)]
impl Counter for StepCounter {
    fn next(&self) -> u64 {
        self.state
            .fetch_add(self.step, std::sync::atomic::Ordering::SeqCst)
    }
}

fidius::fidius_plugin_registry!();

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let by_one =
        CounterClient::configure_in_process("StepCounter", &CounterConfig { start: 0, step: 1 })?;
    let by_ten = CounterClient::configure_in_process(
        "StepCounter",
        &CounterConfig {
            start: 100,
            step: 10,
        },
    )?;
    for _ in 0..3 {
        println!(
            "by_one: {:>3}   by_ten: {:>3}",
            by_one.next()?,
            by_ten.next()?
        );
    }
    // A config of the wrong type is a load error that names the cause.
    match CounterClient::configure_in_process("StepCounter", &"oops") {
        Err(e) => println!("bad config refused: {e}"),
        Ok(_) => println!("unexpected success"),
    }
    Ok(())
}
