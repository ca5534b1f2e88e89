#[fidius::plugin_interface(buffer = PluginAllocated)]
pub trait T: Send + Sync {
    fn m(&self) -> u32;
}
fn main() {}
