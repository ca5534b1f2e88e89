// The trait need not name `Send + Sync` (as in fidius 0.5), but the host calls
// an impl from any thread, so a non-thread-safe impl type is rejected.
#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Counter {
    fn get(&self) -> u32;
}

#[derive(Default)]
pub struct Local(std::rc::Rc<u32>);

#[fidius::plugin_impl(Counter)]
impl Counter for Local {
    fn get(&self) -> u32 {
        *self.0
    }
}

fn main() {}
