#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait T: Send + Sync {
    fn m(&mut self) -> u32;
}
fn main() {}
