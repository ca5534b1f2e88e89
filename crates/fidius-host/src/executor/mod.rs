//! The executor seam: one trait ([`PluginExecutor`]) that every backend
//! implements, so `PluginHandle` and its callers never depend on a backend.

pub(crate) mod cdylib;
#[cfg(feature = "python")]
pub mod python;
#[cfg(feature = "wasm")]
pub mod wasm;

pub use cdylib::CdylibExecutor;

use crate::error::CallError;
use crate::info::PluginInfo;
use crate::stream::{OwnedStreamHandle, RawStream};
use fidius_core::MethodKind;

/// Receives a call's output bytes while they are still borrowed from the plugin.
pub type OutputSink<'a> = &'a mut dyn FnMut(&[u8]) -> Result<(), CallError>;

/// Receives a call's result as a type-erased serde deserializer (the caller
/// knows the Rust type and drives it).
pub type ValueSink<'a> =
    &'a mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), CallError>;

/// How a backend wants typed calls delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallShape {
    /// Bincode bytes ([`PluginExecutor::call_wire`]): cdylib plugins and
    /// anything speaking the fidius wire.
    Wire,
    /// Self-describing values ([`PluginExecutor::call_value`]): WASM
    /// components, Python. The caller's serde types drive the backend's own
    /// value model directly, with no bincode round trip.
    Values,
}

/// Limits a backend enforces on each call (WASM: all three; others may
/// support a subset and refuse the rest).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallLimits {
    /// Wall-clock deadline of one call: past it the call is stopped and
    /// returns [`CallError::Timeout`].
    pub deadline: Option<std::time::Duration>,
    /// Fuel (roughly, instructions) one call may use ([`CallError::FuelExhausted`]).
    pub fuel: Option<u64>,
    /// Memory cap in bytes ([`CallError::MemoryLimitExceeded`]).
    pub max_memory: Option<u64>,
}

/// Cancels the call in flight on one plugin from any thread
/// ([`crate::PluginHandle::cancel_handle`]). Backends that can stop a call
/// (the process tier) hand one out; the call returns [`CallError::Cancelled`].
/// Cancelling when no call is in flight does nothing.
#[derive(Clone)]
pub struct CancelHandle(std::sync::Arc<dyn Fn() + Send + Sync>);

impl CancelHandle {
    /// A handle that runs `cancel` when [`Self::cancel`] is called (for backends).
    pub fn new(cancel: impl Fn() + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(cancel))
    }

    /// Stops the call in flight.
    pub fn cancel(&self) {
        (self.0)()
    }
}

impl std::fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CancelHandle")
    }
}

thread_local! {
    static SCOPED_DEADLINE: std::cell::Cell<Option<std::time::Duration>> =
        const { std::cell::Cell::new(None) };
}

/// Runs `f` with `deadline` applying to every plugin call `f` makes on this
/// thread (replacing the handle's own deadline), for backends that enforce
/// deadlines (the process tier):
///
/// ```no_run
/// # fn demo(client: &fidius_host::PluginHandle) {
/// use std::time::Duration;
/// let r: Result<u64, _> =
///     fidius_host::with_deadline(Duration::from_millis(200), || client.call_method(0, &()));
/// # }
/// ```
pub fn with_deadline<R>(deadline: std::time::Duration, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<std::time::Duration>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCOPED_DEADLINE.with(|d| d.set(self.0));
        }
    }
    let _restore = Restore(SCOPED_DEADLINE.with(|d| d.replace(Some(deadline))));
    f()
}

/// The deadline [`with_deadline`] set for calls on this thread, if any.
pub fn scoped_deadline() -> Option<std::time::Duration> {
    SCOPED_DEADLINE.with(|d| d.get())
}

/// The items a host feeds a client stream of a [`CallShape::Values`]
/// backend, produced one per pull in the form the backend asks for.
pub type ValueItems = Box<dyn ItemSource>;

/// A host's client-stream items, produced lazily: as JSON values (the
/// `Iterator`; Python and the process tier) or encoded on the fidius wire
/// ([`Self::next_wire`]; WASM guests decode their input items as bincode).
pub trait ItemSource: Iterator<Item = Result<serde_json::Value, CallError>> + Send {
    /// Encodes the next item on the fidius wire into `out` (cleared first);
    /// `None` at the end.
    fn next_wire(&mut self, out: &mut Vec<u8>) -> Option<Result<(), CallError>>;
}

/// The items of a typed iterator (either form, encoded from `T` itself).
pub fn typed_items<T, I>(items: I) -> ValueItems
where
    T: serde::Serialize,
    I: Iterator<Item = T> + Send + 'static,
{
    struct Typed<I>(I);
    impl<T: serde::Serialize, I: Iterator<Item = T> + Send> Iterator for Typed<I> {
        type Item = Result<serde_json::Value, CallError>;
        fn next(&mut self) -> Option<Self::Item> {
            let item = self.0.next()?;
            Some(serde_json::to_value(&item).map_err(|e| CallError::Serialization(e.to_string())))
        }
    }
    impl<T: serde::Serialize, I: Iterator<Item = T> + Send> ItemSource for Typed<I> {
        fn next_wire(&mut self, out: &mut Vec<u8>) -> Option<Result<(), CallError>> {
            let item = self.0.next()?;
            out.clear();
            Some(
                fidius_core::wire::serialize_into(&mut *out, &item)
                    .map_err(|e| CallError::Serialization(e.to_string())),
            )
        }
    }
    Box::new(Typed(items))
}

