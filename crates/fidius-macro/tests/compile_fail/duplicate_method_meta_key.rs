#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait T: Send + Sync {
    #[method_meta("effect", "pure")]
    #[method_meta("effect", "impure")]
    fn m(&self) -> u32;
}
fn main() {}
