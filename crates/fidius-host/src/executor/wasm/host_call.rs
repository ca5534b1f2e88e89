//! Host functions for WASM guests: the host interfaces bound to one
//! executor, and the `fidius:host-call` and `fidius:stream-pull` imports.
//!
//! A guest names the interface, version and hash on every call (fidius 0.5
//! protocol), so the gate runs per call: an unknown name is
//! `HOST_CALL_STATUS_NOT_BOUND`, a version or hash skew its own status with
//! `(guest's, host's)` as payload, the probe index answers without
//! dispatching; anything else runs through the host's function table.

use super::sandbox::HostState;
use crate::error::CallError;
use fidius_core::host_ffi::{self, HostFunctionTable, HostTable, HOST_CALL_PROBE_INDEX};
use fidius_core::status::{
    HOST_CALL_STATUS_HASH_MISMATCH, HOST_CALL_STATUS_NOT_BOUND, HOST_CALL_STATUS_VERSION_MISMATCH,
    STATUS_INVALID_INDEX, STATUS_OK, STATUS_SERIALIZATION_ERROR,
};
use std::collections::HashMap;
use std::sync::RwLock;
use wasmtime::component::Linker;
use wasmtime::StoreContextMut;

/// One bound interface: the host's table, freed when the executor (and every
/// stream it started) is gone.
struct Bound {
    hash: u64,
    version: u32,
    table: HostTable,
}

// SAFETY: a host function table is immutable once built, and its dispatch
// runs `Send + Sync` implementations (the `#[host_interface]` contract).
unsafe impl Send for Bound {}
// SAFETY: as above; `dispatch` may be called from any thread at once.
unsafe impl Sync for Bound {}

impl Drop for Bound {
    fn drop(&mut self) {
        // SAFETY: this executor owns the table; no store that could call it
        // is left (every store holds the `Arc<HostTables>`).
        unsafe {
            std::mem::replace(&mut self.table, HostTable::leaked(std::ptr::null())).release()
        };
    }
}

/// The host interfaces bound to one WASM executor (shared with its stores).
#[derive(Default)]
pub struct HostTables(RwLock<HashMap<String, Bound>>);

impl HostTables {
    /// Binds `table` for interface `name`; a second binding of one name is
    /// refused with `BIND_ERR_ALREADY_BOUND` and the new table is freed.
    ///
    /// # Safety
    /// `table` must be a valid host function table whose `free` frees exactly it.
    pub(crate) unsafe fn bind(
        &self,
        name: &str,
        hash: u64,
        version: u32,
        table: HostTable,
    ) -> Result<(), crate::LoadError> {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        let refused = if table.table.is_null() {
            Some(host_ffi::BIND_ERR_NULL)
        } else if map.contains_key(name) {
            Some(host_ffi::BIND_ERR_ALREADY_BOUND)
        } else {
            None
        };
        if let Some(code) = refused {
            // SAFETY: refused, so nobody else holds it.
            unsafe { table.release() };
            return Err(crate::LoadError::HostBindFailed {
                interface: name.to_owned(),
                code,
                message: host_ffi::bind_status_message(code).into(),
            });
        }
        map.insert(
            name.to_owned(),
            Bound {
                hash,
                version,
                table,
            },
        );
        Ok(())
    }

    /// Runs one guest call through the gates and the bound table.
    fn call(&self, name: &str, version: u32, hash: u64, index: u32, args: &[u8]) -> (i32, Vec<u8>) {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        let Some(bound) = map.get(name) else {
            return (HOST_CALL_STATUS_NOT_BOUND, Vec::new());
        };
        if bound.version != version {
            let payload =
                fidius_core::wire::serialize(&(version, bound.version)).unwrap_or_default();
            return (HOST_CALL_STATUS_VERSION_MISMATCH, payload);
        }
        if bound.hash != hash {
            let payload = fidius_core::wire::serialize(&(hash, bound.hash)).unwrap_or_default();
            return (HOST_CALL_STATUS_HASH_MISMATCH, payload);
        }
        if index == HOST_CALL_PROBE_INDEX {
            return (STATUS_OK, Vec::new());
        }
        // SAFETY: a table bound above, valid until this executor is dropped
        // (we hold the read lock, and the `Arc` keeps the map alive).
        let table: &HostFunctionTable = unsafe { &*bound.table.table };
        if index >= table.fn_count {
            return (STATUS_INVALID_INDEX, Vec::new());
        }
        // SAFETY: as above; the dispatch contract is the table's.
        unsafe { host_ffi::call_host_raw(table, index, args) }
            .unwrap_or((STATUS_SERIALIZATION_ERROR, Vec::new()))
    }
}

/// Links WASI and the two fidius imports every fidius 0.5 component may use.
pub(crate) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    super::blocking::link(linker)?;
    let mut pull = linker.instance("fidius:stream-pull/pull@0.1.0")?;
    pull.func_wrap(
        "next",
        |mut store: StoreContextMut<'_, HostState>,
         (): ()|
         -> wasmtime::Result<(Option<Vec<u8>>,)> {
            let state = store.data_mut();
            let Some(items) = state.client.as_mut() else {
                return Ok((None,));
            };
            let mut buf = Vec::new();
            match items.next_wire(&mut buf) {
                None => {
                    state.client = None;
                    Ok((None,))
                }
                Some(Ok(())) => Ok((Some(buf),)),
                Some(Err(e)) => {
                    // The guest has no error channel here: stop it, and let
                    // the host's call report why.
                    let message = e.to_string();
                    state.client = None;
                    state.client_error = Some(e);
                    Err(wasmtime::Error::msg(format!(
                        "the host's stream item failed: {message}"
                    )))
                }
            }
        },
    )?;
    let mut host = linker.instance("fidius:host-call/host@0.1.0")?;
    host.func_wrap(
        "call",
        |store: StoreContextMut<'_, HostState>,
         (iface, version, hash, index, args): (String, u32, u64, u32, Vec<u8>)| {
            let Some(tables) = store.data().hosts.clone() else {
                return Ok(((HOST_CALL_STATUS_NOT_BOUND, Vec::<u8>::new()),));
            };
            Ok((tables.call(&iface, version, hash, index, &args),))
        },
    )?;
    Ok(())
}

/// The error a host-side failure of the stream-pull import left in a store.
pub(crate) fn take_client_error(state: &mut HostState) -> Option<CallError> {
    state.client_error.take()
}
