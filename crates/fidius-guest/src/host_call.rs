//! Host functions from a WASM guest: calls go through the
//! `fidius:host-call` import as `(interface, version, hash, index, args)`,
//! and the host checks the interface's name, version and hash on every call
//! before it dispatches (fidius 0.5 protocol).
//!
//! Generated `<Trait>Client`s of `#[host_interface]` traits use these; plugin
//! code rarely needs them directly.

use crate::host_ffi::{decode_host_status, HostCallError, HOST_CALL_PROBE_INDEX};
use crate::status::{
    HOST_CALL_STATUS_HASH_MISMATCH, HOST_CALL_STATUS_NOT_BOUND, HOST_CALL_STATUS_VERSION_MISMATCH,
};

/// Calls host function `index` of `interface` with the encoded argument
/// tuple; returns the host's status and output bytes as they are.
pub fn call(interface: &str, version: u32, hash: u64, index: u32, args: &[u8]) -> (i32, Vec<u8>) {
    crate::imports::host_call(interface, version, hash, index, args)
}

/// The gate statuses of the host-call import as errors (`None`: not a gate status).
fn gate_error(
    interface: &str,
    version: u32,
    hash: u64,
    status: i32,
    bytes: &[u8],
) -> Option<HostCallError> {
    match status {
        HOST_CALL_STATUS_NOT_BOUND => Some(HostCallError::NotBound {
            interface: interface.to_owned(),
        }),
        HOST_CALL_STATUS_VERSION_MISMATCH => Some(HostCallError::VersionMismatch {
            interface: interface.to_owned(),
            plugin_expects: version,
            host_provides: hosts_side(bytes),
        }),
        HOST_CALL_STATUS_HASH_MISMATCH => Some(HostCallError::HashMismatch {
            interface: interface.to_owned(),
            plugin_expects: hash,
            host_provides: hosts_side(bytes),
        }),
        _ => None,
    }
}

/// The host's side of a gate payload `(guest's, host's)` (0 if unreadable).
fn hosts_side<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> T {
    crate::wire::deserialize::<(T, T)>(bytes)
        .map(|(_, host)| host)
        .unwrap_or_default()
}

/// Whether the host bound `interface` with this version and hash (a call
/// with the probe index, which the host answers without dispatching).
pub fn probe(interface: &str, version: u32, hash: u64) -> Result<(), HostCallError> {
    let (status, bytes) = call(interface, version, hash, HOST_CALL_PROBE_INDEX, &[]);
    match gate_error(interface, version, hash, status, &bytes) {
        Some(e) => Err(e),
        None if status == crate::status::STATUS_OK => Ok(()),
        None => Err(HostCallError::UnknownStatus { code: status }),
    }
}

/// Calls host function `index` and decodes its result as `O`.
pub fn call_decoded<O: serde::de::DeserializeOwned>(
    interface: &str,
    version: u32,
    hash: u64,
    index: u32,
    args: &[u8],
) -> Result<O, HostCallError> {
    let (status, bytes) = call(interface, version, hash, index, args);
    if let Some(e) = gate_error(interface, version, hash, status, &bytes) {
        return Err(e);
    }
    decode_host_status(status, &bytes, index)
}
