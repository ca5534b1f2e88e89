//! [`CdylibExecutor`]: calls a native plugin (a loaded cdylib or an
//! in-process registry entry) through its vtable, owning one instance.
//!
//! Every status code, pointer and length the plugin returns is checked.

use super::{OutputSink, PluginExecutor};
use crate::arena;
use crate::error::{CallError, LoadError};
use crate::info::PluginInfo;
use crate::loader::{self, LoadedPlugin};
use crate::meta::{method_pairs, read_pairs};
use crate::stream::{OwnedStreamHandle, RawStream};
use fidius_core::descriptor::{
    ArenaFn, DestroyFn, FreeBufferFn, PluginAllocatedFn, PluginDescriptor,
};
use fidius_core::kind::RESERVED_META_PREFIX;
use fidius_core::rt::{SCRATCH_OFFER_MASK, SCRATCH_OFFER_TAG};
use fidius_core::status::*;
use fidius_core::stream_ffi::{ClientStreamFn, FidiusStreamHandle, StreamPuller};
use fidius_core::{BufferStrategyKind, MethodKind, PluginError};
use libloading::Library;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::Cell;
use std::ffi::c_void;
use std::sync::Arc;

/// Size of the stack scratch offered for small outputs.
const SCRATCH_LEN: usize = 128;
/// Largest argument tuple encoded on the stack.
const STACK_INPUT_LEN: usize = 256;

/// An `io::Write` into uninitialised stack memory; bytes below `len` are initialised.
struct StackWriter<'a> {
    // Borrowed (not owned): building the writer must not initialise the buffer
    // (an owned `MaybeUninit` field got zero-filled by the optimiser, 264 bytes a call).
    buf: &'a mut std::mem::MaybeUninit<[u8; STACK_INPUT_LEN]>,
    len: usize,
}

impl<'a> StackWriter<'a> {
    fn new(buf: &'a mut std::mem::MaybeUninit<[u8; STACK_INPUT_LEN]>) -> Self {
        Self { buf, len: 0 }
    }

    fn written(&self) -> &[u8] {
        // SAFETY: the first `len` bytes were written by `write` below.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr() as *const u8, self.len) }
    }
}

impl std::io::Write for StackWriter<'_> {
    #[inline]
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if data.len() > STACK_INPUT_LEN - self.len {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        // SAFETY: `len + data.len() <= STACK_INPUT_LEN`, so the destination is
        // inside the buffer; source and destination cannot overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                (self.buf.as_mut_ptr() as *mut u8).add(self.len),
                data.len(),
            );
        }
        self.len += data.len();
        Ok(data.len())
    }

    #[inline]
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.write(data).map(|_| ())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

