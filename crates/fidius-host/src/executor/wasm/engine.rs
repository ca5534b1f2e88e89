//! The process-wide wasmtime runtime: one `Engine` (pooling allocator with
//! copy-on-write memory images, epoch interruption, fuel), the epoch ticker
//! that enforces deadlines, and the compiled-component cache (in memory,
//! and on disk keyed by content hash and engine compatibility).

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Precompiled};

/// One epoch tick.
pub const TICK: Duration = Duration::from_millis(1);

/// The shared runtime.
pub struct Runtime {
    /// The engine every component of this process is compiled for.
    pub engine: Engine,
    /// Whether the pooling allocator is in use (else on-demand, logged).
    pub pooling: bool,
    ticker: Ticker,
    memory_cache: Mutex<HashMap<[u8; 32], Component>>,
    pre_cache: Mutex<HashMap<([u8; 32], bool), Pre>>,
    engine_key: String,
    /// WASI and fidius imports, defined once for every component.
    pub linker: wasmtime::component::Linker<super::sandbox::HostState>,
    /// [`Self::linker`] plus `wasi:http` (for plugins with brokered HTTP).
    pub http_linker: wasmtime::component::Linker<super::sandbox::HostState>,
}

/// A component with its imports resolved.
type Pre = wasmtime::component::InstancePre<super::sandbox::HostState>;

struct Ticker {
    active: Arc<AtomicUsize>,
    thread: Thread,
}

const MEMORY_CACHE_ENTRIES: usize = 64;

/// Bytes of each pooled linear memory kept resident between instances
/// (at most this much per warm slot stays in the process's RSS).
const KEEP_RESIDENT: usize = 1 << 20;

/// Bytes of each pooled table kept resident between instances.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