/// Items that exist only as JSON values (forwarded from elsewhere): asking
/// for their wire form is an error, since JSON has lost the item's Rust type.
pub fn json_items<I>(items: I) -> ValueItems
where
    I: Iterator<Item = Result<serde_json::Value, CallError>> + Send + 'static,
{
    struct Json<I>(I);
    impl<I: Iterator<Item = Result<serde_json::Value, CallError>> + Send> Iterator for Json<I> {
        type Item = Result<serde_json::Value, CallError>;
        fn next(&mut self) -> Option<Self::Item> {
            self.0.next()
        }
    }
    impl<I: Iterator<Item = Result<serde_json::Value, CallError>> + Send> ItemSource for Json<I> {
        fn next_wire(&mut self, _out: &mut Vec<u8>) -> Option<Result<(), CallError>> {
            Some(Err(CallError::Serialization(
                "these stream items are JSON values only; a plugin that decodes typed items cannot take them".into(),
            )))
        }
    }
    Box::new(Json(items))
}

/// A backend that can call a plugin's methods.
pub trait PluginExecutor: Send + Sync {
    /// Identity and shape of the plugin.
    fn info(&self) -> &PluginInfo;

    /// Number of methods (vtable slots).
    fn method_count(&self) -> u32;

    /// Calls a `#[wire(raw)]` method with raw bytes.
    fn call_raw(&self, method: usize, input: &[u8]) -> Result<Vec<u8>, CallError>;

    /// Calls a unary method with its bincode-encoded argument tuple; `output`
    /// receives the bincode-encoded result before the plugin's buffer is freed.
    /// The default (for executors that implement only fidius 0.5's required
    /// methods) reports typed calls as unsupported.
    fn call_wire(
        &self,
        method: usize,
        input: &[u8],
        output: OutputSink<'_>,
    ) -> Result<(), CallError> {
        let _ = (method, input, output);
        Err(unsupported(self.info(), "typed (bincode) calls"))
    }

    /// Whether typed calls should come as bincode or as values (default: bincode).
    fn call_shape(&self) -> CallShape {
        CallShape::Wire
    }

    /// Calls a unary method with typed arguments: `args` is the argument
    /// tuple and `output` deserializes the result. Backends with
    /// [`CallShape::Values`] implement this; the default encodes the tuple
    /// as bincode and goes through [`Self::call_wire`].
    fn call_value(
        &self,
        method: usize,
        args: &dyn erased_serde::Serialize,
        output: ValueSink<'_>,
    ) -> Result<(), CallError> {
        call_value_over_wire(self, method, args, output)
    }

    /// Changes the limits of later calls.
    fn set_limits(&self, limits: CallLimits) -> Result<(), CallError> {
        let _ = limits;
        Err(unsupported(self.info(), "per-call limits"))
    }

    /// The limits that apply to each call (`None`: this backend has none).
    fn limits(&self) -> Option<CallLimits> {
        None
    }

    /// A handle that cancels the call in flight, if this backend can stop one.
    fn cancel_handle(&self) -> Option<CancelHandle> {
        None
    }

    /// The process id of the child running the plugin (process tier only).
    fn process_id(&self) -> Option<u32> {
        None
    }

    /// The call kind the plugin recorded for `method`, if it recorded one.
    fn method_kind(&self, method: usize) -> Option<MethodKind> {
        let _ = method;
        None
    }

    /// Whether optional-method capability `bit` is set.
    fn has_capability(&self, bit: u32) -> bool {
        self.info().has_capability(bit)
    }

    /// User metadata of method `method` (the reserved `fidius.*` keys excluded).
    fn method_metadata(&self, method: u32) -> Vec<(&str, &str)> {
        let _ = method;
        Vec::new()
    }

    /// Trait-level metadata.
    fn trait_metadata(&self) -> Vec<(&str, &str)> {
        Vec::new()
    }

    /// Starts a server stream (the plugin produces) with encoded arguments.
    fn call_server_stream(&self, method: usize, input: &[u8]) -> Result<RawStream, CallError> {
        let _ = (method, input);
        Err(unsupported(self.info(), "server streaming"))
    }

    /// Starts a server stream with typed arguments, for backends with
    /// [`CallShape::Values`]: their items arrive JSON-encoded. The default
    /// encodes the tuple as bincode for [`Self::call_server_stream`].
    fn call_server_stream_value(
        &self,
        method: usize,
        args: &dyn erased_serde::Serialize,
    ) -> Result<RawStream, CallError> {
        server_stream_value_over_wire(self, method, args)
    }