thread_local! {
    /// Reused argument-encoding buffer (taken while in use, so reentrant calls get their own).
    static ENCODE_BUF: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Calls one instance of a native plugin.
pub struct CdylibExecutor {
    info: PluginInfo,
    descriptor: *const PluginDescriptor,
    vtable: *const c_void,
    instance: *mut c_void,
    free_buffer: Option<FreeBufferFn>,
    destroy: Option<DestroyFn>,
    method_count: u32,
    kinds: Vec<Option<MethodKind>>,
    /// The plugin records call kinds, so it was built by this fidius and
    /// understands the scratch-output offer.
    scratch_offer: bool,
    // Keeps the code and data behind every pointer above mapped; `None` in-process.
    _library: Option<Arc<Library>>,
}

// SAFETY: plugin methods take `&self` and interface traits are `Send + Sync`,
// so the instance may be used from any thread concurrently; the other
// pointers are immutable library data kept alive by `_library`.
unsafe impl Send for CdylibExecutor {}
// SAFETY: as above.
unsafe impl Sync for CdylibExecutor {}

impl Drop for CdylibExecutor {
    fn drop(&mut self) {
        if let Some(destroy) = self.destroy {
            if !self.instance.is_null() {
                // SAFETY: the instance came from this descriptor's `construct`
                // and is destroyed exactly once, here.
                unsafe { destroy(self.instance) };
            }
        }
    }
}

impl CdylibExecutor {
    /// Instantiates a loaded plugin with zero-config (empty config bytes).
    ///
    /// # Panics
    /// If the plugin's constructor fails (fidius 0.5 shape); use
    /// [`Self::try_from_loaded`] to get the error instead.
    pub fn from_loaded(plugin: LoadedPlugin) -> Self {
        Self::try_from_loaded(plugin).unwrap_or_else(|e| panic!("CdylibExecutor::from_loaded: {e}"))
    }

    /// Instantiates a loaded plugin with bincode config bytes.
    ///
    /// # Panics
    /// If the plugin's constructor fails or rejects the config; use
    /// [`Self::try_from_loaded_with_config`] to get the error instead.
    pub fn from_loaded_with_config(plugin: LoadedPlugin, config: &[u8]) -> Self {
        Self::try_from_loaded_with_config(plugin, config)
            .unwrap_or_else(|e| panic!("CdylibExecutor::from_loaded_with_config: {e}"))
    }

    /// Instantiates a loaded plugin with zero-config (empty config bytes).
    pub fn try_from_loaded(plugin: LoadedPlugin) -> Result<Self, LoadError> {
        Self::try_from_loaded_with_config(plugin, &[])
    }

    /// Instantiates a loaded plugin with bincode config bytes.
    pub fn try_from_loaded_with_config(
        plugin: LoadedPlugin,
        config: &[u8],
    ) -> Result<Self, LoadError> {
        // Only what the loader validated is used (the public fields may have
        // been changed): the sealed descriptor, read again for the info.
        let sealed = plugin.sealed().clone();
        // SAFETY: validated by the loader; kept mapped by the sealed library.
        let info = unsafe { loader::validate_descriptor(sealed.descriptor, &sealed.origin) }?;
        // SAFETY: as above; the library moves into the executor.
        unsafe { Self::build(sealed.descriptor, info, Some(sealed.library), config) }
    }

    /// Instantiates an in-process plugin (zero-config).
    pub fn from_descriptor(desc: &'static PluginDescriptor) -> Result<Self, LoadError> {
        Self::from_descriptor_with_config(desc, &[])
    }

    /// Instantiates an in-process plugin with bincode config bytes.
    pub fn from_descriptor_with_config(
        desc: &'static PluginDescriptor,
        config: &[u8],
    ) -> Result<Self, LoadError> {
        // Only descriptors of this process's registry: a `&'static
        // PluginDescriptor` can be built in safe code with any pointers.
        if !fidius_core::registry::descriptors()
            .iter()
            .any(|d| std::ptr::eq(*d, desc))
        {
            return Err(LoadError::InvalidDescriptor {
                path: "<in-process>".into(),
                reason: "not a descriptor of this process's plugin registry (only plugins registered with #[plugin_impl] can be instantiated in process)".into(),
            });
        }
        // SAFETY: a registered descriptor, valid for the whole process.
        let info = unsafe { loader::validate_descriptor(desc, "<in-process>") }?;
        // SAFETY: as above; no library to keep alive.
        unsafe { Self::build(desc, info, None, config) }
    }

    /// Finds an in-process plugin descriptor by plugin name.
    pub fn find_in_process_descriptor(name: &str) -> Result<&'static PluginDescriptor, LoadError> {
        fidius_core::registry::descriptors()
            .iter()
            .copied()
            // SAFETY: registry descriptors carry static names.
            .find(|d| unsafe { d.plugin_name_str() } == name)
            .ok_or_else(|| LoadError::PluginNotFound {
                name: name.to_owned(),
            })
    }

    /// # Safety
    /// `desc` must be a validated descriptor that stays valid while `library` lives
    /// (or forever, for `None`).
    unsafe fn build(
        desc: *const PluginDescriptor,
        info: PluginInfo,
        library: Option<Arc<Library>>,
        config: &[u8],
    ) -> Result<Self, LoadError> {
        // SAFETY: caller contract.
        let d = unsafe { &*desc };
        let kinds: Vec<Option<MethodKind>> = (0..d.method_count)
            // SAFETY: descriptor is valid per the caller's contract; `i < method_count`.
            .map(|i| unsafe { crate::meta::method_kind(d, i) })
            .collect();
        let construct = d.construct.ok_or_else(|| LoadError::ConstructFailed {
            plugin: info.name.clone(),
            reason: "the plugin exports no construct function".into(),
        })?;
        let cfg_len = u32::try_from(config.len())
            .map_err(|_| LoadError::ConfigSerialization("config larger than 4 GiB".into()))?;
        // SAFETY: `construct` follows the ABI: reads `cfg_len` bytes, returns
        // an owned instance or null.
        let instance = unsafe { construct(config.as_ptr(), cfg_len) };
        if instance.is_null() {
            return Err(LoadError::ConstructFailed {
                plugin: info.name.clone(),
                reason: construct_failure(library.as_deref()).unwrap_or_else(|| {
                    "construct returned null (a plugin built by fidius 0.5 gives no reason)".into()
                }),
            });
        }
        Ok(Self {
            info,
            descriptor: desc,
            vtable: d.vtable,
            instance,
            free_buffer: d.free_buffer,
            destroy: d.destroy,
            method_count: d.method_count,
            scratch_offer: kinds.iter().any(Option::is_some),
            kinds,
            _library: library,
        })
    }

    /// The descriptor this executor calls through.
    pub fn descriptor(&self) -> &PluginDescriptor {
        // SAFETY: valid while `_library` (held by self) is mapped.
        unsafe { &*self.descriptor }
    }

    #[inline(always)]
    fn check(&self, index: usize, attempted: MethodKind) -> Result<*const c_void, CallError> {
        super::check_call(
            index,
            self.method_count,
            self.kinds.get(index).copied().flatten(),
            attempted,
        )?;
        // Every slot is pointer-sized; required slots are never null, optional ones may be.
        // SAFETY: `index < method_count` and the vtable has `method_count` slots.
        let slot = unsafe { *(self.vtable as *const *const c_void).add(index) };
        if slot.is_null() {
            return Err(CallError::NotImplemented { bit: index as u32 });
        }
        Ok(slot)
    }

    /// Calls slot `index` with `input`, handing the output bytes to `sink`.
    #[inline(always)]
    fn invoke<S: FnMut(&[u8]) -> Result<(), CallError>>(
        &self,
        index: usize,
        attempted: MethodKind,
        input: &[u8],
        sink: S,
    ) -> Result<(), CallError> {
        let in_len = u32::try_from(input.len())
            .map_err(|_| CallError::Serialization("input larger than 4 GiB".into()))?;
        let slot = self.check(index, attempted)?;
        match self.info.buffer_strategy {
            BufferStrategyKind::PluginAllocated => {
                self.invoke_plugin_allocated(slot, input, in_len, sink)
            }
            BufferStrategyKind::Arena => self.invoke_arena(slot, input, in_len, sink),
        }
    }

    #[inline(always)]
    fn invoke_plugin_allocated<S: FnMut(&[u8]) -> Result<(), CallError>>(
        &self,
        slot: *const c_void,
        input: &[u8],
        in_len: u32,
        mut sink: S,
    ) -> Result<(), CallError> {
        // SAFETY: PluginAllocated slots have this signature (checked strategy).
        let f: PluginAllocatedFn = unsafe { std::mem::transmute(slot) };
        // Plugins built by this fidius (they record call kinds) may write small
        // outputs into this scratch instead of allocating (see rt::SCRATCH_OFFER_TAG).
        let mut scratch = [0u8; SCRATCH_LEN];
        let (mut out_ptr, mut out_len): (*mut u8, u32) = if self.scratch_offer {
            (scratch.as_mut_ptr(), SCRATCH_OFFER_TAG | SCRATCH_LEN as u32)
        } else {
            (std::ptr::null_mut(), 0)
        };
        // SAFETY: input valid for `in_len` bytes; out pointers are our locals;
        // a scratch offer points at SCRATCH_LEN writable bytes.
        let status = unsafe {
            f(
                self.instance,
                input.as_ptr(),
                in_len,
                &mut out_ptr,
                &mut out_len,
            )
        };
        if !matches!(status, STATUS_OK | STATUS_PLUGIN_ERROR | STATUS_PANIC) {
            return Err(status_error(status));
        }
        if self.scratch_offer && out_ptr == scratch.as_mut_ptr() {
            // The offer left untouched (e.g. a panic whose message could not be
            // placed) means "no output".
            let untouched = out_len & SCRATCH_OFFER_MASK == SCRATCH_OFFER_TAG;
            let Some(bytes) = scratch.get(..if untouched { 0 } else { out_len as usize }) else {
                return Err(CallError::Serialization(format!(
                    "plugin reported {out_len} bytes in a {SCRATCH_LEN}-byte scratch buffer"
                )));
            };
            return match status {
                STATUS_OK => sink(bytes),
                STATUS_PLUGIN_ERROR => Err(decode_plugin_error(bytes)),
                _ => Err(CallError::Panic(decode_panic(bytes))),
            };
        }
        self.finish_allocated(status, out_ptr, out_len, sink)
    }

    /// Reads (then frees) a PluginAllocated output the plugin handed over.
    #[inline(always)]
    fn finish_allocated<S: FnMut(&[u8]) -> Result<(), CallError>>(
        &self,
        status: i32,
        out_ptr: *mut u8,
        out_len: u32,
        mut sink: S,
    ) -> Result<(), CallError> {
        if !matches!(status, STATUS_OK | STATUS_PLUGIN_ERROR | STATUS_PANIC) {
            return Err(status_error(status));
        }
        if out_ptr.is_null() && out_len > 0 {
            return Err(CallError::Serialization(format!(
                "plugin returned a null output buffer with length {out_len}"
            )));
        }
        if out_ptr.is_null() {
            return match status {
                STATUS_OK => sink(&[]),
                STATUS_PLUGIN_ERROR => Err(decode_plugin_error(&[])),
                _ => Err(CallError::Panic(decode_panic(&[]))),
            };
        }
        // Frees the buffer however the read ends, a panicking sink included.
        let owned = PluginBuffer {
            ptr: out_ptr,
            len: out_len as usize,
            free: self.free_buffer,
        };
        // SAFETY: the plugin hands us `out_len` readable bytes at `out_ptr`
        // until we call its `free_buffer` (when `owned` drops, after this use).
        let bytes = unsafe { std::slice::from_raw_parts(owned.ptr, owned.len) };
        match status {
            STATUS_OK => sink(bytes),
            STATUS_PLUGIN_ERROR => Err(decode_plugin_error(bytes)),
            _ => Err(CallError::Panic(decode_panic(bytes))),
        }
    }

    /// Turns the result of a stream-producing slot into a source.
    fn finish_stream(
        &self,
        status: i32,
        out_ptr: *mut u8,
        out_len: u32,
    ) -> Result<RawStream, CallError> {
        if status != STATUS_OK {
            let err = self
                .finish_allocated(status, out_ptr, out_len, |_| Ok(()))
                .err();
            return Err(match err {
                Some(CallError::Serialization(_)) | None => {
                    CallError::Serialization("stream init: argument decode failed".into())
                }
                Some(e) => e,
            });
        }
        if out_ptr.is_null() {
            return Err(CallError::Backend {
                runtime: "cdylib".into(),
                message: "the plugin returned a null stream handle".into(),
            });
        }
        // SAFETY: on STATUS_OK a stream slot hands over an owned stream handle.
        let puller = unsafe { StreamPuller::new(out_ptr as *mut FidiusStreamHandle) };
        Ok(Box::new(crate::stream::CdylibSource::new(
            puller,
            self._library.clone(),
        )))
    }

    fn invoke_arena<S: FnMut(&[u8]) -> Result<(), CallError>>(
        &self,
        slot: *const c_void,
        input: &[u8],
        in_len: u32,
        mut sink: S,
    ) -> Result<(), CallError> {
        // SAFETY: Arena slots have this signature (checked strategy).
        let f: ArenaFn = unsafe { std::mem::transmute(slot) };
        arena::with_arena(|buf| {
            let mut retried = false;
            loop {
                let cap = u32::try_from(buf.len()).unwrap_or(u32::MAX);
                let mut off: u32 = 0;
                let mut len: u32 = 0;
                // SAFETY: input valid for `in_len` bytes; the arena is valid for `cap` writes.
                let status = unsafe {
                    f(
                        self.instance,
                        input.as_ptr(),
                        in_len,
                        buf.as_mut_ptr(),
                        cap,
                        &mut off,
                        &mut len,
                    )
                };
                if status == STATUS_BUFFER_TOO_SMALL && !retried {
                    let needed = len as usize;
                    if needed <= buf.len() || needed > arena::MAX_ARENA_CAPACITY {
                        return Err(CallError::BufferTooSmall);
                    }
                    arena::grow_arena(buf, needed);
                    retried = true;
                    continue;
                }
                if !matches!(status, STATUS_OK | STATUS_PLUGIN_ERROR | STATUS_PANIC) {
                    return Err(status_error(status));
                }
                let end = (off as usize).checked_add(len as usize);
                let bytes = match end {
                    Some(end) if end <= buf.len() => &buf[off as usize..end],
                    _ if status == STATUS_PANIC => &[][..],
                    _ => {
                        return Err(CallError::Serialization(format!(
                            "plugin reported out_offset/out_len ({off}+{len}) outside the {cap}-byte arena"
                        )))
                    }
                };
                return match status {
                    STATUS_OK => sink(bytes),
                    STATUS_PLUGIN_ERROR => Err(decode_plugin_error(bytes)),
                    _ if bytes.is_empty() => Err(CallError::Panic(
                        "plugin panicked (message not transmitted via Arena strategy)".into(),
                    )),
                    _ => Err(CallError::Panic(decode_panic(bytes))),
                };
            }
        })
    }

    /// Typed call: encodes `input` (the argument tuple), decodes an `O`.
    pub fn call_method<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        index: usize,
        input: &I,
    ) -> Result<O, CallError> {
        call_typed(self, index, input)
    }

    /// Raw call of a `#[wire(raw)]` method.
    pub fn call_method_raw(&self, index: usize, input: &[u8]) -> Result<Vec<u8>, CallError> {
        self.call_raw(index, input)
    }

    /// Whether optional-method capability `bit` is set.
    pub fn has_capability(&self, bit: u32) -> bool {
        self.info.has_capability(bit)
    }

    /// Identity and shape.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// User metadata of a method (reserved `fidius.*` keys excluded).
    pub fn method_metadata(&self, method_id: u32) -> Vec<(&str, &str)> {
        if method_id >= self.method_count {
            return Vec::new();
        }
        // SAFETY: descriptor valid while self lives.
        unsafe { method_pairs(self.descriptor(), method_id) }
            .into_iter()
            .filter(|(k, _)| !k.starts_with(RESERVED_META_PREFIX))
            .collect()
    }

    /// Trait-level metadata.
    pub fn trait_metadata(&self) -> Vec<(&str, &str)> {
        let d = self.descriptor();
        // SAFETY: validated: non-null when count > 0; static strings.
        unsafe { read_pairs(d.trait_metadata, d.trait_metadata_count) }
    }

    /// The call kind recorded for `method`, if any.
    pub fn method_kind(&self, method: usize) -> Option<MethodKind> {
        self.kinds.get(method).copied().flatten()
    }
}

