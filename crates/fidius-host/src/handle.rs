//! [`PluginHandle`]: the one type callers and generated clients use to call
//! a plugin, whatever backend runs it (one [`PluginExecutor`] inside).

use crate::error::{CallError, LoadError};
use crate::executor::{cdylib::call_typed, CallShape, CdylibExecutor, PluginExecutor};
use crate::info::PluginInfo;
use crate::loader::{check_info, LoadedPlugin};
use crate::stream::{ItemStream, OwnedStreamHandle};
use fidius_core::{BufferStrategyKind, MethodKind, PluginDescriptor};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;

/// A callable plugin instance. `Send + Sync`: calls may run concurrently
/// (plugin methods take `&self`). Dropping it destroys the instance.
pub struct PluginHandle {
    backend: Backend,
}

/// The executor behind a handle: the cdylib executor is held directly so its
/// typed calls inline; any other backend goes through the executor trait.
enum Backend {
    Cdylib(CdylibExecutor),
    Dyn(Box<dyn PluginExecutor>),
}

impl fmt::Debug for PluginHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginHandle")
            .field("info", self.executor().info())
            .finish()
    }
}

/// A host's client-stream items for a value-based backend, encoded one per
/// pull in the form the backend asks for.
fn value_items<T: Serialize + 'static>(
    items: impl IntoIterator<Item = T, IntoIter: Send + 'static>,
) -> crate::executor::ValueItems {
    crate::executor::typed_items(items.into_iter())
}

/// A borrowed argument tuple, sized so it can be erased.
struct ArgsRef<'a, I: ?Sized>(&'a I);

impl<I: Serialize + ?Sized> Serialize for ArgsRef<'_, I> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// A typed call through a value-based backend: the argument tuple is handed
/// over as an erased `Serialize`, the result is driven by `O`'s `Deserialize`.
fn call_values<I: Serialize + ?Sized, O: DeserializeOwned>(
    exec: &dyn PluginExecutor,
    index: usize,
    input: &I,
) -> Result<O, CallError> {
    let args = ArgsRef(input);
    let mut out: Option<O> = None;
    exec.call_value(index, &args, &mut |de| {
        out = Some(
            erased_serde::deserialize::<O>(de)
                .map_err(|e| CallError::Deserialization(e.to_string()))?,
        );
        Ok(())
    })?;
    out.ok_or_else(|| CallError::Backend {
        runtime: format!("{:?}", exec.info().runtime).to_lowercase(),
        message: "call returned no output".into(),
    })
}

/// Encodes a config as it crosses the boundary (bincode, once per instance).
pub(crate) fn encode_config<C: Serialize + ?Sized>(config: &C) -> Result<Vec<u8>, LoadError> {
    fidius_core::wire::serialize(config).map_err(|e| LoadError::ConfigSerialization(e.to_string()))
}

fn encode_args<A: Serialize + ?Sized>(args: &A) -> Result<Vec<u8>, CallError> {
    fidius_core::wire::serialize(args).map_err(|e| CallError::Serialization(e.to_string()))
}

impl PluginHandle {
    /// Wraps any backend's executor.
    pub fn new(exec: impl PluginExecutor + 'static) -> Self {
        Self {
            backend: Backend::Dyn(Box::new(exec)),
        }
    }

    fn cdylib(exec: CdylibExecutor) -> Self {
        Self {
            backend: Backend::Cdylib(exec),
        }
    }

    /// Wraps a WASM component executor (fidius 0.5 API).
    #[cfg(feature = "wasm")]
    pub fn from_wasm(exec: crate::executor::wasm::WasmComponentExecutor) -> Self {
        Self::new(exec)
    }

    /// Wraps an imported Python plugin (fidius 0.5 API).
    #[cfg(feature = "python")]
    pub fn from_python(
        handle: crate::executor::python::PythonPluginHandle,
        info: PluginInfo,
    ) -> Self {
        Self::new(crate::executor::python::Pyo3Executor::new(handle, info))
    }

    /// Instantiates a loaded cdylib plugin (zero-config).
    ///
    /// # Panics
    /// If the plugin's `construct` fails; use [`Self::try_from_loaded`] to get the error.
    pub fn from_loaded(plugin: LoadedPlugin) -> Self {
        match Self::try_from_loaded(plugin) {
            Ok(h) => h,
            Err(e) => panic!("PluginHandle::from_loaded: {e}"),
        }
    }

