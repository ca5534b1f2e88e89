//! The WASM component backend: [`WasmComponentExecutor`] runs a plugin
//! compiled to a WebAssembly component in wasmtime, sandboxed, with per-call
//! deadlines, fuel and a memory cap.
//!
//! Calls arrive as typed values ([`CallShape::Values`]): the caller's serde
//! types are lowered straight into component values by the component's own
//! types (`value.rs`). Zero-config plugins get a fresh instance per call (no
//! state survives a call; the pooling allocator makes that cheap);
//! configured plugins (and plugins loaded with `reuse_instances`) keep a pool
//! of configured instances, one per concurrent caller. An instance that
//! trapped is discarded, never reused.

mod blocking;
mod egress;
mod engine;
mod host_call;
pub mod sandbox;
mod stream;
pub mod value;

use crate::error::{CallError, LoadError};
use crate::executor::{CallLimits, CallShape, OutputSink, PluginExecutor, ValueItems, ValueSink};
use crate::info::PluginInfo;
use engine::Runtime;
use fidius_core::{MethodKind, PluginError};
use sandbox::{Grants, HostState, MemoryLimitHit};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use value::{ArgsSerializer, ValDeserializer};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, ComponentExportIndex, Instance, InstancePre, Type, Val};
use wasmtime::Store;

pub use egress::{
    blocked_by_ssrf_floor, check_wasi_http_imports, EgressDenied, EgressPolicy, HOST_WASI_HTTP,
};
pub use engine::default_cache_dir;
pub use sandbox::ALLOWED as ALLOWED_CAPABILITIES;

const RUNTIME: &str = "wasm";

/// One method of a component, as the host calls it (fidius 0.5 shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmMethod {
    /// The WIT function name.
    pub name: String,
    /// `#[wire(raw)]`.
    pub wire_raw: bool,
    /// Returns a stream resource.
    pub streaming: bool,
}

impl From<&fidius_core::wasm_descriptor::WasmMethodDesc> for WasmMethod {
    fn from(d: &fidius_core::wasm_descriptor::WasmMethodDesc) -> Self {
        WasmMethod {
            name: d.name.to_owned(),
            wire_raw: d.wire_raw,
            streaming: d.streaming,
        }
    }
}

/// How a component is run.
#[derive(Clone)]
pub struct WasmOptions {
    /// Capability allow-list (see [`ALLOWED_CAPABILITIES`]).
    pub capabilities: Vec<String>,
    /// Deadline, fuel and memory cap of each call.
    pub limits: CallLimits,
    /// Keep instances between calls (always on for configured plugins).
    /// Off by default for zero-config plugins: every call gets a fresh
    /// instance, so no state survives a call.
    pub reuse_instances: bool,
    /// Idle instances kept for reuse (one is made per concurrent caller).
    pub max_idle_instances: usize,
    /// On-disk compiled-component cache (`None`: memory only).
    pub cache_dir: Option<PathBuf>,
    /// The egress policy that brokers the `http`, `tcp` and `udp`
    /// capabilities (without one, those grants open nothing).
    pub egress: Option<Arc<dyn EgressPolicy>>,
}

impl std::fmt::Debug for WasmOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmOptions")
            .field("capabilities", &self.capabilities)
            .field("limits", &self.limits)
            .field("reuse_instances", &self.reuse_instances)
            .field("max_idle_instances", &self.max_idle_instances)
            .field("cache_dir", &self.cache_dir)
            .field("egress", &self.egress.as_ref().map(|_| "EgressPolicy"))
            .finish()
    }
}

impl Default for WasmOptions {
    fn default() -> Self {
        WasmOptions {
            capabilities: Vec::new(),
            limits: CallLimits::default(),
            reuse_instances: false,
            max_idle_instances: 16,
            cache_dir: default_cache_dir(),
            egress: None,
        }
    }
}

struct Slot {
    name: String,
    raw: bool,
    streaming: bool,
    /// Takes a client stream (`None`: unknown, the descriptor cannot say).
    client: Option<bool>,
    func: Option<ComponentExportIndex>,
    /// `[method]<m>-stream.next` of a server-streaming method.
    next_func: Option<ComponentExportIndex>,
    params: Vec<Type>,
    has_result: bool,
    plugin_error_result: bool,
}