impl CdylibExecutor {
    /// Calls a client-stream-shaped slot, handing `stream` to the plugin.
    fn call_stream_slot(
        &self,
        method: usize,
        kind: MethodKind,
        stream: OwnedStreamHandle,
        input: &[u8],
    ) -> Result<(i32, *mut u8, u32), CallError> {
        let in_len = u32::try_from(input.len())
            .map_err(|_| CallError::Serialization("input larger than 4 GiB".into()))?;
        let slot = self.check(method, kind)?;
        // SAFETY: client-stream and bidi slots have the ClientStreamFn signature.
        let f: ClientStreamFn = unsafe { std::mem::transmute(slot) };
        let (mut out_ptr, mut out_len) = (std::ptr::null_mut(), 0u32);
        let handle = stream.into_raw();
        // SAFETY: the plugin takes ownership of `handle` (and drops it); input
        // valid for `in_len` bytes; out pointers are our locals.
        let status = unsafe {
            f(
                self.instance,
                handle,
                input.as_ptr(),
                in_len,
                &mut out_ptr,
                &mut out_len,
            )
        };
        Ok((status, out_ptr, out_len))
    }
}

/// The reason a plugin recorded for its last failed `construct` on this thread.
fn construct_failure(library: Option<&Library>) -> Option<String> {
    let ptr = match library {
        None => fidius_core::rt::last_construct_error(),
        Some(lib) => {
            type LastError = unsafe extern "C" fn() -> *const std::ffi::c_char;
            // SAFETY: the symbol, when present, has this signature (fidius_plugin_registry!).
            let f = unsafe { lib.get::<LastError>(b"fidius_last_construct_error\0") }.ok()?;
            // SAFETY: returns null or a NUL-terminated string valid until the next construct.
            unsafe { f() }
        }
    };
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-null NUL-terminated string owned by the plugin's thread-local.
    Some(
        unsafe { std::ffi::CStr::from_ptr(ptr) }
            .to_string_lossy()
            .into_owned(),
    )
}

