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

/// The kebab-case WIT name of a Rust identifier (fidius 0.5's rule):
/// `BytePipe` → `byte-pipe`, `add_direct` → `add-direct`, `r#type` → `type`.
/// Every uppercase letter after the first starts a new word.
pub fn kebab(ident: &str) -> String {
    let ident = ident.strip_prefix("r#").unwrap_or(ident);
    let mut out = String::with_capacity(ident.len() + 4);
    for (i, c) in ident.chars().enumerate() {
        if c == '_' {
            if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        } else if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with('-') {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// The UpperCamelCase name of a WIT name: `apply-input` → `ApplyInput`
/// (wit-bindgen's type names, and Rust variant names of WIT cases).
pub fn upper_camel(wit: &str) -> String {
    wit.split('-')
        .map(|w| {
            let mut cs = w.chars();
            match cs.next() {
                Some(c) => c.to_ascii_uppercase().to_string() + &cs.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect()
}
