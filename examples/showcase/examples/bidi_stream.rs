//! Bidirectional streaming: a plugin-owned transform. Pulling an output
//! item pulls input items through the plugin, one lazy pipeline.

use fidius::{plugin_impl, Stream};

#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Transform: Send + Sync {
    fn moving_average(&self, window: u32, values: Stream<f64>) -> Stream<f64>;
}

pub struct Smoother;

#[plugin_impl(Transform)]
impl Transform for Smoother {
    fn moving_average(&self, window: u32, values: Stream<f64>) -> Stream<f64> {
        let mut buf = std::collections::VecDeque::new();
        Stream::from_iter(values.map(move |v| {
            buf.push_back(v);
            if buf.len() > window as usize {
                buf.pop_front();
            }
            buf.iter().sum::<f64>() / buf.len() as f64
        }))
    }
}

fidius::fidius_plugin_registry!();

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t = TransformClient::in_process("Smoother")?;
    let noisy = (0..).map(|i| if i % 2 == 0 { 10.0 } else { 20.0 }); // unbounded input
    let smooth: Vec<f64> = t
        .moving_average(&4, noisy)?
        .take(6)
        .collect::<Result<_, _>>()?;
    println!("smoothed: {smooth:?}");
    Ok(())
}
