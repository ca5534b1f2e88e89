//! The child side of the process tier: a runner loads one plugin from the
//! sealed library memfd the host passed, then answers calls on the channel.
//!
//! Two ways in: the small `fidius-runner` binary (its `main` calls
//! [`runner_main`]), or any executable that links fidius-host, re-executed by
//! the host with [`RUNNER_ENV`] set — an `.init_array` hook enters the
//! runner before `main`, so a host needs no separate binary.

use super::frame::{
    self, HostSpec, Summary, ToChild, ToHost, WireCallError, WireLoadError, LIBRARY_ENV,
    RUNNER_ENV, SELF_RUNNER_ENV,
};
use super::link::{self, Key, Link, RemoteInput};
use crate::executor::{CdylibExecutor, PluginExecutor};
use crate::stream::RawItem;
use fidius_core::MethodKind;
use std::io::{self, Read};
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Serves one plugin to the host that started this process, then exits.
///
/// Call it first thing in `main` of a dedicated runner binary; it never
/// returns. The process must have been started by a fidius host (which
/// names the channel and library descriptors in the environment); otherwise
/// it exits with status 64.
pub fn runner_main() -> ! {
    let library = env_fd(LIBRARY_ENV).unwrap_or(-1);
    #[cfg(feature = "remote")]
    if env_fd(RUNNER_ENV).is_none() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.first().is_some_and(|a| a == "--listen") {
            super::remote::serve_main(&args);
        }
    }
    let Some(channel) = env_fd(RUNNER_ENV) else {
        eprintln!(
            "fidius-runner serves plugins to a fidius host, which starts it; it is not run by hand"
        );
        std::process::exit(64);
    };
    if !is_socket(channel) {
        eprintln!("fidius-runner: descriptor {channel} is not the host's channel");
        std::process::exit(64);
    }
    // Processes the plugin starts see none of this.
    std::env::remove_var(RUNNER_ENV);
    std::env::remove_var(LIBRARY_ENV);
    std::env::remove_var(SELF_RUNNER_ENV);
    let code = match serve(channel, library) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("fidius runner: {e}");
            70
        }
    };
    std::process::exit(code)
}

/// A descriptor number from the environment.
fn env_fd(key: &str) -> Option<i32> {
    std::env::var(key).ok()?.parse().ok().filter(|&fd| fd > 2)
}

fn is_socket(fd: i32) -> bool {
    // SAFETY: fstat into a zeroed stat struct we own.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFSOCK
    }
}

/// Runs before `main` in every executable that links fidius-host: enters the
/// runner when (and only when) a host re-executed this program as one. (The
/// dedicated `fidius-runner` binary is started without [`SELF_RUNNER_ENV`],
/// so its `main` runs with Rust's runtime fully set up, stack-overflow
/// reporting included.)
extern "C" fn enter_if_runner() {
    if std::env::var_os(SELF_RUNNER_ENV).is_some() && env_fd(RUNNER_ENV).is_some_and(is_socket) {
        // A plugin library that itself links fidius-host must not enter again.
        std::env::remove_var(SELF_RUNNER_ENV);
        runner_main();
    }
}

#[used]
#[link_section = ".init_array"]
static ENTER_IF_RUNNER: extern "C" fn() = enter_if_runner;

/// Environment variable of the fault-injection test hook: `wrong-id`,
/// `garbage` or `truncated` makes the runner answer unary calls that way, so
/// tests can prove the host survives a child that breaks the protocol. Not
/// a public API.
const FAULT_ENV: &str = "FIDIUS_RUNNER_FAULT";

/// Answers call `id` the way `fault` says a broken child would.
fn inject(link: &Link, fault: &str, id: u64) -> io::Result<()> {
    match fault {
        "wrong-id" => link.send(&ToHost::Reply {
            id: id + 1000,
            result: Ok(&[]),
        }),
        "garbage" => link.send_bytes(&[8, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]),
        "truncated" => {
            link.send_bytes(&[100, 0, 0, 0, 1, 2, 3])?;
            std::process::exit(0)
        }
        other => Err(io::Error::other(format!("unknown fault {other:?}"))),
    }
}

