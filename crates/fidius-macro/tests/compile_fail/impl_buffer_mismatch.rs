use fidius::plugin_impl;
#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait T: Send + Sync {
    fn m(&self) -> u32;
}
pub struct P;
#[plugin_impl(T, buffer = Arena)]
impl T for P {
    fn m(&self) -> u32 { 1 }
}
fn main() {}
