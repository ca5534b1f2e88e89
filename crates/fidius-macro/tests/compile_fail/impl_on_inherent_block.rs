use fidius::plugin_impl;
pub struct P;
#[plugin_impl(T)]
impl P {
    fn m(&self) -> u32 { 1 }
}
fn main() {}
