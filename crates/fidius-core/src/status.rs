//! Status codes returned by every vtable slot, stream `next` and host
//! dispatch function (all `i32`, identical to fidius 0.5).

/// Success.
pub const STATUS_OK: i32 = 0;
/// The output does not fit the lent buffer; the required size is in `out_len`.
pub const STATUS_BUFFER_TOO_SMALL: i32 = -1;
/// Arguments or result could not be (de)serialized at the boundary.
pub const STATUS_SERIALIZATION_ERROR: i32 = -2;
/// The output holds a bincode [`crate::PluginError`].
pub const STATUS_PLUGIN_ERROR: i32 = -3;
/// A panic was caught; a `PluginAllocated` output may hold a bincode `String` message.
pub const STATUS_PANIC: i32 = -4;
/// A stream ended cleanly.
pub const STATUS_STREAM_END: i32 = -5;
/// A host-function dispatch index was out of range.
pub const STATUS_INVALID_INDEX: i32 = -6;
/// Host call: the interface is not bound.
pub const HOST_CALL_STATUS_NOT_BOUND: i32 = -7;
/// Host call: interface version mismatch.
pub const HOST_CALL_STATUS_VERSION_MISMATCH: i32 = -8;
/// Host call: interface hash mismatch.
pub const HOST_CALL_STATUS_HASH_MISMATCH: i32 = -9;

/// A short name for a status code, for error messages.
pub fn status_name(code: i32) -> &'static str {
    match code {
        STATUS_OK => "STATUS_OK",
        STATUS_BUFFER_TOO_SMALL => "STATUS_BUFFER_TOO_SMALL",
        STATUS_SERIALIZATION_ERROR => "STATUS_SERIALIZATION_ERROR",
        STATUS_PLUGIN_ERROR => "STATUS_PLUGIN_ERROR",
        STATUS_PANIC => "STATUS_PANIC",
        STATUS_STREAM_END => "STATUS_STREAM_END",
        STATUS_INVALID_INDEX => "STATUS_INVALID_INDEX",
        HOST_CALL_STATUS_NOT_BOUND => "HOST_CALL_STATUS_NOT_BOUND",
        HOST_CALL_STATUS_VERSION_MISMATCH => "HOST_CALL_STATUS_VERSION_MISMATCH",
        HOST_CALL_STATUS_HASH_MISMATCH => "HOST_CALL_STATUS_HASH_MISMATCH",
        _ => "unknown status",
    }
}