impl Slot {
    /// The call kind, as far as the descriptor (and registration) say.
    fn kind(&self) -> MethodKind {
        match (self.streaming, self.client == Some(true)) {
            (true, true) => MethodKind::BidiStream,
            (true, false) => MethodKind::ServerStream,
            (false, true) => MethodKind::ClientStream,
            (false, false) if self.raw => MethodKind::Raw,
            (false, false) => MethodKind::Unary,
        }
    }
}

/// The `plugin-error` record of every fidius world, as wasmtime lifts it.
#[derive(wasmtime::component::ComponentType, wasmtime::component::Lift)]
#[component(record)]
struct WitPluginError {
    code: String,
    message: String,
    details: Option<String>,
}

struct Live {
    store: Store<HostState>,
    instance: Instance,
}

/// Idle instances kept for reuse (shared with the streams that borrow one).
type Pool = Arc<Mutex<Vec<Live>>>;

/// A WASM component plugin.
pub struct WasmComponentExecutor {
    info: PluginInfo,
    rt: Arc<Runtime>,
    pre: InstancePre<HostState>,
    slots: Vec<Slot>,
    hash_func: Option<ComponentExportIndex>,
    configure_func: Option<ComponentExportIndex>,
    grants: Grants,
    limits: RwLock<CallLimits>,
    config: Option<Vec<u8>>,
    reuse: bool,
    idle: Pool,
    max_idle: usize,
    hosts: Arc<host_call::HostTables>,
}

impl std::fmt::Debug for WasmComponentExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmComponentExecutor")
            .field("info", &self.info)
            .field("limits", &self.limits())
            .field("reuse", &self.reuse)
            .finish()
    }
}

fn backend(message: impl Into<String>) -> CallError {
    CallError::Backend {
        runtime: RUNTIME.into(),
        message: message.into(),
    }
}

fn is_plugin_error(ty: &Type) -> bool {
    let Type::Result(r) = ty else { return false };
    let Some(Type::Record(rec)) = r.err() else {
        return false;
    };
    let names: Vec<&str> = rec.fields().map(|f| f.name).collect();
    names.contains(&"code") && names.contains(&"message")
}

/// Checks that `bytes` are a valid component (compiling them once; the
/// result is cached).
pub fn validate_component(bytes: &[u8]) -> Result<(), CallError> {
    let rt = Runtime::get().map_err(backend)?;
    rt.compile(bytes, None)
        .map(|_| ())
        .map_err(|e| backend(format!("not a valid WASM component: {e}")))
}

/// Compiles a component ahead of time for this host's engine (a `.cwasm`).
pub fn precompile_component(bytes: &[u8]) -> Result<Vec<u8>, CallError> {
    let rt = Runtime::get().map_err(backend)?;
    rt.engine
        .precompile_component(bytes)
        .map_err(|e| backend(format!("not a valid WASM component: {e:#}")))
}

impl WasmComponentExecutor {
    /// Compiles (or fetches from cache) a component and prepares it
    /// (fidius 0.5 signature; no limits, fresh instance per call).
    pub fn from_component_bytes(
        bytes: &[u8],
        interface: String,
        methods: Vec<WasmMethod>,
        capabilities: Vec<String>,
        info: PluginInfo,
    ) -> Result<Self, CallError> {
        Self::from_component_bytes_with_egress(bytes, interface, methods, capabilities, None, info)
    }

    /// [`Self::from_component_bytes`] with an egress policy for the `http`,
    /// `tcp` and `udp` capabilities (fidius 0.5 signature).
    pub fn from_component_bytes_with_egress(
        bytes: &[u8],
        interface: String,
        methods: Vec<WasmMethod>,
        capabilities: Vec<String>,
        egress: Option<Arc<dyn EgressPolicy>>,
        info: PluginInfo,
    ) -> Result<Self, CallError> {
        let opts = WasmOptions {
            capabilities,
            egress,
            ..WasmOptions::default()
        };
        Self::with_options(bytes, &interface, &methods, info, &opts)
    }

