//! Example interface crate with streams in all three directions and a
//! configured plugin (`cargo xtask demo` loads its plugin as a cdylib).

#![allow(unexpected_cfgs)]

pub use fidius::{plugin_impl, PluginError, Stream};
use serde::{Deserialize, Serialize};

/// Configuration of a telemetry plugin instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibration {
    /// Multiplier applied to raw readings.
    pub gain: u32,
    /// Sensor name.
    pub sensor: String,
}

/// Telemetry processing.
#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Telemetry: Send + Sync {
    /// The sensor's name (from its configuration).
    fn sensor(&self) -> String;
    /// `n` calibrated readings (the plugin produces).
    fn readings(&self, n: u32) -> Stream<u32>;
    /// Total of the host's raw readings, calibrated (the host produces).
    fn total(&self, raw: Stream<u32>) -> u64;
    /// Calibrates each raw reading (a plugin-owned transform).
    fn calibrate(&self, raw: Stream<u32>) -> Stream<u32>;
}
