//! The plugin identity and policy types at their fidius 0.5 path
//! (`fidius_host::types`); they live in [`crate::info`] and [`crate::host`].

pub use crate::host::LoadPolicy;
pub use crate::info::{PluginInfo, PluginRuntimeKind};