pub(crate) fn status_error(status: i32) -> CallError {
    match status {
        STATUS_BUFFER_TOO_SMALL => CallError::BufferTooSmall,
        STATUS_SERIALIZATION_ERROR => CallError::Serialization(
            "the plugin could not decode the arguments or encode its result (STATUS_SERIALIZATION_ERROR)".into(),
        ),
        code => CallError::UnknownStatus { code },
    }
}

pub(crate) fn decode_plugin_error(bytes: &[u8]) -> CallError {
    if bytes.is_empty() {
        return CallError::Plugin(PluginError::new(
            "UNKNOWN",
            "plugin returned error but no error data",
        ));
    }
    match fidius_core::wire::deserialize::<PluginError>(bytes) {
        Ok(e) => CallError::Plugin(e),
        Err(e) => CallError::Deserialization(format!("plugin error payload: {e}")),
    }
}

fn decode_panic(bytes: &[u8]) -> String {
    fidius_core::wire::deserialize::<String>(bytes).unwrap_or_else(|_| "unknown panic".into())
}

/// A unary wire call with a statically known output sink (inlinable for the
/// cdylib executor; one dynamic call for any other backend).
pub(crate) trait WireCaller {
    fn call_wire_with<S: FnMut(&[u8]) -> Result<(), CallError>>(
        &self,
        index: usize,
        input: &[u8],
        sink: S,
    ) -> Result<(), CallError>;
    fn runtime_name(&self) -> String;
}

