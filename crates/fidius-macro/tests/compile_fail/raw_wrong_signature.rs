#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait T: Send + Sync {
    #[wire(raw)]
    fn m(&self, input: String) -> Vec<u8>;
}
fn main() {}
