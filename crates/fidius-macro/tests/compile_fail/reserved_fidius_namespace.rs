#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
#[trait_meta("fidius.kind", "x")]
pub trait T: Send + Sync {
    fn m(&self) -> u32;
}
fn main() {}