impl WireCaller for CdylibExecutor {
    #[inline]
    fn call_wire_with<S: FnMut(&[u8]) -> Result<(), CallError>>(
        &self,
        index: usize,
        input: &[u8],
        sink: S,
    ) -> Result<(), CallError> {
        self.invoke(index, MethodKind::Unary, input, sink)
    }
    fn runtime_name(&self) -> String {
        "cdylib".into()
    }
}

impl WireCaller for dyn PluginExecutor {
    #[inline]
    fn call_wire_with<S: FnMut(&[u8]) -> Result<(), CallError>>(
        &self,
        index: usize,
        input: &[u8],
        mut sink: S,
    ) -> Result<(), CallError> {
        self.call_wire(index, input, &mut sink)
    }
    fn runtime_name(&self) -> String {
        format!("{:?}", self.info().runtime).to_lowercase()
    }
}

/// Typed call through any executor: encode on the stack (or in a reused
/// buffer), decode the output in place.
#[inline]
pub(crate) fn call_typed<E: WireCaller + ?Sized, I: Serialize + ?Sized, O: DeserializeOwned>(
    exec: &E,
    index: usize,
    input: &I,
) -> Result<O, CallError> {
    let decode = |bytes: &[u8], out: &mut Option<O>| -> Result<(), CallError> {
        *out = Some(
            fidius_core::wire::deserialize(bytes)
                .map_err(|e| CallError::Deserialization(e.to_string()))?,
        );
        Ok(())
    };
    // Small argument tuples are encoded on the stack (an overflow falls
    // through to the reusable heap buffer below).
    let mut stack_buf = std::mem::MaybeUninit::<[u8; STACK_INPUT_LEN]>::uninit();
    let mut stack = StackWriter::new(&mut stack_buf);
    if fidius_core::wire::serialize_into(&mut stack, input).is_ok() {
        let mut out: Option<O> = None;
        exec.call_wire_with(index, stack.written(), |bytes| decode(bytes, &mut out))?;
        return out.ok_or_else(|| CallError::Backend {
            runtime: exec.runtime_name(),
            message: "call returned no output".into(),
        });
    }
    let mut buf = ENCODE_BUF.try_with(Cell::take).unwrap_or_default();
    buf.clear();
    let result = match fidius_core::wire::serialize_append(&mut buf, input) {
        Err(e) => Err(CallError::Serialization(e.to_string())),
        Ok(()) => {
            let mut out: Option<O> = None;
            exec.call_wire_with(index, &buf, |bytes| decode(bytes, &mut out))
                .and_then(|()| {
                    out.ok_or_else(|| CallError::Backend {
                        runtime: exec.runtime_name(),
                        message: "call returned no output".into(),
                    })
                })
        }
    };
    if buf.capacity() <= 1 << 20 {
        let _ = ENCODE_BUF.try_with(|b| b.set(buf));
    }
    result
}