fn set_cloexec(fd: i32) {
    // SAFETY: F_SETFD on a descriptor this process owns.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}

fn serve(channel: i32, library: i32) -> io::Result<()> {
    // Processes the plugin starts must not inherit the channel or the library.
    set_cloexec(channel);
    if library >= 0 {
        set_cloexec(library);
    }
    // SAFETY: `channel` is the socket the host passed (checked by
    // runner_main); nothing else in this process owns it.
    let sock = unsafe { UnixStream::from_raw_fd(channel) };
    let link = Arc::new(Link::new(sock)?);
    // Host-function proxies bound in the plugin's library call through it.
    link::install(&link);
    let Some(hello) = link.next_request()? else {
        return Ok(());
    };
    let exec = match frame::decode::<ToChild<'_>>(&hello) {
        Ok(ToChild::Hello {
            magic,
            protocol,
            build,
            label,
            plugin,
            config,
            hosts,
        }) if magic == frame::MAGIC && protocol == frame::PROTOCOL && build == frame::BUILD => {
            if plugin.is_empty() {
                let listing = list(library, &label);
                link.send(&match listing {
                    Ok(l) => ToHost::Listing(l),
                    Err(e) => ToHost::LoadFailed(e),
                })?;
                return Ok(());
            }
            match load(library, &label, &plugin, config.as_deref(), &hosts) {
                Ok(exec) => Box::new(exec) as Box<dyn PluginExecutor>,
                Err(e) => {
                    link.send(&ToHost::LoadFailed(e))?;
                    return Ok(());
                }
            }
        }
        Ok(ToChild::HelloPython {
            magic,
            protocol,
            build,
            python,
        }) if magic == frame::MAGIC && protocol == frame::PROTOCOL && build == frame::BUILD => {
            match load_python(&python) {
                Ok(exec) => exec,
                Err(e) => {
                    link.send(&ToHost::LoadFailed(e))?;
                    return Ok(());
                }
            }
        }
        Ok(
            ToChild::Hello {
                protocol, build, ..
            }
            | ToChild::HelloPython {
                protocol, build, ..
            },
        ) => {
            link.send(&ToHost::LoadFailed(WireLoadError::Protocol {
                message: format!(
                    "the host is fidius-host {build} (process protocol {protocol}), this runner is fidius-host {} (protocol {})",
                    frame::BUILD,
                    frame::PROTOCOL
                ),
            }))?;
            return Ok(());
        }
        Ok(_) | Err(_) => {
            // Most likely a host of another release: say so in a shape every
            // release decodes, then stop.
            link.send(&ToHost::LoadFailed(WireLoadError::Protocol {
                message: format!(
                    "the host's first message is not a hello this runner (fidius-host {}, protocol {}) understands",
                    frame::BUILD,
                    frame::PROTOCOL
                ),
            }))?;
            return Ok(());
        }
    };
    link.send(&ToHost::Ready {
        magic: frame::MAGIC,
        protocol: frame::PROTOCOL,
        summary: Box::new(summary(&*exec)),
    })?;
    // Test hook: a runner that breaks the protocol on purpose (see `inject`).
    let fault = std::env::var(FAULT_ENV).ok();
    std::env::remove_var(FAULT_ENV);
    let mut result = Vec::new();
    let mut streams: std::collections::HashMap<u64, Producer> = std::collections::HashMap::new();
    // Streams whose input is the host's (bidirectional ones).
    let mut inputs: std::collections::HashMap<u64, Arc<AtomicBool>> =
        std::collections::HashMap::new();
    while let Some(inbuf) = link.next_request()? {
        let msg = frame::decode::<ToChild<'_>>(&inbuf).map_err(io::Error::other)?;
        match msg {
            ToChild::Call {
                id,
                method,
                raw,
                input,
            } => {
                result.clear();
                let outcome = if raw {
                    exec.call_raw(method as usize, input)
                        .map(|out| result = out)
                } else {
                    exec.call_wire(method as usize, input, &mut |bytes| {
                        result.extend_from_slice(bytes);
                        Ok(())
                    })
                };
                if let Some(fault) = &fault {
                    inject(&link, fault, id)?;
                    continue;
                }
                reply(&link, id, outcome.map(|()| result.as_slice()))?;
                if result.capacity() > 4 << 20 {
                    result = Vec::new();
                }
            }
            ToChild::OpenStream {
                id,
                method,
                values,
                input,
            } => {
                let opened = if values {
                    json_args(input)
                        .and_then(|args| exec.call_server_stream_value(method as usize, &args))
                } else {
                    exec.call_server_stream(method as usize, input)
                };
                let outcome = opened.map(|source| {
                    streams.insert(id, Producer::start(source));
                });
                reply(&link, id, outcome.map(|()| &[][..]))?;
            }
            ToChild::Pull { id, stream } => {
                let Some(producer) = streams.get(&stream) else {
                    link.send(&ToHost::Items {
                        id,
                        items: Vec::new(),
                        end: Some(Err(WireCallError::Other(format!(
                            "no open stream {stream}"
                        )))),
                    })?;
                    continue;
                };
                let (batch, end) = producer.take();
                let items: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
                let ended = end.is_some();
                link.send(&ToHost::Items { id, items, end })?;
                if ended {
                    streams.remove(&stream);
                    if let Some(active) = inputs.remove(&stream) {
                        active.store(false, Ordering::SeqCst);
                    }
                }
            }
            ToChild::CloseStream { stream } => {
                // A producer waiting for the host's next item stops waiting.
                if let Some(active) = inputs.remove(&stream) {
                    active.store(false, Ordering::SeqCst);
                    link.close(Key::Input(stream));
                }
                if let Some(producer) = streams.remove(&stream) {
                    producer.close();
                }
            }
            ToChild::OpenBidi {
                id,
                method,
                values,
                input,
            } => {
                let (remote, active) = remote_input(&link, id);
                let opened = if values {
                    json_args(input).and_then(|args| {
                        exec.call_bidi_stream_value(method as usize, value_items(remote), &args)
                    })
                } else {
                    exec.call_bidi_stream(method as usize, stream_handle(remote), input)
                };
                let outcome = opened.map(|source| {
                    streams.insert(id, Producer::start(source));
                    inputs.insert(id, Arc::clone(&active));
                });
                if outcome.is_err() {
                    active.store(false, Ordering::SeqCst);
                }
                reply(&link, id, outcome.map(|()| &[][..]))?;
            }
            ToChild::BindHost { id, index, host } => {
                // SAFETY: the proxy table is valid and leaked (it lives for the process).
                let bound = unsafe {
                    exec.bind_host(&host.name, host.hash, host.version, &mut || {
                        fidius_core::host_ffi::HostTable::leaked(link::proxy_table(index, &host))
                    })
                };
                link.send(&ToHost::Bound {
                    id,
                    result: bound.map_err(Into::into),
                })?;
            }
            ToChild::HostReply { .. } => {
                return Err(io::Error::other("a host call's answer arrived unasked"))
            }
            ToChild::CallClientStream {
                id,
                method,
                values,
                input,
            } => {
                let (remote, active) = remote_input(&link, id);
                result.clear();
                let outcome = if values {
                    json_args(input).and_then(|args| {
                        exec.call_client_stream_value(
                            method as usize,
                            value_items(remote),
                            &args,
                            &mut |de| json_result(de, &mut result),
                        )
                    })
                } else {
                    exec.call_client_stream(
                        method as usize,
                        stream_handle(remote),
                        input,
                        &mut |b| {
                            result.extend_from_slice(b);
                            Ok(())
                        },
                    )
                };
                // The host's items end with the call: a stream the plugin kept
                // must not touch the channel afterwards.
                active.store(false, Ordering::SeqCst);
                reply(&link, id, outcome.map(|()| result.as_slice()))?;
            }
            ToChild::Input { .. } => {
                return Err(io::Error::other("stream items arrived outside a call"))
            }
            ToChild::CallValue {
                id,
                method,
                args_json,
            } => {
                result.clear();
                let outcome = call_value(&*exec, method as usize, args_json, &mut result);
                reply(&link, id, outcome.map(|()| result.as_slice()))?;
            }
            ToChild::Hello { .. } | ToChild::HelloPython { .. } => {
                return Err(io::Error::other("a second hello"))
            }
        }
    }
    // Streams first: they may point into the instance.
    for (_, active) in inputs.drain() {
        active.store(false, Ordering::SeqCst);
    }
    for (_, producer) in streams.drain() {
        producer.close();
    }
    // The host is gone or done: destroy the instance and exit.
    drop(exec);
    Ok(())
}