fn config(pooling: bool) -> Config {
    let mut cfg = Config::new();
    cfg.epoch_interruption(true)
        .consume_fuel(true)
        .concurrency_support(false)
        .memory_init_cow(true)
        .wasm_component_model(true);
    if pooling {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(1000)
            .total_core_instances(1000)
            .total_memories(512)
            .total_tables(1000)
            .max_component_instance_size(4 << 20)
            .max_core_instance_size(4 << 20)
            .table_elements(100_000)
            .max_unused_warm_slots(64)
            // A fresh instance per call must not cost page faults: the
            // pages a call dirtied are restored in place (found with
            // PAGEMAP_SCAN where the kernel has it, Linux 6.7+) instead of
            // being released with madvise and faulted in again.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(TABLE_KEEP_RESIDENT)
            .pagemap_scan(wasmtime::Enabled::Auto);
        cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    cfg
}

impl Runtime {
    /// The process-wide runtime (created on first use).
    pub fn get() -> Result<Arc<Runtime>, String> {
        static RT: OnceLock<Result<Arc<Runtime>, String>> = OnceLock::new();
        RT.get_or_init(|| Runtime::new().map(Arc::new)).clone()
    }

    fn new() -> Result<Runtime, String> {
        let (engine, pooling) = match Engine::new(&config(true)) {
            Ok(e) => (e, true),
            Err(e) => {
                tracing::warn!(error = %e, "wasm pooling allocator unavailable; instances are allocated on demand");
                (
                    Engine::new(&config(false))
                        .map_err(|e| format!("creating the wasm engine: {e}"))?,
                    false,
                )
            }
        };
        let active = Arc::new(AtomicUsize::new(0));
        let weak = engine.weak();
        let a = active.clone();
        let handle = std::thread::Builder::new()
            .name("fidius-wasm-epoch".into())
            .spawn(move || {
                // Ticks follow wall time (sleep overshoot is caught up), so a
                // deadline of N ms fires after N ms, not after N sleeps.
                let mut next = std::time::Instant::now();
                loop {
                    if a.load(Ordering::Acquire) == 0 {
                        std::thread::park_timeout(Duration::from_secs(1));
                        if weak.upgrade().is_none() {
                            return;
                        }
                        next = std::time::Instant::now();
                        continue;
                    }
                    next += TICK;
                    let now = std::time::Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    }
                    let Some(e) = weak.upgrade() else { return };
                    e.increment_epoch();
                    while next + TICK <= std::time::Instant::now() {
                        next += TICK;
                        e.increment_epoch();
                    }
                }
            })
            .map_err(|e| format!("starting the wasm epoch thread: {e}"))?;
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let mut linker = wasmtime::component::Linker::new(&engine);
        super::host_call::link(&mut linker).map_err(|e| format!("linking host imports: {e:#}"))?;
        let mut http_linker = linker.clone();
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut http_linker)
            .map_err(|e| format!("linking wasi:http: {e:#}"))?;
        Ok(Runtime {
            linker,
            http_linker,
            engine_key: format!("{:016x}", h.finish()),
            engine,
            pooling,
            ticker: Ticker {
                active,
                thread: handle.thread().clone(),
            },
            memory_cache: Mutex::new(HashMap::new()),
            pre_cache: Mutex::new(HashMap::new()),
        })
    }

    /// Marks a call with a deadline as running (the ticker runs while any is).
    pub fn deadline_guard(&self) -> DeadlineGuard<'_> {
        if self.ticker.active.fetch_add(1, Ordering::AcqRel) == 0 {
            self.ticker.thread.unpark();
        }
        DeadlineGuard(self)
    }

    /// The current epoch's deadline in ticks for `d` (at least two ticks).
    pub fn ticks(d: Duration) -> u64 {
        (d.as_micros() / TICK.as_micros()).max(1) as u64 + 1
    }

    /// Compiles (or fetches from the caches) the component in `bytes`.
    pub fn compile(&self, bytes: &[u8], disk: Option<&Path>) -> Result<Component, String> {
        self.compile_keyed(bytes, disk).map(|(c, _)| c)
    }

    /// [`Self::compile`], also returning the content key of `bytes`.
    pub fn compile_keyed(
        &self,
        bytes: &[u8],
        disk: Option<&Path>,
    ) -> Result<(Component, [u8; 32]), String> {
        let key: [u8; 32] = Sha256::digest(bytes).into();
        self.compile_inner(bytes, key, disk).map(|c| (c, key))
    }

    /// The `InstancePre` of a component (imports resolved once per content
    /// key), with `wasi:http` linked when `http`.
    pub fn instance_pre(
        &self,
        key: [u8; 32],
        component: &Component,
        http: bool,
    ) -> Result<wasmtime::component::InstancePre<super::sandbox::HostState>, String> {
        let key = (key, http);
        if let Some(p) = self
            .pre_cache
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return Ok(p);
        }
        let linker = if http {
            &self.http_linker
        } else {
            &self.linker
        };
        let pre = linker.instantiate_pre(component).map_err(|e| {
            format!("the component needs imports this host does not provide: {e:#}")
        })?;
        if let Ok(mut m) = self.pre_cache.lock() {
            if m.len() >= MEMORY_CACHE_ENTRIES {
                m.clear();
            }
            m.insert(key, pre.clone());
        }
        Ok(pre)
    }

    fn compile_inner(
        &self,
        bytes: &[u8],
        key: [u8; 32],
        disk: Option<&Path>,
    ) -> Result<Component, String> {
        if Engine::detect_precompiled(bytes).is_some() {
            return Err(
                "these bytes are a precompiled artifact (.cwasm), not a component; pass the .wasm"
                    .into(),
            );
        }
        if let Some(c) = self
            .memory_cache
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return Ok(c);
        }
        let disk_path = disk.and_then(|d| self.disk_entry(d, &key));
        if let Some(path) = &disk_path {
            if path.is_file() {
                // SAFETY: the cache directory is private to this user (checked
                // by `disk_entry`), entries are written only by `compile` below
                // from `Component::serialize` of this engine configuration, and
                // wasmtime itself refuses artifacts of another version or config.
                match unsafe { Component::deserialize_file(&self.engine, path) } {
                    Ok(c) => {
                        self.remember(key, &c);
                        return Ok(c);
                    }
                    Err(e) => {
                        tracing::debug!(path = %path.display(), error = %e, "stale wasm cache entry; recompiling");
                    }
                }
            }
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| format!("{e:#}"))?;
        if let Some(path) = &disk_path {
            if let Ok(art) = component.serialize() {
                let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                if std::fs::write(&tmp, art).is_ok() {
                    let _ = std::fs::rename(&tmp, path);
                }
                let _ = std::fs::remove_file(&tmp);
            }
        }
        self.remember(key, &component);
        Ok(component)
    }

    /// Loads a precompiled `.cwasm` (falls back is the caller's job).
    ///
    /// # Safety
    /// `bytes` run as native code: they must come from a trusted source (a
    /// verified package, or [`crate::executor::wasm::precompile_component`]).
    pub unsafe fn deserialize(&self, bytes: &[u8]) -> Result<Component, String> {
        if !matches!(
            Engine::detect_precompiled(bytes),
            Some(Precompiled::Component)
        ) {
            return Err("not a precompiled component of this engine".into());
        }
        // SAFETY: forwarded caller contract.
        unsafe { Component::deserialize(&self.engine, bytes) }.map_err(|e| format!("{e:#}"))
    }

    fn remember(&self, key: [u8; 32], c: &Component) {
        if let Ok(mut m) = self.memory_cache.lock() {
            if m.len() >= MEMORY_CACHE_ENTRIES {
                m.clear();
            }
            m.insert(key, c.clone());
        }
    }

    fn disk_entry(&self, root: &Path, key: &[u8; 32]) -> Option<PathBuf> {
        let dir = root.join(&self.engine_key);
        if std::fs::create_dir_all(&dir).is_err() || !private_dir(root) || !private_dir(&dir) {
            tracing::debug!(dir = %dir.display(), "wasm disk cache not private; not used");
            return None;
        }
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        Some(dir.join(format!("{hex}.cwasm")))
    }
}

/// Makes `dir` mode 0700 if we own it, and reports whether it is private to us.
fn private_dir(dir: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let Ok(me) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
            return false;
        };
        let Ok(meta) = std::fs::symlink_metadata(dir) else {
            return false;
        };
        if !meta.is_dir() || meta.uid() != me {
            return false;
        }
        if meta.mode() & 0o077 != 0 {
            return std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).is_ok();
        }
        true
    }
    #[cfg(not(unix))]
    {
        dir.is_dir()
    }
}

/// The default on-disk cache: `$FIDIUS_WASM_CACHE`, else
/// `$XDG_CACHE_HOME/fidius/wasm`, else `$HOME/.cache/fidius/wasm`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("FIDIUS_WASM_CACHE") {
        return (!d.is_empty()).then(|| PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("fidius/wasm"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/fidius/wasm"))
}

/// Keeps the epoch ticker running while alive.
pub struct DeadlineGuard<'a>(&'a Runtime);

impl Drop for DeadlineGuard<'_> {
    fn drop(&mut self) {
        self.0.ticker.active.fetch_sub(1, Ordering::AcqRel);
    }
}