    /// Instantiates a loaded cdylib plugin (zero-config).
    pub fn try_from_loaded(plugin: LoadedPlugin) -> Result<Self, LoadError> {
        Ok(Self::cdylib(CdylibExecutor::try_from_loaded(plugin)?))
    }

    /// Instantiates a loaded cdylib plugin with a config (crosses the boundary once, as bincode).
    pub fn configure_from_loaded<C: Serialize + ?Sized>(
        plugin: LoadedPlugin,
        config: &C,
    ) -> Result<Self, LoadError> {
        let bytes = crate::handle::encode_config(config)?;
        Ok(Self::cdylib(CdylibExecutor::try_from_loaded_with_config(
            plugin, &bytes,
        )?))
    }

    /// Instantiates an in-process plugin (zero-config). Only a descriptor of
    /// this process's registry (as [`Self::find_in_process_descriptor`]
    /// returns) is accepted: one built by hand is `InvalidDescriptor`.
    pub fn from_descriptor(desc: &'static PluginDescriptor) -> Result<Self, LoadError> {
        Ok(Self::cdylib(CdylibExecutor::from_descriptor(desc)?))
    }

    /// Instantiates an in-process plugin with a config.
    pub fn configure_in_process<C: Serialize + ?Sized>(
        desc: &'static PluginDescriptor,
        config: &C,
    ) -> Result<Self, LoadError> {
        let bytes = crate::handle::encode_config(config)?;
        Ok(Self::cdylib(CdylibExecutor::from_descriptor_with_config(
            desc, &bytes,
        )?))
    }