/// Answers request `id` with `outcome` (output bytes, or the failure).
fn reply(link: &Link, id: u64, outcome: Result<&[u8], crate::CallError>) -> io::Result<()> {
    link.send(&ToHost::Reply {
        id,
        result: outcome.map_err(Into::into),
    })
}

/// The host's items of stream input `id`, with the flag that ends them.
fn remote_input(link: &Arc<Link>, id: u64) -> (RemoteInput, Arc<AtomicBool>) {
    let active = Arc::new(AtomicBool::new(true));
    let remote = RemoteInput {
        link: Arc::clone(link),
        id,
        active: Arc::clone(&active),
        done: false,
    };
    (remote, active)
}

/// The host's (bincode) items as a stream handle for a cdylib plugin.
fn stream_handle(remote: RemoteInput) -> crate::stream::OwnedStreamHandle {
    // SAFETY: a fresh producer handle, owned by the OwnedStreamHandle.
    unsafe {
        crate::stream::OwnedStreamHandle::from_raw(
            fidius_core::stream_ffi::producer_handle_encoded(remote),
        )
    }
}

/// The host's (JSON) items as values for a value-shaped (Python) plugin.
fn value_items(remote: RemoteInput) -> crate::executor::ValueItems {
    crate::executor::json_items(remote.map(|step| {
        let bytes = step.map_err(crate::CallError::Plugin)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| crate::CallError::Deserialization(format!("an item from the host: {e}")))
    }))
}