    /// Like [`Self::from_component_bytes`], with every option.
    pub fn with_options(
        bytes: &[u8],
        interface: &str,
        methods: &[WasmMethod],
        info: PluginInfo,
        opts: &WasmOptions,
    ) -> Result<Self, CallError> {
        let rt = Runtime::get().map_err(backend)?;
        let (component, key) = rt
            .compile_keyed(bytes, opts.cache_dir.as_deref())
            .map_err(|e| backend(format!("not a valid WASM component: {e}")))?;
        Self::from_component(rt, component, key, interface, methods, info, opts)
    }

    /// Loads a precompiled `.cwasm` (fidius 0.5 signature).
    ///
    /// # Safety
    /// A `.cwasm` is native code: it must come from a trusted source (a
    /// verified package or [`precompile_component`] on this host).
    pub unsafe fn from_cwasm(
        cwasm: &[u8],
        interface: String,
        methods: Vec<WasmMethod>,
        capabilities: Vec<String>,
        info: PluginInfo,
    ) -> Result<Self, CallError> {
        // SAFETY: forwarded caller contract.
        unsafe { Self::from_cwasm_with_egress(cwasm, interface, methods, capabilities, None, info) }
    }

    /// [`Self::from_cwasm`] with an egress policy (fidius 0.5 signature).
    ///
    /// # Safety
    /// As [`Self::from_cwasm`].
    pub unsafe fn from_cwasm_with_egress(
        cwasm: &[u8],
        interface: String,
        methods: Vec<WasmMethod>,
        capabilities: Vec<String>,
        egress: Option<Arc<dyn EgressPolicy>>,
        info: PluginInfo,
    ) -> Result<Self, CallError> {
        let opts = WasmOptions {
            capabilities,
            egress,
            ..WasmOptions::default()
        };
        // SAFETY: forwarded caller contract.
        unsafe { Self::from_cwasm_with_options(cwasm, &interface, &methods, info, &opts) }
    }

