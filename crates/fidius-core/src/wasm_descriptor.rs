//! What a host needs to call a WASM component plugin of an interface: the
//! export to navigate to and, per method, its WIT name and wire mode.
//! `#[plugin_interface]` emits one as `<Trait>_WASM_DESCRIPTOR`.

/// One method of a WASM interface, in trait (vtable) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WasmMethodDesc {
    /// The WIT function name (kebab-case of the Rust method name).
    pub name: &'static str,
    /// `#[wire(raw)]`: `func(list<u8>) -> list<u8>`.
    pub wire_raw: bool,
    /// The method returns a stream resource.
    pub streaming: bool,
}

/// A WASM interface: `fidius:<iface>/<iface>@0.1.0` and its methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WasmInterfaceDescriptor {
    /// The trait name.
    pub interface_name: &'static str,
    /// The component export holding the functions, e.g. `fidius:calc/calc@0.1.0`.
    pub interface_export: &'static str,
    /// The interface hash the component must report through `fidius-interface-hash`.
    pub interface_hash: u64,
    /// Methods in trait order (index = `METHOD_*` constant).
    pub methods: &'static [WasmMethodDesc],
}