/// The JSON argument tuple the host sent.
fn json_args(args_json: &[u8]) -> Result<serde_json::Value, crate::CallError> {
    serde_json::from_slice(args_json)
        .map_err(|e| crate::CallError::Serialization(format!("arguments from the host: {e}")))
}

/// A value-shaped result, as JSON into `out`.
fn json_result(
    de: &mut dyn erased_serde::Deserializer<'_>,
    out: &mut Vec<u8>,
) -> Result<(), crate::CallError> {
    let value: serde_json::Value = erased_serde::deserialize(de)
        .map_err(|e| crate::CallError::Deserialization(e.to_string()))?;
    serde_json::to_writer(&mut *out, &value)
        .map_err(|e| crate::CallError::Serialization(e.to_string()))
}

/// A value-shaped call: JSON arguments in, the result as JSON into `out`.
fn call_value(
    exec: &dyn PluginExecutor,
    method: usize,
    args_json: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), crate::CallError> {
    let args = json_args(args_json)?;
    exec.call_value(method, &args, &mut |de| json_result(de, out))
}

/// Imports the Python plugin the host named (feature `python`).
#[cfg(feature = "python")]
fn load_python(t: &frame::PythonTarget) -> Result<Box<dyn PluginExecutor>, WireLoadError> {
    use fidius_core::python_descriptor::{PythonInterfaceDescriptor, PythonMethodDesc};
    let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
    // One descriptor per runner process, for its life: leaked on purpose.
    let methods: Vec<PythonMethodDesc> = t
        .methods
        .iter()
        .map(|(name, raw)| PythonMethodDesc {
            name: leak(name),
            wire_raw: *raw,
        })
        .collect();
    let desc: &'static PythonInterfaceDescriptor = Box::leak(Box::new(PythonInterfaceDescriptor {
        interface_name: leak(&t.interface_name),
        interface_hash: t.interface_hash,
        methods: Box::leak(methods.into_boxed_slice()),
    }));
    let config = t
        .config_json
        .as_deref()
        .map(serde_json::from_str::<serde_json::Value>)
        .transpose()
        .map_err(|e| WireLoadError::Other {
            message: format!("the config from the host: {e}"),
        })?;
    let root = Path::new(&t.root);
    let handle = crate::executor::python::import_plugin(
        root,
        &t.entry,
        desc,
        config.as_ref(),
        None,
        Path::new(&t.shown),
        Some(t.stream_args.clone()),
    )
    .map_err(|e| match e {
        crate::LoadError::ConstructFailed { reason, .. } => {
            WireLoadError::ConstructFailed { reason }
        }
        e => WireLoadError::Other {
            message: e.to_string(),
        },
    })?;
    let info = crate::PluginInfo {
        name: t.package_name.clone(),
        interface_name: t.interface_name.clone(),
        interface_hash: t.interface_hash,
        interface_version: t.interface_version,
        capabilities: 0,
        buffer_strategy: fidius_core::BufferStrategyKind::PluginAllocated,
        runtime: crate::PluginRuntimeKind::Python,
    };
    Ok(Box::new(crate::executor::python::Pyo3Executor::new(
        handle, info,
    )))
}