impl PluginExecutor for CdylibExecutor {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    fn method_count(&self) -> u32 {
        self.method_count
    }

    fn call_raw(&self, method: usize, input: &[u8]) -> Result<Vec<u8>, CallError> {
        let mut out = Vec::new();
        self.invoke(method, MethodKind::Raw, input, |bytes: &[u8]| {
            out.extend_from_slice(bytes);
            Ok(())
        })?;
        Ok(out)
    }

    fn call_wire(
        &self,
        method: usize,
        input: &[u8],
        output: OutputSink<'_>,
    ) -> Result<(), CallError> {
        self.invoke(method, MethodKind::Unary, input, output)
    }

    fn method_kind(&self, method: usize) -> Option<MethodKind> {
        CdylibExecutor::method_kind(self, method)
    }

    fn call_server_stream(&self, method: usize, input: &[u8]) -> Result<RawStream, CallError> {
        let in_len = u32::try_from(input.len())
            .map_err(|_| CallError::Serialization("input larger than 4 GiB".into()))?;
        let slot = self.check(method, MethodKind::ServerStream)?;
        if self.info.buffer_strategy != BufferStrategyKind::PluginAllocated {
            return Err(CallError::Backend {
                runtime: "cdylib".into(),
                message: "streaming needs the PluginAllocated strategy".into(),
            });
        }
        // SAFETY: stream-init slots have the PluginAllocated signature.
        let f: PluginAllocatedFn = unsafe { std::mem::transmute(slot) };
        let (mut out_ptr, mut out_len) = (std::ptr::null_mut(), 0u32);
        // SAFETY: input valid for `in_len` bytes; out pointers are our locals.
        let status = unsafe {
            f(
                self.instance,
                input.as_ptr(),
                in_len,
                &mut out_ptr,
                &mut out_len,
            )
        };
        self.finish_stream(status, out_ptr, out_len)
    }