    /// Like [`Self::from_cwasm`], with every option.
    ///
    /// # Safety
    /// As [`Self::from_cwasm`].
    pub unsafe fn from_cwasm_with_options(
        cwasm: &[u8],
        interface: &str,
        methods: &[WasmMethod],
        info: PluginInfo,
        opts: &WasmOptions,
    ) -> Result<Self, CallError> {
        let rt = Runtime::get().map_err(backend)?;
        // SAFETY: forwarded caller contract.
        let component = unsafe { rt.deserialize(cwasm) }.map_err(backend)?;
        let key =
            sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(cwasm)).into();
        Self::from_component(rt, component, key, interface, methods, info, opts)
    }

    fn from_component(
        rt: Arc<Runtime>,
        component: Component,
        key: [u8; 32],
        interface: &str,
        methods: &[WasmMethod],
        info: PluginInfo,
        opts: &WasmOptions,
    ) -> Result<Self, CallError> {
        let grants = Grants::parse(&opts.capabilities)
            .map_err(backend)?
            .with_egress(opts.egress.clone());
        check_http_keys(&rt, &component, &grants).map_err(backend)?;
        let pre = rt
            .instance_pre(key, &component, grants.links_http())
            .map_err(backend)?;
        // Export indices must come from the component the (cached, maybe
        // compiled by a concurrent load) `InstancePre` was made from.
        let component = pre.component().clone();
        let ctype = component.component_type();
        let exported: Vec<String> = ctype
            .exports(&rt.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        let iface_idx = component.get_export_index(None, interface).ok_or_else(|| {
            backend(format!(
                "the component does not export `{interface}` (it exports: {})",
                exported.join(", ")
            ))
        })?;
        let Some(ComponentItem::ComponentInstance(inst_ty)) =
            ctype.get_export(&rt.engine, interface).map(|e| e.ty)
        else {
            return Err(backend(format!(
                "export `{interface}` is not an interface instance"
            )));
        };
        let mut func_types = std::collections::HashMap::new();
        for (name, ext) in inst_ty.exports(&rt.engine) {
            if let ComponentItem::ComponentFunc(f) = ext.ty {
                func_types.insert(name.to_owned(), f);
            }
        }
        let mut slots = Vec::with_capacity(methods.len());
        for m in methods {
            let func = component.get_export_index(Some(&iface_idx), &m.name);
            let next_func = m
                .streaming
                .then(|| {
                    component.get_export_index(
                        Some(&iface_idx),
                        format!("[method]{}-stream.next", m.name),
                    )
                })
                .flatten();
            let (params, results): (Vec<Type>, Vec<Type>) = match func_types.get(&m.name) {
                Some(f) => (f.params().map(|(_, t)| t).collect(), f.results().collect()),
                None => (Vec::new(), Vec::new()),
            };
            slots.push(Slot {
                name: m.name.clone(),
                raw: m.wire_raw,
                streaming: m.streaming,
                client: None,
                func: func.filter(|_| func_types.contains_key(&m.name)),
                next_func,
                plugin_error_result: results.first().is_some_and(is_plugin_error),
                has_result: !results.is_empty(),
                params,
            });
        }
        let hash_func = component.get_export_index(Some(&iface_idx), "fidius-interface-hash");
        let configure_func = component.get_export_index(Some(&iface_idx), "fidius-configure");
        Ok(WasmComponentExecutor {
            info,
            rt,
            pre,
            slots,
            hash_func,
            configure_func,
            grants,
            limits: RwLock::new(opts.limits),
            config: None,
            reuse: opts.reuse_instances,
            idle: Arc::new(Mutex::new(Vec::new())),
            max_idle: opts.max_idle_instances.max(1),
            hosts: Arc::new(host_call::HostTables::default()),
        })
    }

    /// The interface hash the component reports (`fidius-interface-hash`).
    pub fn interface_hash(&self) -> Result<u64, CallError> {
        let func = self
            .hash_func
            .ok_or_else(|| backend("the component does not export `fidius-interface-hash`"))?;
        let v = self.invoke(func, Vec::new(), true)?;
        match v {
            Some(Val::U64(h)) => Ok(h),
            other => Err(backend(format!(
                "`fidius-interface-hash` returned {other:?}, expected a u64"
            ))),
        }
    }

    /// Makes this a configured instance: `config` (bincode) crosses once per
    /// instance through `fidius-configure`; instances are kept for reuse.
    /// The first instance is configured now, so a bad config fails here.
    pub fn configure(&mut self, config: &[u8]) -> Result<(), CallError> {
        if self.configure_func.is_none() {
            return Err(backend(
                "the component does not export `fidius-configure`, so it cannot be configured",
            ));
        }
        self.config = Some(config.to_vec());
        self.reuse = true;
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
        let live = self.instantiate()?;
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(live);
        }
        Ok(())
    }

    /// The limits that apply to each call.
    pub fn limits(&self) -> CallLimits {
        self.limits.read().map(|l| *l).unwrap_or_default()
    }

    /// Changes the limits of later calls (calls in flight keep theirs).
    pub fn set_limits(&self, limits: CallLimits) {
        if let Ok(mut l) = self.limits.write() {
            *l = limits;
        }
    }

    fn instantiate(&self) -> Result<Live, CallError> {
        let limits = self.limits();
        let mut store = Store::new(
            &self.rt.engine,
            HostState::new(&self.grants, limits.max_memory),
        );
        store.limiter(|s| &mut s.limiter);
        store.data_mut().hosts = Some(self.hosts.clone());
        store
            .set_fuel(u64::MAX)
            .map_err(|e| backend(format!("{e:#}")))?;
        store.set_epoch_deadline(u64::MAX / 2);
        let instance = match self.pre.instantiate(&mut store) {
            Ok(i) => i,
            Err(e) => return Err(classify(e, &mut store, limits)),
        };
        let mut live = Live { store, instance };
        if let (Some(cfg), Some(func)) = (&self.config, self.configure_func) {
            let args = vec![Val::List(cfg.iter().map(|b| Val::U8(*b)).collect())];
            self.run(&mut live, func, &args, false, limits)
                .map_err(|e| match e {
                    CallError::Trap { message, .. } | CallError::Panic(message) => {
                        backend(format!("configure failed: {message}"))
                    }
                    other => other,
                })?;
        }
        Ok(live)
    }

    /// One call on a live instance, with the current limits.
    fn run(
        &self,
        live: &mut Live,
        func: ComponentExportIndex,
        args: &[Val],
        has_result: bool,
        limits: CallLimits,
    ) -> Result<Option<Val>, CallError> {
        self.run_with(live, func, limits, |store, f| {
            let mut results = if has_result {
                vec![Val::Bool(false)]
            } else {
                Vec::new()
            };
            f.call(store, args, &mut results)?;
            Ok(results.pop())
        })
    }

    /// Runs `call` on the function `func` of a live instance, with limits.
    fn run_with<R>(
        &self,
        live: &mut Live,
        func: ComponentExportIndex,
        limits: CallLimits,
        call: impl FnOnce(&mut Store<HostState>, wasmtime::component::Func) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        run_limited(&self.rt, live, func, limits, call)
    }

    /// Calls `func` on an instance (fresh, or from the pool), off any tokio
    /// runtime thread (WASI's blocking shims cannot run on one).
    fn invoke(
        &self,
        func: ComponentExportIndex,
        args: Vec<Val>,
        has_result: bool,
    ) -> Result<Option<Val>, CallError> {
        self.on_instance(func, |exec, live, func, limits| {
            exec.run(live, func, &args, has_result, limits)
        })
    }

    /// Takes an instance (pooled or fresh), runs `f` on it off any tokio
    /// runtime thread, and returns a healthy instance to the pool.
    fn on_instance<R: Send>(
        &self,
        func: ComponentExportIndex,
        f: impl FnOnce(&Self, &mut Live, ComponentExportIndex, CallLimits) -> Result<R, CallError>
            + Send,
    ) -> Result<R, CallError> {
        let here = move || {
            let limits = self.limits();
            let pooled = if self.reuse {
                self.idle.lock().ok().and_then(|mut v| v.pop())
            } else {
                None
            };
            let mut live = match pooled {
                Some(l) => l,
                None => self.instantiate()?,
            };
            let out = f(self, &mut live, func, limits)?;
            // A failed call never gets here: its (poisoned) instance is dropped.
            if self.reuse {
                if let Ok(mut idle) = self.idle.lock() {
                    if idle.len() < self.max_idle {
                        idle.push(live);
                    }
                }
            }
            Ok(out)
        };
        off_runtime(here)
    }

    /// The slot of `method`, if a call of kind `attempted` fits it.
    fn slot(&self, method: usize, attempted: MethodKind) -> Result<&Slot, CallError> {
        let slot = self
            .slots
            .get(method)
            .ok_or(CallError::InvalidMethodIndex {
                index: method,
                count: self.slots.len() as u32,
            })?;
        let declared = slot.kind();
        let fits = declared == attempted
            // Without the interface's registration a client stream looks
            // like a unary method (its stream is no WIT parameter).
            || (slot.client.is_none()
                && matches!(
                    (declared, attempted),
                    (MethodKind::Unary, MethodKind::ClientStream)
                        | (MethodKind::ServerStream, MethodKind::BidiStream)
                ));
        if fits {
            return Ok(slot);
        }
        if matches!(declared, MethodKind::Unary | MethodKind::Raw)
            && matches!(attempted, MethodKind::Unary | MethodKind::Raw)
        {
            return Err(CallError::WireModeMismatch {
                method: slot.name.clone(),
                declared: slot.raw,
                attempted: attempted == MethodKind::Raw,
            });
        }
        Err(CallError::CallKindMismatch {
            index: method,
            declared,
            attempted,
        })
    }

    /// Records which methods take a client stream (from the interface's
    /// registration; without one, the component's types cannot tell).
    pub(crate) fn set_client_streams(&mut self, takes_stream: &[bool]) {
        for (slot, &client) in self.slots.iter_mut().zip(takes_stream) {
            slot.client = Some(client);
        }
    }

    fn finish(slot: &Slot, out: Option<Val>) -> Result<Val, CallError> {
        let v = out.unwrap_or(Val::Tuple(Vec::new()));
        if !slot.plugin_error_result {
            return Ok(v);
        }
        match v {
            Val::Result(Ok(Some(v))) => Ok(*v),
            Val::Result(Ok(None)) => Ok(Val::Tuple(Vec::new())),
            Val::Result(Err(Some(e))) => {
                let pe: PluginError = serde::Deserialize::deserialize(ValDeserializer(*e))
                    .unwrap_or_else(|e| PluginError::new("WASM_ERROR", e.to_string()));
                Err(CallError::Plugin(pe))
            }
            Val::Result(Err(None)) => Err(CallError::Plugin(PluginError::new(
                "WASM_ERROR",
                "the plugin returned an error without details",
            ))),
            other => Ok(other),
        }
    }
}

