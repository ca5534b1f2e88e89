//! Low-level client-stream handles a host builds for a plugin to pull
//! (fidius 0.5 entry points); [`crate::PluginHandle::call_client_stream`] wraps them.

use fidius_core::stream_ffi::FidiusStreamHandle;

/// A handle producing `items`, each already encoded with the fidius wire
/// (bincode) and passed through unchanged. The receiver owns the handle and
/// frees it with its `drop_fn` (calls such as
/// [`crate::PluginHandle::call_client_streaming_raw`] do).
pub fn host_producer_handle(
    items: impl Iterator<Item = Vec<u8>> + Send + 'static,
) -> *mut FidiusStreamHandle {
    fidius_core::stream_ffi::producer_handle_encoded(items.map(Ok))
}

/// A handle producing `items`, encoded lazily with the fidius wire as the
/// plugin pulls them. Ownership as for [`host_producer_handle`].
pub fn host_producer_handle_typed<I: serde::Serialize + 'static>(
    items: impl Iterator<Item = I> + Send + 'static,
) -> *mut FidiusStreamHandle {
    fidius_core::stream_ffi::producer_handle(items.map(Ok))
}
