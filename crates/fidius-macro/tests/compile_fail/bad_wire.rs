#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait T: Send + Sync {
    #[wire(json)]
    fn m(&self, input: Vec<u8>) -> Vec<u8>;
}
fn main() {}
