//! Pins the ABI 500 layouts, constants and status codes (fidius 0.5 compatible).

use fidius_core::descriptor::*;
use fidius_core::status::*;
use fidius_core::{wire, PluginError};
use std::mem::{align_of, offset_of, size_of};

#[test]
fn registry_layout() {
    assert_eq!(size_of::<PluginRegistry>(), 24);
    assert_eq!(align_of::<PluginRegistry>(), 8);
    assert_eq!(offset_of!(PluginRegistry, magic), 0);
    assert_eq!(offset_of!(PluginRegistry, registry_version), 8);
    assert_eq!(offset_of!(PluginRegistry, plugin_count), 12);
    assert_eq!(offset_of!(PluginRegistry, descriptors), 16);
}

#[test]
fn descriptor_layout() {
    assert_eq!(size_of::<PluginDescriptor>(), 120);
    assert_eq!(align_of::<PluginDescriptor>(), 8);
    let offsets = [
        (offset_of!(PluginDescriptor, descriptor_size), 0),
        (offset_of!(PluginDescriptor, abi_version), 4),
        (offset_of!(PluginDescriptor, interface_name), 8),
        (offset_of!(PluginDescriptor, interface_hash), 16),
        (offset_of!(PluginDescriptor, interface_version), 24),
        (offset_of!(PluginDescriptor, capabilities), 32),
        (offset_of!(PluginDescriptor, buffer_strategy), 40),
        (offset_of!(PluginDescriptor, plugin_name), 48),
        (offset_of!(PluginDescriptor, vtable), 56),
        (offset_of!(PluginDescriptor, free_buffer), 64),
        (offset_of!(PluginDescriptor, method_count), 72),
        (offset_of!(PluginDescriptor, method_metadata), 80),
        (offset_of!(PluginDescriptor, trait_metadata), 88),
        (offset_of!(PluginDescriptor, trait_metadata_count), 96),
        (offset_of!(PluginDescriptor, construct), 104),
        (offset_of!(PluginDescriptor, destroy), 112),
    ];
    for (i, (got, want)) in offsets.iter().enumerate() {
        assert_eq!(got, want, "field #{i}");
    }
}

#[test]
fn metadata_layout() {
    assert_eq!(size_of::<MetaKv>(), 16);
    assert_eq!(offset_of!(MetaKv, key), 0);
    assert_eq!(offset_of!(MetaKv, value), 8);
    assert_eq!(size_of::<MethodMetaEntry>(), 16);
    assert_eq!(offset_of!(MethodMetaEntry, kvs), 0);
    assert_eq!(offset_of!(MethodMetaEntry, kv_count), 8);
    assert_eq!(size_of::<Option<PluginAllocatedFn>>(), 8);
    assert_eq!(size_of::<Option<ArenaFn>>(), 8);
}

#[test]
fn constants() {
    assert_eq!(&FIDIUS_MAGIC, b"FIDIUS\0\0");
    assert_eq!(REGISTRY_VERSION, 1);
    assert_eq!(ABI_VERSION, 500);
    assert_eq!(BufferStrategyKind::PluginAllocated as u8, 1);
    assert_eq!(BufferStrategyKind::Arena as u8, 2);
    assert_eq!(BufferStrategyKind::from_u8(0), Err(0));
    assert_eq!(BufferStrategyKind::Arena.to_string(), "Arena");
    let codes = [
        STATUS_OK,
        STATUS_BUFFER_TOO_SMALL,
        STATUS_SERIALIZATION_ERROR,
        STATUS_PLUGIN_ERROR,
        STATUS_PANIC,
        STATUS_STREAM_END,
        STATUS_INVALID_INDEX,
        HOST_CALL_STATUS_NOT_BOUND,
        HOST_CALL_STATUS_VERSION_MISMATCH,
        HOST_CALL_STATUS_HASH_MISMATCH,
    ];
    assert_eq!(codes, [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]);
}

#[test]
fn plugin_error_wire_and_display() {
    let e = PluginError::with_details("E", "bad", serde_json::json!({"k": [1, 2]}));
    assert_eq!(e.to_string(), "[E] bad");
    let bytes = wire::serialize(&e).unwrap();
    // code, message, Some(details): u64 lengths and a one-byte Option tag.
    assert_eq!(&bytes[..8], &1u64.to_le_bytes());
    assert_eq!(bytes[8], b'E');
    let back: PluginError = wire::deserialize(&bytes).unwrap();
    assert_eq!(back, e);
    assert_eq!(back.details_value().unwrap()["k"][1], 2);
    assert_eq!(PluginError::new("A", "b").details_value(), None);
}