/// Refuses, with what to do, a component that imports `wasi:http` newer
/// than ours, or without both keys (the `http` capability and a policy).
fn check_http_keys(rt: &Runtime, component: &Component, grants: &Grants) -> Result<(), String> {
    let ctype = component.component_type();
    let imports: Vec<String> = ctype
        .imports(&rt.engine)
        .map(|(n, _)| n.to_owned())
        .collect();
    check_wasi_http_imports(imports.iter().map(String::as_str))?;
    let Some(http) = imports.iter().find(|n| n.starts_with("wasi:http/")) else {
        return Ok(());
    };
    if !grants.http {
        return Err(format!(
            "the plugin imports `{http}` (outbound HTTP) but its capabilities do not grant 'http'"
        ));
    }
    if grants.egress.is_none() {
        return Err(format!(
            "the plugin imports `{http}` and is granted 'http', but the host supplied no egress policy: \
             give one with PluginHostBuilder::egress or PluginHost::load_wasm_with_egress"
        ));
    }
    Ok(())
}

/// The argument tuple of a call, lowered by the function's parameter types.
fn lower(slot: &Slot, args: &dyn erased_serde::Serialize) -> Result<Vec<Val>, CallError> {
    erased_serde::serialize(
        args,
        ArgsSerializer {
            params: &slot.params,
        },
    )
    .map_err(|e| CallError::Serialization(format!("method `{}`: {e}", slot.name)))
}

