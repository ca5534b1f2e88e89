#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait T: Send + Sync {
    fn base(&self) -> u32;
    #[optional(since = 2)]
    fn m0(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m1(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m2(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m3(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m4(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m5(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m6(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m7(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m8(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m9(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m10(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m11(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m12(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m13(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m14(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m15(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m16(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m17(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m18(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m19(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m20(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m21(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m22(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m23(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m24(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m25(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m26(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m27(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m28(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m29(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m30(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m31(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m32(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m33(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m34(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m35(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m36(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m37(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m38(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m39(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m40(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m41(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m42(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m43(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m44(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m45(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m46(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m47(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m48(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m49(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m50(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m51(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m52(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m53(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m54(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m55(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m56(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m57(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m58(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m59(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m60(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m61(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m62(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m63(&self) -> u32 { 0 }
    #[optional(since = 2)]
    fn m64(&self) -> u32 { 0 }
}
fn main() {}
