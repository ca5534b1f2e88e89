//! Example plugin: a configured telemetry processor with streams.

use telemetry_api::{plugin_impl, Calibration, Stream, Telemetry};

/// A calibrated sensor.
pub struct CalibratedSensor {
    cal: Calibration,
}

impl CalibratedSensor {
    /// Builds an instance from its calibration (runs once per instance).
    pub fn configure(cal: Calibration) -> Self {
        Self { cal }
    }
}

#[plugin_impl(Telemetry, config = Calibration)]
impl Telemetry for CalibratedSensor {
    fn sensor(&self) -> String {
        self.cal.sensor.clone()
    }
    fn readings(&self, n: u32) -> Stream<u32> {
        let gain = self.cal.gain;
        Stream::from_iter((0..n).map(move |i| (10 + i % 7) * gain))
    }
    fn total(&self, raw: Stream<u32>) -> u64 {
        raw.map(|v| u64::from(v) * u64::from(self.cal.gain)).sum()
    }
    fn calibrate(&self, raw: Stream<u32>) -> Stream<u32> {
        let gain = self.cal.gain;
        Stream::from_iter(raw.map(move |v| v * gain))
    }
}

fidius::fidius_plugin_registry!();