/// Runs `f` here, or on a scoped thread when this thread is inside a tokio
/// runtime (WASI's blocking shims cannot run on one).
fn off_runtime<R: Send>(f: impl FnOnce() -> Result<R, CallError> + Send) -> Result<R, CallError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return std::thread::scope(|s| {
            s.spawn(f)
                .join()
                .unwrap_or_else(|_| Err(backend("the wasm call thread panicked")))
        });
    }
    f()
}

/// The typed error of a failed wasmtime call on `store`.
fn classify(e: wasmtime::Error, store: &mut Store<HostState>, limits: CallLimits) -> CallError {
    if let Some(e) = host_call::take_client_error(store.data_mut()) {
        return e;
    }
    let tail = store.data().stderr.take();
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::Interrupt => CallError::Timeout {
                deadline: limits.deadline.unwrap_or_default(),
            },
            wasmtime::Trap::OutOfFuel => CallError::FuelExhausted {
                budget: limits.fuel.unwrap_or(u64::MAX),
            },
            _ if tail.contains("panicked at") => CallError::Panic(tail),
            _ => CallError::Trap {
                runtime: RUNTIME.into(),
                message: if tail.is_empty() {
                    format!("{trap}")
                } else {
                    format!("{trap} (guest stderr: {tail})")
                },
            },
        };
    }
    if e.is::<blocking::DeadlineInHost>() {
        return CallError::Timeout {
            deadline: limits.deadline.unwrap_or_default(),
        };
    }
    if let Some(hit) = e.downcast_ref::<MemoryLimitHit>() {
        return CallError::MemoryLimitExceeded { limit: hit.limit };
    }
    if e.is::<wasmtime::PoolConcurrencyLimitError>() {
        return backend(format!("too many live WASM instances in this process: {e}"));
    }
    let mut message = format!("{e:#}");
    if !tail.is_empty() {
        message.push_str(&format!(" (guest stderr: {tail})"));
    }
    backend(message)
}

