//! What a host needs to call a Python plugin of an interface: the expected
//! `__interface_hash__` and one callable name per method, in trait order.
//! `#[plugin_interface]` emits one as `<Trait>_PYTHON_DESCRIPTOR`.

/// One method of a Python interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PythonMethodDesc {
    /// The attribute name (the Rust method name).
    pub name: &'static str,
    /// `#[wire(raw)]`: called with one `bytes`, returns bytes.
    pub wire_raw: bool,
}

/// A Python interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PythonInterfaceDescriptor {
    /// The trait name.
    pub interface_name: &'static str,
    /// The hash the module's `__interface_hash__` must equal.
    pub interface_hash: u64,
    /// Methods in trait order.
    pub methods: &'static [PythonMethodDesc],
}
