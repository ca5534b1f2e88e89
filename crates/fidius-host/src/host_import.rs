//! Binding host interfaces in a loaded library: reads the library's optional
//! `fidius_get_host_imports` registry, checks the import (ABI, version,
//! hash) and hands it a host function table.

use crate::error::LoadError;
use fidius_core::descriptor::{cstr_or_empty, ABI_VERSION, FIDIUS_MAGIC};
use fidius_core::host_ffi::{
    bind_status_message, HostFunctionTable, HostImportDescriptor, HostImportRegistry, HostTable,
    BIND_OK, HOST_IMPORTS_VERSION,
};
use libloading::Library;

/// One host interface a library imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostImportInfo {
    /// Interface name.
    pub interface_name: String,
    /// Hash the plugin was built against.
    pub interface_hash: u64,
    /// Version the plugin was built against.
    pub interface_version: u32,
}

/// Reads the library's import registry; `Ok(None)` if it exports none
/// (libraries built before host functions existed).
fn imports(library: &Library) -> Result<Option<Vec<&HostImportDescriptor>>, LoadError> {
    type GetImports = unsafe extern "C" fn() -> *const HostImportRegistry;
    // SAFETY: the symbol, when present, has this signature.
    let Ok(get) = (unsafe { library.get::<GetImports>(b"fidius_get_host_imports\0") }) else {
        return Ok(None);
    };
    // SAFETY: calling the library's export.
    let reg = unsafe { get() };
    let invalid = |reason: &str| LoadError::HostImportRegistryInvalid {
        reason: reason.to_owned(),
    };
    if reg.is_null() {
        return Err(invalid("fidius_get_host_imports returned null"));
    }
    // SAFETY: non-null registry of the fixed 24-byte layout inside the loaded library.
    let reg = unsafe { &*reg };
    if reg.magic != FIDIUS_MAGIC {
        return Err(invalid("bad magic"));
    }
    if reg.registry_version != HOST_IMPORTS_VERSION {
        return Err(invalid("unsupported registry version"));
    }
    if reg.import_count > 4096 {
        return Err(invalid("implausible import count"));
    }
    if reg.import_count > 0 && reg.imports.is_null() {
        return Err(invalid("null import array"));
    }
    let mut out = Vec::with_capacity(reg.import_count as usize);
    for i in 0..reg.import_count as usize {
        // SAFETY: `imports` holds `import_count` pointers (checked non-null above).
        let d = unsafe { *reg.imports.add(i) };
        if d.is_null() {
            return Err(invalid("null import descriptor"));
        }
        // SAFETY: every descriptor version starts with its size; read by
        // place before a reference to the whole (possibly shorter) one exists.
        let size = unsafe { std::ptr::addr_of!((*d).descriptor_size).read() };
        if (size as usize) < std::mem::size_of::<HostImportDescriptor>() {
            return Err(invalid(&format!(
                "import descriptor of {size} bytes is smaller than this layout ({} bytes)",
                std::mem::size_of::<HostImportDescriptor>()
            )));
        }
        // SAFETY: a descriptor inside the loaded library, as large as it must be.
        out.push(unsafe { &*d });
    }
    Ok(Some(out))
}

/// The host interfaces a library imports (empty if it exports no registry).
pub fn list_host_imports(library: &Library) -> Result<Vec<HostImportInfo>, LoadError> {
    Ok(imports(library)?
        .unwrap_or_default()
        .into_iter()
        .map(|d| HostImportInfo {
            // SAFETY: descriptor names are static C strings of the library.
            interface_name: unsafe { cstr_or_empty(d.interface_name) }.to_owned(),
            interface_hash: d.interface_hash,
            interface_version: d.interface_version,
        })
        .collect())
}

/// Binds host interface `name` in `library` with the table `build_table`
/// makes (only built once every check passed; leaked, also when the plugin
/// refuses it). `Ok(false)` if the library does not import the interface.
/// Generated bindings use [`bind_host_interface_owned`], which frees a
/// refused table.
pub fn bind_host_interface(
    library: &Library,
    name: &str,
    hash: u64,
    version: u32,
    build_table: impl FnOnce() -> *const HostFunctionTable,
) -> Result<bool, LoadError> {
    // SAFETY: a leaked table is never freed, so there is nothing to get wrong.
    unsafe {
        bind_host_interface_owned(library, name, hash, version, || {
            HostTable::leaked(build_table())
        })
    }
}

/// [`bind_host_interface`] with a table that is freed again if the plugin
/// refuses it (already bound, doctored): a refused bind keeps nothing.
///
/// # Safety
/// `build_table` must return a valid table (or null) whose `free`, if any,
/// frees exactly that table.
pub unsafe fn bind_host_interface_owned(
    library: &Library,
    name: &str,
    hash: u64,
    version: u32,
    build_table: impl FnOnce() -> HostTable,
) -> Result<bool, LoadError> {
    let Some(imports) = imports(library)? else {
        return Ok(false);
    };
    // SAFETY: descriptor names are static C strings of the library.
    let Some(d) = imports
        .into_iter()
        .find(|d| unsafe { cstr_or_empty(d.interface_name) } == name)
    else {
        return Ok(false);
    };
    if d.abi_version != ABI_VERSION {
        return Err(LoadError::IncompatibleAbiVersion {
            got: d.abi_version,
            expected: ABI_VERSION,
        });
    }
    if d.interface_version != version {
        return Err(LoadError::HostInterfaceVersionMismatch {
            interface: name.to_owned(),
            plugin_expects: d.interface_version,
            host_provides: version,
        });
    }
    if d.interface_hash != hash {
        return Err(LoadError::HostInterfaceHashMismatch {
            interface: name.to_owned(),
            plugin_expects: d.interface_hash,
            host_provides: hash,
        });
    }
    let table = build_table();
    // SAFETY: the import's bind function with a valid table (or null, which it refuses).
    let code = unsafe { (d.bind)(table.table) };
    if code == BIND_OK {
        Ok(true)
    } else {
        // SAFETY: refused, so the plugin does not hold it; `free` is the builder's.
        unsafe { table.release() };
        Err(LoadError::HostBindFailed {
            interface: name.to_owned(),
            code,
            message: bind_status_message(code).to_owned(),
        })
    }
}

impl crate::loader::LoadedLibrary {
    /// The host interfaces this library imports.
    pub fn host_imports(&self) -> Result<Vec<HostImportInfo>, LoadError> {
        list_host_imports(&self.library)
    }
}

impl crate::loader::LoadedPlugin {
    /// The host interfaces this plugin's library imports.
    pub fn host_imports(&self) -> Result<Vec<HostImportInfo>, LoadError> {
        list_host_imports(&self.library)
    }
}