/// Runs `call` on the function `func` of a live instance, with limits.
fn run_limited<R>(
    rt: &Runtime,
    live: &mut Live,
    func: ComponentExportIndex,
    limits: CallLimits,
    call: impl FnOnce(&mut Store<HostState>, wasmtime::component::Func) -> wasmtime::Result<R>,
) -> Result<R, CallError> {
    let Some(f) = live.instance.get_func(&mut live.store, func) else {
        return Err(backend("the export is not a function"));
    };
    limited(rt, &mut live.store, limits, |store| call(store, f))
}

/// Runs `call` on `store` under `limits`: memory cap, fuel and deadline.
fn limited<R>(
    rt: &Runtime,
    store: &mut Store<HostState>,
    limits: CallLimits,
    call: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<R>,
) -> Result<R, CallError> {
    store.data_mut().limiter.memory = limits.max_memory;
    store
        .data_mut()
        .set_deadline(limits.deadline.map(|d| std::time::Instant::now() + d));
    store
        .set_fuel(limits.fuel.unwrap_or(u64::MAX))
        .map_err(|e| backend(format!("{e:#}")))?;
    let _ticking = match limits.deadline {
        Some(d) => {
            store.set_epoch_deadline(Runtime::ticks(d));
            Some(rt.deadline_guard())
        }
        None => {
            store.set_epoch_deadline(u64::MAX / 2);
            None
        }
    };
    match call(store) {
        Ok(r) => Ok(r),
        Err(e) => Err(classify(e, store, limits)),
    }
}

impl PluginExecutor for WasmComponentExecutor {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    fn method_count(&self) -> u32 {
        self.slots.len() as u32
    }

    fn call_shape(&self) -> CallShape {
        CallShape::Values
    }

    fn call_value(
        &self,
        method: usize,
        args: &dyn erased_serde::Serialize,
        output: ValueSink<'_>,
    ) -> Result<(), CallError> {
        let slot = self.slot(method, MethodKind::Unary)?;
        let func = slot
            .func
            .ok_or(CallError::NotImplemented { bit: method as u32 })?;
        let vals = lower(slot, args)?;
        let out = self.invoke(func, vals, slot.has_result)?;
        let v = Self::finish(slot, out)?;
        output(&mut <dyn erased_serde::Deserializer>::erase(
            ValDeserializer(v),
        ))
    }

    fn call_wire(
        &self,
        method: usize,
        _input: &[u8],
        _output: OutputSink<'_>,
    ) -> Result<(), CallError> {
        let _ = self.slot(method, MethodKind::Unary)?;
        Err(backend(
            "WASM plugins take typed values, not bincode: call through PluginHandle::call_method",
        ))
    }

    fn call_raw(&self, method: usize, input: &[u8]) -> Result<Vec<u8>, CallError> {
        let slot = self.slot(method, MethodKind::Raw)?;
        let func = slot
            .func
            .ok_or(CallError::NotImplemented { bit: method as u32 })?;
        // Bytes cross as one block (wasmtime's typed `list<u8>`), not as a
        // list of values.
        let fallible = slot.plugin_error_result;
        let out = self.on_instance(func, |exec, live, func, limits| {
            exec.run_with(live, func, limits, |store, f| {
                if fallible {
                    let typed = f.typed::<(&[u8],), (Result<Vec<u8>, WitPluginError>,)>(&*store)?;
                    Ok(typed.call(store, (input,))?.0)
                } else {
                    let typed = f.typed::<(&[u8],), (Vec<u8>,)>(&*store)?;
                    Ok(Ok(typed.call(store, (input,))?.0))
                }
            })
        })?;
        out.map_err(|e| {
            CallError::Plugin(PluginError {
                code: e.code,
                message: e.message,
                details: e.details,
            })
        })
    }

