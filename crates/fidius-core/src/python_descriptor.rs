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

/// Where the methods of an interface take their stream argument (client and
/// bidirectional streams): `positions[m]` is the index of method `m`'s
/// stream among its arguments as the trait declares them, `None` for methods
/// without one. `#[plugin_interface]` registers one per interface beside
/// `<Trait>_PYTHON_DESCRIPTOR` and `<Trait>_WASM_DESCRIPTOR` (whose fidius
/// 0.5 shapes have no room for it); hosts look it up by interface name and
/// hash (Python: where to pass the stream; WASM: which methods pull one).
#[derive(Debug)]
pub struct PythonStreamArgs {
    /// The trait name.
    pub interface_name: &'static str,
    /// The interface hash.
    pub interface_hash: u64,
    /// Per method in trait order: the stream argument's position, if any.
    pub positions: &'static [Option<u8>],
}

inventory::collect!(PythonStreamArgs);

/// The stream-argument positions registered for `desc`'s interface, if
/// any. Without a registration (a descriptor made by hand, or a process
/// that does not link the interface crate) a host passes the stream first,
/// as fidius 0.5 does.
pub fn stream_arg_positions(desc: &PythonInterfaceDescriptor) -> Option<&'static [Option<u8>]> {
    stream_arg_positions_of(desc.interface_name, desc.interface_hash)
}

/// The stream-argument positions registered for the interface `name` with
/// `hash` (any backend's descriptor names both).
pub fn stream_arg_positions_of(name: &str, hash: u64) -> Option<&'static [Option<u8>]> {
    inventory::iter::<PythonStreamArgs>
        .into_iter()
        .find(|r| r.interface_name == name && r.interface_hash == hash)
        .map(|r| r.positions)
}