#[cfg(not(feature = "python"))]
fn load_python(_: &frame::PythonTarget) -> Result<Box<dyn PluginExecutor>, WireLoadError> {
    Err(WireLoadError::Other {
        message: "this runner was built without the `python` feature of fidius-host; build fidius-runner (or the host) with it".into(),
    })
}

/// Reads the sealed library the host passed.
fn library_bytes(library: i32) -> Result<Vec<u8>, WireLoadError> {
    if library < 0 {
        return Err(WireLoadError::Other {
            message: "the host passed no library".into(),
        });
    }
    let mut bytes = Vec::new();
    // SAFETY: `library` is the sealed library memfd the host passed; this
    // File is its only owner.
    let mut file = unsafe { std::fs::File::from_raw_fd(library) };
    // The descriptor shares its offset with the host's copy: read from the start.
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| WireLoadError::Other {
            message: format!("reading the library from the host: {e}"),
        })?;
    Ok(bytes)
}

/// What the library declares (its registry, validated; nothing constructed).
fn list(library: i32, label: &str) -> Result<Vec<frame::Listed>, WireLoadError> {
    let bytes = library_bytes(library)?;
    let lib = crate::loader::load_library_checked(Path::new(label), &bytes).map_err(|e| {
        WireLoadError::Other {
            message: e.to_string(),
        }
    })?;
    Ok(lib
        .plugins
        .iter()
        .map(|p| frame::Listed::of(&p.info))
        .collect())
}

fn load(
    library: i32,
    label: &str,
    plugin: &str,
    config: Option<&[u8]>,
    hosts: &[HostSpec],
) -> Result<CdylibExecutor, WireLoadError> {
    let other = |e: crate::LoadError| WireLoadError::Other {
        message: e.to_string(),
    };
    let bytes = library_bytes(library)?;
    let lib = crate::loader::load_library_checked(Path::new(label), &bytes).map_err(other)?;
    // Host interfaces the host bound before (this is a restart): bound
    // again before the plugin is constructed.
    for (index, host) in hosts.iter().enumerate() {
        crate::host_import::bind_host_interface(
            &lib.library,
            &host.name,
            host.hash,
            host.version,
            || link::proxy_table(index as u32, host),
        )?;
    }
    let available: Vec<String> = lib.plugins.iter().map(|p| p.info.name.clone()).collect();
    let Some(found) = lib.plugins.into_iter().find(|p| p.info.name == plugin) else {
        return Err(WireLoadError::NotFound { available });
    };
    let made = match config {
        None => CdylibExecutor::try_from_loaded(found),
        Some(c) => CdylibExecutor::try_from_loaded_with_config(found, c),
    };
    made.map_err(WireLoadError::from)
}