    fn call_server_stream_value(
        &self,
        method: usize,
        args: &dyn erased_serde::Serialize,
    ) -> Result<crate::stream::RawStream, CallError> {
        self.start_stream(method, MethodKind::ServerStream, None, args)
    }

    fn call_client_stream_value(
        &self,
        method: usize,
        items: ValueItems,
        args: &dyn erased_serde::Serialize,
        output: ValueSink<'_>,
    ) -> Result<(), CallError> {
        let v = self.call_client(method, items, args)?;
        output(&mut <dyn erased_serde::Deserializer>::erase(
            ValDeserializer(v),
        ))
    }

    fn call_bidi_stream_value(
        &self,
        method: usize,
        items: ValueItems,
        args: &dyn erased_serde::Serialize,
    ) -> Result<crate::stream::RawStream, CallError> {
        self.start_stream(method, MethodKind::BidiStream, Some(items), args)
    }

    unsafe fn bind_host(
        &self,
        name: &str,
        hash: u64,
        version: u32,
        table: &mut dyn FnMut() -> fidius_core::host_ffi::HostTable,
    ) -> Result<bool, LoadError> {
        // The guest names interface, version and hash on every call, so the
        // gates run then (a component's imports do not say which host
        // interfaces it will call).
        // SAFETY: the caller's table contract, forwarded.
        unsafe { self.hosts.bind(name, hash, version, table()) }?;
        Ok(true)
    }

    fn method_kind(&self, method: usize) -> Option<MethodKind> {
        self.slots.get(method).map(Slot::kind)
    }

    fn set_limits(&self, limits: CallLimits) -> Result<(), CallError> {
        WasmComponentExecutor::set_limits(self, limits);
        Ok(())
    }

    fn limits(&self) -> Option<CallLimits> {
        Some(WasmComponentExecutor::limits(self))
    }
}

/// Builds the executor of a WASM package (used by `PluginHost`).
pub(crate) fn load_package_component(
    bytes: &[u8],
    cwasm: Option<&[u8]>,
    desc: &fidius_core::wasm_descriptor::WasmInterfaceDescriptor,
    info: PluginInfo,
    opts: &WasmOptions,
) -> Result<WasmComponentExecutor, LoadError> {
    let methods: Vec<WasmMethod> = desc.methods.iter().map(WasmMethod::from).collect();
    let load_err = |e: CallError| LoadError::WasmLoad(e.to_string());
    let mut exec = match cwasm {
        Some(art) => {
            // SAFETY: the caller passes a `.cwasm` only from a package whose
            // signature verified (native code from a trusted signer).
            match unsafe {
                WasmComponentExecutor::from_cwasm_with_options(
                    art,
                    desc.interface_export,
                    &methods,
                    info.clone(),
                    opts,
                )
            } {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, "precompiled .cwasm not usable; compiling the component");
                    WasmComponentExecutor::with_options(
                        bytes,
                        desc.interface_export,
                        &methods,
                        info,
                        opts,
                    )
                    .map_err(load_err)?
                }
            }
        }
        None => {
            WasmComponentExecutor::with_options(bytes, desc.interface_export, &methods, info, opts)
                .map_err(load_err)?
        }
    };
    if let Some(positions) = fidius_core::python_descriptor::stream_arg_positions_of(
        desc.interface_name,
        desc.interface_hash,
    ) {
        let takes: Vec<bool> = positions.iter().map(Option::is_some).collect();
        exec.set_client_streams(&takes);
    }
    let got = exec.interface_hash().map_err(load_err)?;
    if got != desc.interface_hash {
        return Err(LoadError::InterfaceHashMismatch {
            got,
            expected: desc.interface_hash,
        });
    }
    Ok(exec)
}

/// Whether this process's WASM engine runs on the pooling allocator (it
/// falls back to on-demand allocation, logged, where the pool cannot be
/// reserved).
pub fn pooling_allocator_in_use() -> bool {
    Runtime::get().map(|r| r.pooling).unwrap_or(false)
}
