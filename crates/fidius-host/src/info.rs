//! [`PluginInfo`]: what a host knows about a plugin before calling it, and
//! [`PluginRuntimeKind`], the backend that runs it.

use fidius_core::BufferStrategyKind;

/// Which backend runs a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginRuntimeKind {
    /// A native cdylib (or in-process registry entry).
    Cdylib,
    /// An embedded Python module.
    Python,
    /// A WebAssembly component.
    Wasm,
}

/// Identity and shape of a loaded plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Plugin name (the impl type's name for Rust plugins).
    pub name: String,
    /// Interface (trait) name.
    pub interface_name: String,
    /// Interface hash.
    pub interface_hash: u64,
    /// Interface version.
    pub interface_version: u32,
    /// Capability bits of implemented optional methods.
    pub capabilities: u64,
    /// Buffer strategy.
    pub buffer_strategy: BufferStrategyKind,
    /// Backend.
    pub runtime: PluginRuntimeKind,
}

impl PluginInfo {
    /// Runs as a native cdylib.
    pub fn is_cdylib(&self) -> bool {
        self.runtime == PluginRuntimeKind::Cdylib
    }
    /// Runs in embedded Python.
    pub fn is_python(&self) -> bool {
        self.runtime == PluginRuntimeKind::Python
    }
    /// Runs as a WASM component.
    pub fn is_wasm(&self) -> bool {
        self.runtime == PluginRuntimeKind::Wasm
    }
    /// Whether capability bit `bit` is set (false for `bit >= 64`).
    pub fn has_capability(&self, bit: u32) -> bool {
        bit < 64 && self.capabilities & (1u64 << bit) != 0
    }
}