    fn call_client_stream(
        &self,
        method: usize,
        stream: OwnedStreamHandle,
        input: &[u8],
        output: OutputSink<'_>,
    ) -> Result<(), CallError> {
        let (status, out_ptr, out_len) =
            self.call_stream_slot(method, MethodKind::ClientStream, stream, input)?;
        self.finish_allocated(status, out_ptr, out_len, output)
    }

    fn call_bidi_stream(
        &self,
        method: usize,
        stream: OwnedStreamHandle,
        input: &[u8],
    ) -> Result<RawStream, CallError> {
        let (status, out_ptr, out_len) =
            self.call_stream_slot(method, MethodKind::BidiStream, stream, input)?;
        self.finish_stream(status, out_ptr, out_len)
    }

    unsafe fn bind_host(
        &self,
        name: &str,
        hash: u64,
        version: u32,
        table: &mut dyn FnMut() -> fidius_core::host_ffi::HostTable,
    ) -> Result<bool, LoadError> {
        match &self._library {
            // SAFETY: forwarded caller contract.
            Some(library) => unsafe {
                crate::host_import::bind_host_interface_owned(library, name, hash, version, table)
            },
            None => Err(super::cannot_bind(
                name,
                "this plugin is linked into the host: bind its host interfaces with `<Interface>Binding::bind_in_process`",
            )),
        }
    }

    fn method_metadata(&self, method: u32) -> Vec<(&str, &str)> {
        CdylibExecutor::method_metadata(self, method)
    }

    fn trait_metadata(&self) -> Vec<(&str, &str)> {
        CdylibExecutor::trait_metadata(self)
    }
}

/// A plugin-allocated output buffer, returned to the plugin's `free_buffer`
/// when dropped (also on unwind).
struct PluginBuffer {
    ptr: *mut u8,
    len: usize,
    free: Option<FreeBufferFn>,
}

impl Drop for PluginBuffer {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: the plugin's own non-null buffer of `len` bytes, returned
            // exactly once (this guard owns it and drops once).
            unsafe { free(self.ptr, self.len) };
        }
    }
}