    /// Calls a client-streaming method of a [`CallShape::Values`] backend:
    /// the plugin pulls `items` (produced lazily) and `output` deserializes
    /// the result; `args` is the tuple of the other arguments.
    fn call_client_stream_value(
        &self,
        method: usize,
        items: ValueItems,
        args: &dyn erased_serde::Serialize,
        output: ValueSink<'_>,
    ) -> Result<(), CallError> {
        let _ = (method, items, args, output);
        Err(unsupported(self.info(), "client streaming with values"))
    }

    /// Calls a bidirectional method of a [`CallShape::Values`] backend; the
    /// returned stream's items are JSON-encoded.
    fn call_bidi_stream_value(
        &self,
        method: usize,
        items: ValueItems,
        args: &dyn erased_serde::Serialize,
    ) -> Result<RawStream, CallError> {
        let _ = (method, items, args);
        Err(unsupported(
            self.info(),
            "bidirectional streaming with values",
        ))
    }

    /// Calls a client-streaming method: the plugin pulls `stream`; `output`
    /// receives the encoded result.
    fn call_client_stream(
        &self,
        method: usize,
        stream: OwnedStreamHandle,
        input: &[u8],
        output: OutputSink<'_>,
    ) -> Result<(), CallError> {
        let _ = (method, stream, input, output);
        Err(unsupported(self.info(), "client streaming"))
    }

    /// Calls a bidirectional method: the plugin pulls `stream` and produces
    /// the returned stream.
    fn call_bidi_stream(
        &self,
        method: usize,
        stream: OwnedStreamHandle,
        input: &[u8],
    ) -> Result<RawStream, CallError> {
        let _ = (method, stream, input);
        Err(unsupported(self.info(), "bidirectional streaming"))
    }

    /// Binds host interface `name` (its `hash` and `version` are the host's)
    /// for this plugin, with the function table `table` builds (called only
    /// once the plugin's import passed the ABI, version and hash gates).
    /// `Ok(false)`: the plugin does not import the interface. The default
    /// refuses: the backend cannot call host functions.
    ///
    /// # Safety
    /// `table` must return a valid host function table whose `free`, if
    /// any, frees exactly that table. An implementation frees (`release`) a
    /// table it built but did not bind, and never frees one it bound.
    unsafe fn bind_host(
        &self,
        name: &str,
        hash: u64,
        version: u32,
        table: &mut dyn FnMut() -> fidius_core::host_ffi::HostTable,
    ) -> Result<bool, crate::LoadError> {
        let _ = (hash, version, table);
        Err(cannot_bind(
            name,
            format!(
                "host functions cannot be bound to {:?} plugin '{}'",
                self.info().runtime,
                self.info().name
            ),
        ))
    }
}

/// A binding of host interface `name` refused before anything reached the
/// plugin (`BIND_ERR_WRONG_BACKEND`), saying why.
pub(crate) fn cannot_bind(name: &str, why: impl Into<String>) -> crate::LoadError {
    crate::LoadError::HostBindFailed {
        interface: name.to_owned(),
        code: fidius_core::host_ffi::BIND_ERR_WRONG_BACKEND,
        message: why.into(),
    }
}

/// [`PluginExecutor::call_value`] for a bincode-speaking backend: the tuple
/// is encoded with bincode and the result decoded from the wire.
pub(crate) fn call_value_over_wire<E: PluginExecutor + ?Sized>(
    exec: &E,
    method: usize,
    args: &dyn erased_serde::Serialize,
    output: ValueSink<'_>,
) -> Result<(), CallError> {
    let input =
        fidius_core::wire::serialize(args).map_err(|e| CallError::Serialization(e.to_string()))?;
    exec.call_wire(method, &input, &mut |bytes| {
        let mut de = bincode::Deserializer::from_slice(bytes, fidius_core::wire::options());
        let limited = fidius_core::depth::Limited::new(&mut de, fidius_core::depth::MAX_DEPTH);
        output(&mut <dyn erased_serde::Deserializer>::erase(limited))
    })
}

/// [`PluginExecutor::call_server_stream_value`] for a bincode-speaking backend.
pub(crate) fn server_stream_value_over_wire<E: PluginExecutor + ?Sized>(
    exec: &E,
    method: usize,
    args: &dyn erased_serde::Serialize,
) -> Result<RawStream, CallError> {
    let input =
        fidius_core::wire::serialize(args).map_err(|e| CallError::Serialization(e.to_string()))?;
    exec.call_server_stream(method, &input)
}

/// The index and call-kind checks every backend makes before a call:
/// `index < count`, and the kind recorded for the method (if any) is `attempted`.
pub(crate) fn check_call(
    index: usize,
    count: u32,
    declared: Option<MethodKind>,
    attempted: MethodKind,
) -> Result<(), CallError> {
    if index >= count as usize {
        return Err(CallError::InvalidMethodIndex { index, count });
    }
    match declared {
        Some(declared) if declared != attempted => Err(CallError::CallKindMismatch {
            index,
            declared,
            attempted,
        }),
        _ => Ok(()),
    }
}

fn unsupported(info: &PluginInfo, what: &str) -> CallError {
    CallError::Backend {
        runtime: format!("{:?}", info.runtime).to_lowercase(),
        message: format!("{what} is not supported by this backend"),
    }
}