    /// Finds a plugin linked into this process by name.
    pub fn find_in_process_descriptor(name: &str) -> Result<&'static PluginDescriptor, LoadError> {
        CdylibExecutor::find_in_process_descriptor(name)
    }

    /// Typed call: `input` is the argument tuple (`&()`, `&(a,)`, `&(a, b)`, …).
    pub fn call_method<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        index: usize,
        input: &I,
    ) -> Result<O, CallError> {
        match &self.backend {
            Backend::Cdylib(e) => call_typed(e, index, input),
            Backend::Dyn(e) if e.call_shape() == CallShape::Wire => call_typed(&**e, index, input),
            Backend::Dyn(e) => call_values(&**e, index, input),
        }
    }

    /// The backend, when it takes typed values rather than bincode.
    fn value_backend(&self) -> Option<&dyn PluginExecutor> {
        match &self.backend {
            Backend::Dyn(e) if e.call_shape() == CallShape::Values => Some(&**e),
            _ => None,
        }
    }

    /// Starts a server stream: `input` is the argument tuple; items are pulled
    /// as the returned stream is consumed.
    pub fn call_server_stream<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        index: usize,
        input: &I,
    ) -> Result<ItemStream<O>, CallError> {
        if let Some(e) = self.value_backend() {
            let raw = e.call_server_stream_value(index, &ArgsRef(input))?;
            return Ok(ItemStream::with_decoder(
                raw,
                crate::stream::decode_json::<O>,
            ));
        }
        self.call_server_stream_with(index, input, crate::stream::decode_wire::<O>)
    }

    /// [`Self::call_server_stream`] with a custom decoder for the items of
    /// wire (bincode) backends; value backends' items are decoded as `O`
    /// from their own form. Generated clients use this.
    pub fn call_server_stream_via<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        index: usize,
        input: &I,
        wire_decode: crate::stream::Decoder<O>,
    ) -> Result<ItemStream<O>, CallError> {
        if self.value_backend().is_some() {
            return self.call_server_stream(index, input);
        }
        self.call_server_stream_with(index, input, wire_decode)
    }

    /// [`Self::call_bidi_stream`] with a custom decoder for the items of
    /// wire backends (as [`Self::call_server_stream_via`]).
    pub fn call_bidi_stream_via<T, A, O>(
        &self,
        index: usize,
        items: impl IntoIterator<Item = T, IntoIter: Send + 'static>,
        args: &A,
        wire_decode: crate::stream::Decoder<O>,
    ) -> Result<ItemStream<O>, CallError>
    where
        T: Serialize + 'static,
        A: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        if self.value_backend().is_some() {
            return self.call_bidi_stream(index, items, args);
        }
        self.call_bidi_stream_with(index, items, args, wire_decode)
    }

    /// [`Self::call_server_stream`] with a custom item decoder.
    pub fn call_server_stream_with<I: Serialize + ?Sized, O>(
        &self,
        index: usize,
        input: &I,
        decode: crate::stream::Decoder<O>,
    ) -> Result<ItemStream<O>, CallError> {
        let bytes = encode_args(input)?;
        let raw = self.executor().call_server_stream(index, &bytes)?;
        Ok(ItemStream::with_decoder(raw, decode))
    }

    /// Calls a client-streaming method: the plugin pulls `items` (encoded
    /// lazily, one per pull); `args` is the tuple of the other arguments.
    pub fn call_client_stream<T, A, O>(
        &self,
        index: usize,
        items: impl IntoIterator<Item = T, IntoIter: Send + 'static>,
        args: &A,
    ) -> Result<O, CallError>
    where
        T: Serialize + 'static,
        A: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        if let Some(e) = self.value_backend() {
            let mut out: Option<O> = None;
            e.call_client_stream_value(index, value_items(items), &ArgsRef(args), &mut |de| {
                out = Some(
                    erased_serde::deserialize::<O>(de)
                        .map_err(|e| CallError::Deserialization(e.to_string()))?,
                );
                Ok(())
            })?;
            return out
                .ok_or_else(|| CallError::Deserialization("the plugin returned no output".into()));
        }
        let bytes = encode_args(args)?;
        let stream = OwnedStreamHandle::from_items(items);
        let mut out: Option<O> = None;
        self.executor()
            .call_client_stream(index, stream, &bytes, &mut |b| {
                out = Some(
                    fidius_core::wire::deserialize(b)
                        .map_err(|e| CallError::Deserialization(e.to_string()))?,
                );
                Ok(())
            })?;
        out.ok_or_else(|| CallError::Deserialization("the plugin returned no output".into()))
    }

    /// Calls a bidirectional method: the plugin pulls `items` and produces
    /// the returned stream (one lazy pipeline: pulling an output pulls inputs).
    pub fn call_bidi_stream<T, A, O>(
        &self,
        index: usize,
        items: impl IntoIterator<Item = T, IntoIter: Send + 'static>,
        args: &A,
    ) -> Result<ItemStream<O>, CallError>
    where
        T: Serialize + 'static,
        A: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        if let Some(e) = self.value_backend() {
            let raw = e.call_bidi_stream_value(index, value_items(items), &ArgsRef(args))?;
            return Ok(ItemStream::with_decoder(
                raw,
                crate::stream::decode_json::<O>,
            ));
        }
        self.call_bidi_stream_with(index, items, args, crate::stream::decode_wire::<O>)
    }

    /// [`Self::call_bidi_stream`] with a custom item decoder.
    pub fn call_bidi_stream_with<T, A, O>(
        &self,
        index: usize,
        items: impl IntoIterator<Item = T, IntoIter: Send + 'static>,
        args: &A,
        decode: crate::stream::Decoder<O>,
    ) -> Result<ItemStream<O>, CallError>
    where
        T: Serialize + 'static,
        A: Serialize + ?Sized,
    {
        let bytes = encode_args(args)?;
        let stream = OwnedStreamHandle::from_items(items);
        let raw = self.executor().call_bidi_stream(index, stream, &bytes)?;
        Ok(ItemStream::with_decoder(raw, decode))
    }

    /// fidius 0.5 API: a server stream as a [`crate::ChunkStream`] of [`fidius_core::Value`]s.
    #[cfg(feature = "streaming")]
    pub fn call_streaming<I, O>(
        &self,
        index: usize,
        input: &I,
    ) -> impl std::future::Future<Output = Result<crate::ChunkStream, CallError>>
    where
        I: Serialize + ?Sized,
        O: Serialize + DeserializeOwned + Send + 'static,
    {
        let result = self
            .call_server_stream::<I, O>(index, input)
            .map(crate::ChunkStream::from_items);
        std::future::ready(result)
    }

    /// fidius 0.5 API: a client stream (synchronous).
    #[cfg(feature = "streaming")]
    pub fn call_client_streaming<I, A, O>(
        &self,
        index: usize,
        items: impl IntoIterator<Item = I, IntoIter: Send + 'static>,
        args: &A,
    ) -> Result<O, CallError>
    where
        I: Serialize + 'static,
        A: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        self.call_client_stream(index, items, args)
    }

    /// fidius 0.5 API: a bidirectional stream as a [`crate::ChunkStream`].
    #[cfg(feature = "streaming")]
    pub fn call_bidi_streaming<I, A, O>(
        &self,
        index: usize,
        items: impl IntoIterator<Item = I, IntoIter: Send + 'static>,
        args: &A,
    ) -> impl std::future::Future<Output = Result<crate::ChunkStream, CallError>>
    where
        I: Serialize + 'static,
        A: Serialize + ?Sized,
        O: Serialize + DeserializeOwned + Send + 'static,
    {
        let result = self
            .call_bidi_stream::<I, A, O>(index, items, args)
            .map(crate::ChunkStream::from_items);
        std::future::ready(result)
    }

    /// fidius 0.5 API: calls a client-streaming cdylib method with a raw
    /// stream handle (e.g. from [`crate::client_stream::host_producer_handle`])
    /// and the encoded tuple of the other arguments; returns the encoded
    /// result. The handle is freed whatever happens.
    ///
    /// # Safety
    /// `stream` must be a valid stream handle that nobody else owns or uses.
    #[cfg(feature = "streaming")]
    pub unsafe fn call_client_streaming_raw(
        &self,
        index: usize,
        stream: *mut fidius_core::stream_ffi::FidiusStreamHandle,
        input: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        // SAFETY: the caller hands over a valid handle it owns.
        let stream = unsafe { OwnedStreamHandle::from_raw(stream) };
        let mut out = None;
        self.executor()
            .call_client_stream(index, stream, input, &mut |b| {
                out = Some(b.to_vec());
                Ok(())
            })?;
        out.ok_or_else(|| CallError::Deserialization("the plugin returned no output".into()))
    }

    /// Raw call of a `#[wire(raw)]` method.
    pub fn call_method_raw(&self, index: usize, input: &[u8]) -> Result<Vec<u8>, CallError> {
        self.executor().call_raw(index, input)
    }

    /// A handle that cancels the call in flight from another thread
    /// (process-isolated plugins; `None` for backends that cannot stop a call).
    pub fn cancel_handle(&self) -> Option<crate::executor::CancelHandle> {
        self.executor().cancel_handle()
    }

    /// Binds host interface `name` (the host's `hash` and `version`) for this
    /// plugin, whichever backend runs it: in the library of a cdylib plugin,
    /// and in the child of a process-isolated one, whose calls then come
    /// back to the host's table (bound again after every restart).
    /// `Ok(false)`: the plugin does not import the interface. Generated
    /// `<Interface>Binding::bind_handle` calls this.
    ///
    /// # Safety
    /// `build_table` must return a valid host function table that is never
    /// freed (as `<Interface>Binding::table` makes).
    pub unsafe fn bind_host_interface(
        &self,
        name: &str,
        hash: u64,
        version: u32,
        build_table: impl FnOnce() -> *const fidius_core::host_ffi::HostFunctionTable,
    ) -> Result<bool, crate::LoadError> {
        let leaked = || fidius_core::host_ffi::HostTable::leaked(build_table());
        // SAFETY: a leaked table is never freed; the rest is the caller's contract.
        unsafe { self.bind_host_interface_owned(name, hash, version, leaked) }
    }

    /// [`Self::bind_host_interface`] with a table that is freed again if
    /// the plugin refuses it (generated `<Interface>Binding::bind_handle`
    /// uses this): a refused bind keeps nothing.
    ///
    /// # Safety
    /// `build_table` must return a valid host function table whose `free`,
    /// if any, frees exactly that table (as `<Interface>Binding::owned_table` makes).
    pub unsafe fn bind_host_interface_owned(
        &self,
        name: &str,
        hash: u64,
        version: u32,
        build_table: impl FnOnce() -> fidius_core::host_ffi::HostTable,
    ) -> Result<bool, crate::LoadError> {
        let mut build = Some(build_table);
        let mut table = || match build.take() {
            Some(f) => f(),
            None => fidius_core::host_ffi::HostTable::leaked(std::ptr::null()),
        };
        // SAFETY: forwarded caller contract.
        unsafe { self.executor().bind_host(name, hash, version, &mut table) }
    }

    /// The process id of the child process running the plugin, if it is
    /// process-isolated and a child is running.
    pub fn process_id(&self) -> Option<u32> {
        self.executor().process_id()
    }

    /// Changes the per-call limits (deadline, fuel, memory cap) of later
    /// calls; backends without limits refuse.
    pub fn set_limits(&self, limits: crate::executor::CallLimits) -> Result<(), CallError> {
        self.executor().set_limits(limits)
    }

    /// The per-call limits in force (`None` for backends without limits).
    pub fn limits(&self) -> Option<crate::executor::CallLimits> {
        self.executor().limits()
    }

    /// Whether optional-method capability `bit` is set (false for `bit >= 64`).
    pub fn has_capability(&self, bit: u32) -> bool {
        self.executor().has_capability(bit)
    }

    /// Identity and shape.
    pub fn info(&self) -> &PluginInfo {
        self.executor().info()
    }

    /// Number of methods.
    pub fn method_count(&self) -> u32 {
        self.executor().method_count()
    }

    /// The call kind the plugin recorded for `method` (`None` for plugins
    /// built by fidius 0.5, which record none).
    pub fn method_kind(&self, method: usize) -> Option<MethodKind> {
        self.executor().method_kind(method)
    }

    /// User metadata of method `method_id` (empty if none or out of range).
    pub fn method_metadata(&self, method_id: u32) -> Vec<(&str, &str)> {
        self.executor().method_metadata(method_id)
    }

    /// Trait-level metadata.
    pub fn trait_metadata(&self) -> Vec<(&str, &str)> {
        self.executor().trait_metadata()
    }

    /// Checks an in-process descriptor against an interface hash and buffer
    /// strategy before instantiating it.
    pub fn check_descriptor(
        desc: &PluginDescriptor,
        hash: u64,
        strategy: BufferStrategyKind,
    ) -> Result<(), LoadError> {
        if desc.interface_hash != hash {
            return Err(LoadError::InterfaceHashMismatch {
                got: desc.interface_hash,
                expected: hash,
            });
        }
        match desc.buffer_strategy_kind() {
            Ok(got) if got == strategy => Ok(()),
            Ok(got) => Err(LoadError::BufferStrategyMismatch {
                got,
                expected: strategy,
            }),
            Err(value) => Err(LoadError::UnknownBufferStrategy { value }),
        }
    }

    /// Checks this plugin against an interface hash and buffer strategy.
    pub fn check_interface(
        &self,
        hash: u64,
        strategy: BufferStrategyKind,
    ) -> Result<(), LoadError> {
        // The buffer strategy is a property of the cdylib ABI only.
        let strategy = self.info().is_cdylib().then_some(strategy);
        check_info(self.info(), Some(hash), strategy)
    }

    /// Checks that this plugin implements `version` of its interface (the
    /// interface hash leaves the version out, so the two are checked apart).
    ///
    /// Only a cdylib's version is compiled into its descriptor; WASM and
    /// Python packages state theirs in `package.toml`, which fidius 0.5
    /// never checked, so for them a difference is logged, not refused.
    /// Generated clients call this for interfaces without optional methods:
    /// with optional methods, versions differ by design (interface evolution,
    /// gated per method by the capability bits).
    pub fn check_interface_version(&self, version: u32) -> Result<(), LoadError> {
        let got = self.info().interface_version;
        if got == version {
            Ok(())
        } else if !self.info().is_cdylib() {
            tracing::debug!(
                plugin = %self.info().name,
                "package.toml states interface version {got}, the host's interface is version {version}"
            );
            Ok(())
        } else {
            Err(LoadError::InterfaceVersionMismatch {
                got,
                expected: version,
            })
        }
    }

    /// The executor behind this handle.
    pub fn executor(&self) -> &dyn PluginExecutor {
        match &self.backend {
            Backend::Cdylib(e) => e,
            Backend::Dyn(e) => &**e,
        }
    }
}
