//! Reading descriptor metadata (trait pairs, per-method pairs, the reserved
//! `fidius.kind` entry) without constructing a plugin instance.

use fidius_core::descriptor::{cstr_or_empty, MetaKv, PluginDescriptor};
use fidius_core::kind::{MethodKind, KIND_META_KEY};

/// Reads `count` metadata pairs.
///
/// # Safety
/// `kvs` must be null or point at `count` pairs of valid C strings living for `'a`.
pub(crate) unsafe fn read_pairs<'a>(kvs: *const MetaKv, count: u32) -> Vec<(&'a str, &'a str)> {
    if kvs.is_null() {
        return Vec::new();
    }
    (0..count as usize)
        .map(|i| {
            // SAFETY: in bounds per the caller's contract.
            let kv = unsafe { &*kvs.add(i) };
            // SAFETY: static C strings per the caller's contract.
            unsafe { (cstr_or_empty(kv.key), cstr_or_empty(kv.value)) }
        })
        .collect()
}

/// All metadata pairs of method `i` (including reserved keys).
///
/// # Safety
/// `d` must be a valid descriptor and `i < d.method_count`.
pub(crate) unsafe fn method_pairs(d: &PluginDescriptor, i: u32) -> Vec<(&str, &str)> {
    if d.method_metadata.is_null() {
        return Vec::new();
    }
    // SAFETY: `method_metadata` has `method_count` entries.
    let entry = unsafe { &*d.method_metadata.add(i as usize) };
    // SAFETY: entries point at static pairs.
    unsafe { read_pairs(entry.kvs, entry.kv_count) }
}

/// The call kind recorded for method `i`, if any.
///
/// # Safety
/// As for [`method_pairs`].
pub(crate) unsafe fn method_kind(d: &PluginDescriptor, i: u32) -> Option<MethodKind> {
    // SAFETY: forwarded caller contract.
    unsafe { method_pairs(d, i) }
        .into_iter()
        .find(|(k, _)| *k == KIND_META_KEY)
        .and_then(|(_, v)| MethodKind::parse(v))
}