fn summary(exec: &dyn PluginExecutor) -> Summary {
    let info = exec.info();
    let n = exec.method_count();
    let owned = |v: Vec<(&str, &str)>| -> Vec<(String, String)> {
        v.into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    };
    Summary {
        runtime: if info.is_python() {
            frame::RUNTIME_PYTHON
        } else {
            frame::RUNTIME_CDYLIB
        },
        plugin: frame::Listed::of(info),
        method_count: n,
        kinds: (0..n as usize)
            .map(|i| {
                exec.method_kind(i)
                    .map(|k: MethodKind| k.as_str().to_owned())
            })
            .collect(),
        method_metadata: (0..n).map(|i| owned(exec.method_metadata(i))).collect(),
        trait_metadata: owned(exec.trait_metadata()),
        pid: std::process::id(),
    }
}

/// Items a producer may run ahead of the host.
const AHEAD_ITEMS: usize = 64;
/// Bytes a producer may run ahead of the host.
const AHEAD_BYTES: usize = 256 << 10;

#[derive(Default)]
struct Queue {
    items: std::collections::VecDeque<Vec<u8>>,
    bytes: usize,
    end: Option<Result<(), WireCallError>>,
    closed: bool,
    finished: bool,
}

/// A server stream's producer, pulled on its own thread into a bounded
/// queue (backpressure: it waits while the queue is full).
struct Producer {
    shared: std::sync::Arc<(std::sync::Mutex<Queue>, std::sync::Condvar)>,
}

impl Producer {
    fn start(mut source: crate::stream::RawStream) -> Self {
        let shared = std::sync::Arc::new((
            std::sync::Mutex::new(Queue::default()),
            std::sync::Condvar::new(),
        ));
        let s = std::sync::Arc::clone(&shared);
        let run = move || {
            let (lock, cv) = &*s;
            loop {
                {
                    let q = lock.lock().unwrap_or_else(|p| p.into_inner());
                    let q = cv
                        .wait_while(q, |q| {
                            !q.closed && (q.items.len() >= AHEAD_ITEMS || q.bytes >= AHEAD_BYTES)
                        })
                        .unwrap_or_else(|p| p.into_inner());
                    if q.closed {
                        break;
                    }
                }
                let step = match source.pull() {
                    RawItem::Item(bytes) => Ok(bytes.to_vec()),
                    RawItem::Error(e) => Err(Some(WireCallError::from(e))),
                    RawItem::End => Err(None),
                };
                let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
                match step {
                    Ok(item) => {
                        q.bytes += item.len();
                        q.items.push_back(item);
                    }
                    Err(e) => {
                        q.end = Some(e.map_or(Ok(()), Err));
                        cv.notify_all();
                        break;
                    }
                }
                cv.notify_all();
            }
            // The producer's destructor runs here, in the plugin.
            drop(source);
            let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
            q.finished = true;
            cv.notify_all();
        };
        if let Err(e) = std::thread::Builder::new()
            .name("fidius-stream".into())
            .spawn(run)
        {
            let (lock, _) = &*shared;
            lock.lock().unwrap_or_else(|p| p.into_inner()).end = Some(Err(WireCallError::Other(
                format!("could not start the stream's producer thread: {e}"),
            )));
        }
        Self { shared }
    }

    /// Waits for at least one item or the end, then takes what is queued
    /// (and the end, once the queue is drained).
    fn take(&self) -> (Vec<Vec<u8>>, Option<Result<(), WireCallError>>) {
        let (lock, cv) = &*self.shared;
        let q = lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut q = cv
            .wait_while(q, |q| q.items.is_empty() && q.end.is_none())
            .unwrap_or_else(|p| p.into_inner());
        let batch: Vec<Vec<u8>> = q.items.drain(..).collect();
        q.bytes = 0;
        let end = q.end.take();
        cv.notify_all();
        (batch, end)
    }

    /// Stops the producer and drops the plugin's stream, waiting briefly so
    /// the destructor has run before the next request (unless the producer
    /// is stuck inside the plugin).
    fn close(self) {
        let (lock, cv) = &*self.shared;
        let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
        q.closed = true;
        cv.notify_all();
        let _ = cv
            .wait_timeout_while(q, std::time::Duration::from_millis(500), |q| !q.finished)
            .unwrap_or_else(|p| p.into_inner());
    }
}
