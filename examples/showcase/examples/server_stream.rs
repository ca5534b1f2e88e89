//! Server streaming: the plugin produces; the host pulls (blocking iterator),
//! stops early, and the producer is dropped.

use fidius::{plugin_impl, PluginError, Stream};

#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Sensor: Send + Sync {
    fn readings(&self, limit: u32) -> Stream<u32>;
}

pub struct FakeSensor;

struct Cleanup;
impl Drop for Cleanup {
    fn drop(&mut self) {
        println!("  (producer dropped: cleanup ran)");
    }
}

#[plugin_impl(Sensor)]
impl Sensor for FakeSensor {
    fn readings(&self, limit: u32) -> Stream<u32> {
        let guard = Cleanup;
        Stream::try_from_iter((0..).map(move |i: u32| {
            let _keep = &guard;
            if i == limit {
                Err(PluginError::new(
                    "SENSOR_OFFLINE",
                    format!("sensor went offline after {i} readings"),
                ))
            } else {
                Ok(20 + i % 5)
            }
        }))
    }
}

fidius::fidius_plugin_registry!();

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sensor = SensorClient::in_process("FakeSensor")?;
    println!("first three readings:");
    for r in sensor.readings(&1000)?.take(3) {
        println!("  {}", r?);
    }
    println!("a producer that fails mid-stream:");
    for r in sensor.readings(&2)? {
        match r {
            Ok(v) => println!("  {v}"),
            Err(e) => println!("  error item: {e}"),
        }
    }
    Ok(())
}
