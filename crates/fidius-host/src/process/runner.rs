//! The child side of the process tier: a runner loads one plugin from the
//! sealed library memfd the host passed, then answers calls on the channel.
//!
//! Two ways in: the small `fidius-runner` binary (its `main` calls
//! [`runner_main`]), or any executable that links fidius-host, re-executed by
//! the host with [`RUNNER_ENV`] set — an `.init_array` hook enters the
//! runner before `main`, so a host needs no separate binary.

use super::frame::{
    self, Summary, ToChild, ToHost, WireCallError, WireLoadError, LIBRARY_ENV, RUNNER_ENV,
    SELF_RUNNER_ENV,
};
use crate::executor::{CdylibExecutor, PluginExecutor};
use crate::stream::RawItem;
use fidius_core::MethodKind;
use std::io::{self, Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Serves one plugin to the host that started this process, then exits.
///
/// Call it first thing in `main` of a dedicated runner binary; it never
/// returns. The process must have been started by a fidius host (which
/// names the channel and library descriptors in the environment); otherwise
/// it exits with status 64.
pub fn runner_main() -> ! {
    let library = env_fd(LIBRARY_ENV).unwrap_or(-1);
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

struct Conn {
    sock: UnixStream,
    /// Reads of the main loop, buffered (a request usually arrives in one
    /// read). Only the host's answers to a client-stream pull bypass it,
    /// and the host sends those only while the main loop is inside the call.
    reader: io::BufReader<UnixStream>,
    out: Vec<u8>,
}

impl Conn {
    fn send(&mut self, msg: &ToHost<'_>) -> io::Result<()> {
        frame::encode(msg, &mut self.out).map_err(io::Error::other)?;
        self.sock.write_all(&self.out)
    }

    /// One frame's payload, or `None` when the host closed the channel.
    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<()>> {
        let mut header = [0u8; 4];
        match self.reader.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let len = frame::frame_len(header).map_err(io::Error::other)?;
        buf.clear();
        buf.resize(len, 0);
        self.reader.read_exact(buf)?;
        Ok(Some(()))
    }
}

/// Environment variable of the fault-injection test hook: `wrong-id`,
/// `garbage` or `truncated` makes the runner answer unary calls that way, so
/// tests can prove the host survives a child that breaks the protocol. Not
/// a public API.
const FAULT_ENV: &str = "FIDIUS_RUNNER_FAULT";

/// Answers call `id` the way `fault` says a broken child would.
fn inject(conn: &mut Conn, fault: &str, id: u64) -> io::Result<()> {
    match fault {
        "wrong-id" => conn.send(&ToHost::Reply {
            id: id + 1000,
            result: Ok(&[]),
        }),
        "garbage" => conn
            .sock
            .write_all(&[8, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]),
        "truncated" => {
            conn.sock.write_all(&[100, 0, 0, 0, 1, 2, 3])?;
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
    let mut conn = Conn {
        reader: io::BufReader::new(sock.try_clone()?),
        sock,
        out: Vec::new(),
    };
    let mut inbuf = Vec::new();
    if conn.recv(&mut inbuf)?.is_none() {
        return Ok(());
    }
    let exec = match frame::decode::<ToChild<'_>>(&inbuf) {
        Ok(ToChild::Hello {
            magic,
            protocol,
            build,
            label,
            plugin,
            config,
        }) if magic == frame::MAGIC && protocol == frame::PROTOCOL && build == frame::BUILD => {
            if plugin.is_empty() {
                let listing = list(library, &label);
                conn.send(&match listing {
                    Ok(l) => ToHost::Listing(l),
                    Err(e) => ToHost::LoadFailed(e),
                })?;
                return Ok(());
            }
            match load(library, &label, &plugin, config.as_deref()) {
                Ok(exec) => Box::new(exec) as Box<dyn PluginExecutor>,
                Err(e) => {
                    conn.send(&ToHost::LoadFailed(e))?;
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
                    conn.send(&ToHost::LoadFailed(e))?;
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
            conn.send(&ToHost::LoadFailed(WireLoadError::Protocol {
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
            conn.send(&ToHost::LoadFailed(WireLoadError::Protocol {
                message: format!(
                    "the host's first message is not a hello this runner (fidius-host {}, protocol {}) understands",
                    frame::BUILD,
                    frame::PROTOCOL
                ),
            }))?;
            return Ok(());
        }
    };
    conn.send(&ToHost::Ready {
        magic: frame::MAGIC,
        protocol: frame::PROTOCOL,
        summary: Box::new(summary(&*exec)),
    })?;
    // Test hook: a runner that breaks the protocol on purpose (see `inject`).
    let fault = std::env::var(FAULT_ENV).ok();
    std::env::remove_var(FAULT_ENV);
    let mut result = Vec::new();
    let mut streams: std::collections::HashMap<u64, Producer> = std::collections::HashMap::new();
    while conn.recv(&mut inbuf)?.is_some() {
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
                    inject(&mut conn, fault, id)?;
                    continue;
                }
                conn.send(&ToHost::Reply {
                    id,
                    result: outcome.map(|()| result.as_slice()).map_err(Into::into),
                })?;
                if result.capacity() > 4 << 20 {
                    result = Vec::new();
                }
            }
            ToChild::OpenStream { id, method, input } => {
                let outcome = exec
                    .call_server_stream(method as usize, input)
                    .map(|source| {
                        streams.insert(id, Producer::start(source));
                    });
                conn.send(&ToHost::Reply {
                    id,
                    result: outcome.map(|()| &[][..]).map_err(Into::into),
                })?;
            }
            ToChild::Pull { id, stream } => {
                let Some(producer) = streams.get(&stream) else {
                    conn.send(&ToHost::Items {
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
                conn.send(&ToHost::Items { id, items, end })?;
                if ended {
                    streams.remove(&stream);
                }
            }
            ToChild::CloseStream { stream } => {
                if let Some(producer) = streams.remove(&stream) {
                    producer.close();
                }
            }
            ToChild::CallClientStream { id, method, input } => {
                let active = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
                let remote = RemoteInput {
                    sock: conn.sock.try_clone()?,
                    id,
                    active: std::sync::Arc::clone(&active),
                    inbuf: Vec::new(),
                    out: Vec::new(),
                    done: false,
                };
                // SAFETY: a fresh producer handle, owned by the OwnedStreamHandle.
                let handle = unsafe {
                    crate::stream::OwnedStreamHandle::from_raw(
                        fidius_core::stream_ffi::producer_handle_encoded(remote),
                    )
                };
                result.clear();
                let outcome = exec.call_client_stream(method as usize, handle, input, &mut |b| {
                    result.extend_from_slice(b);
                    Ok(())
                });
                // The host's items end with the call: a stream the plugin kept
                // must not touch the channel afterwards.
                active.store(false, std::sync::atomic::Ordering::SeqCst);
                conn.send(&ToHost::Reply {
                    id,
                    result: outcome.map(|()| result.as_slice()).map_err(Into::into),
                })?;
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
                conn.send(&ToHost::Reply {
                    id,
                    result: outcome.map(|()| result.as_slice()).map_err(Into::into),
                })?;
            }
            ToChild::Hello { .. } | ToChild::HelloPython { .. } => {
                return Err(io::Error::other("a second hello"))
            }
        }
    }
    // Streams first: they may point into the instance.
    for (_, producer) in streams.drain() {
        producer.close();
    }
    // The host is gone or done: destroy the instance and exit.
    drop(exec);
    Ok(())
}

/// A value-shaped call: JSON arguments in, the result as JSON into `out`.
fn call_value(
    exec: &dyn PluginExecutor,
    method: usize,
    args_json: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), crate::CallError> {
    let args: serde_json::Value = serde_json::from_slice(args_json)
        .map_err(|e| crate::CallError::Serialization(format!("arguments from the host: {e}")))?;
    exec.call_value(method, &args, &mut |de| {
        let value: serde_json::Value = erased_serde::deserialize(de)
            .map_err(|e| crate::CallError::Deserialization(e.to_string()))?;
        serde_json::to_writer(&mut *out, &value)
            .map_err(|e| crate::CallError::Serialization(e.to_string()))
    })
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
) -> Result<CdylibExecutor, WireLoadError> {
    let other = |e: crate::LoadError| WireLoadError::Other {
        message: e.to_string(),
    };
    let bytes = library_bytes(library)?;
    let lib = crate::loader::load_library_checked(Path::new(label), &bytes).map_err(other)?;
    let available: Vec<String> = lib.plugins.iter().map(|p| p.info.name.clone()).collect();
    let Some(found) = lib.plugins.into_iter().find(|p| p.info.name == plugin) else {
        return Err(WireLoadError::NotFound { available });
    };
    let made = match config {
        None => CdylibExecutor::try_from_loaded(found),
        Some(c) => CdylibExecutor::try_from_loaded_with_config(found, c),
    };
    made.map_err(|e| match e {
        crate::LoadError::ConstructFailed { reason, .. } => {
            WireLoadError::ConstructFailed { reason }
        }
        e => other(e),
    })
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

/// The host's items of a client-streaming call, pulled over the channel one
/// per `next` while the call runs (on the call's thread: the main loop is
/// inside the call and does not read the channel meanwhile).
struct RemoteInput {
    sock: UnixStream,
    id: u64,
    active: std::sync::Arc<std::sync::atomic::AtomicBool>,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    done: bool,
}

impl RemoteInput {
    fn exchange(&mut self) -> io::Result<Option<Result<Vec<u8>, fidius_core::PluginError>>> {
        frame::encode(&ToHost::PullInput { id: self.id }, &mut self.out)
            .map_err(io::Error::other)?;
        (&self.sock).write_all(&self.out)?;
        let mut header = [0u8; 4];
        (&self.sock).read_exact(&mut header)?;
        let len = frame::frame_len(header).map_err(io::Error::other)?;
        self.inbuf.clear();
        self.inbuf.resize(len, 0);
        (&self.sock).read_exact(&mut self.inbuf)?;
        match frame::decode::<ToChild<'_>>(&self.inbuf).map_err(io::Error::other)? {
            ToChild::Input { id, step } if id == self.id => Ok(step.map(|r| {
                r.map(<[u8]>::to_vec).map_err(|e| match e {
                    WireCallError::Plugin(p) => p,
                    other => fidius_core::PluginError::new(
                        "HOST_STREAM_FAILED",
                        crate::CallError::from(other).to_string(),
                    ),
                })
            })),
            _ => Err(io::Error::other(
                "the host answered a stream pull with another message",
            )),
        }
    }
}

impl Iterator for RemoteInput {
    type Item = Result<Vec<u8>, fidius_core::PluginError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if !self.active.load(std::sync::atomic::Ordering::SeqCst) {
            self.done = true;
            return Some(Err(fidius_core::PluginError::new(
                "STREAM_CLOSED",
                "the host's items end with the call they were passed to",
            )));
        }
        match self.exchange() {
            Ok(Some(Ok(item))) => Some(Ok(item)),
            Ok(Some(Err(e))) => {
                self.done = true;
                Some(Err(e))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                // The channel is broken: nothing more can be said to the host.
                eprintln!("fidius runner: the host's stream failed: {e}");
                std::process::exit(70);
            }
        }
    }
}
