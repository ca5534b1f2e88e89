#[fidius::plugin_interface(version = 1, buffer = CallerAllocated)]
pub trait T: Send + Sync {
    fn m(&self) -> u32;
}
fn main() {}
