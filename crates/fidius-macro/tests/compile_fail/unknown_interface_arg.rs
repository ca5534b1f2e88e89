#[fidius::plugin_interface(version = 1, buffer = Arena, flavour = "x")]
pub trait T: Send + Sync {
    fn m(&self) -> u32;
}
fn main() {}
