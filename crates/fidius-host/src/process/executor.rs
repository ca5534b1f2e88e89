//! [`ProcessExecutor`]: the host side of one process-isolated plugin — the
//! handshake, calls with deadlines and cancellation, and restarts.

use super::child::{Child, Ended, SpawnSpec, Stop};
use super::frame::{self, HostSpec, Summary, ToChild, ToHost, WireCallError, WireLoadError};
use super::ProcessOptions;
use crate::error::{CallError, LoadError, ProcessDeath};
use crate::executor::{CallLimits, CancelHandle, OutputSink, PluginExecutor};
use crate::info::{PluginInfo, PluginRuntimeKind};
use fidius_core::stream_ffi::StreamPuller;
use fidius_core::MethodKind;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a child that closed its channel may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_millis(500);
/// How long to wait for a dead child's stderr to end (it usually has already).
const STDERR_WAIT: Duration = Duration::from_secs(1);

/// What a child is started from (kept for restarts).
struct Spec {
    program: PathBuf,
    is_self: bool,
    /// The sealed library (cdylib plugins).
    library: Option<OwnedFd>,
    label: String,
    plugin: String,
    config: Option<Vec<u8>>,
    /// A Python plugin instead of a cdylib one.
    python: Option<frame::PythonTarget>,
    /// Kept alive as long as children may be started (the private copy of
    /// a Python package).
    _keep: Option<Box<dyn std::any::Any + Send + Sync>>,
    opts: ProcessOptions,
    /// Host interfaces bound so far, in binding order (a child's `HostCall`
    /// names one by its index here); every restart binds them again.
    hosts: Mutex<Vec<BoundHost>>,
}

thread_local! {
    /// The plugins (by the address of their `Spec`) whose host functions
    /// this thread is running for their child right now.
    static SERVING: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Marks a host function running on this thread for the child of `spec`.
struct Serving(usize);

impl Serving {
    fn enter(spec: &Spec) -> Self {
        let key = spec as *const Spec as usize;
        SERVING.with(|s| s.borrow_mut().push(key));
        Self(key)
    }

    /// Whether this thread is inside a host function of `spec`'s child.
    fn within(spec: &Spec) -> bool {
        let key = spec as *const Spec as usize;
        SERVING.with(|s| s.borrow().contains(&key))
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        SERVING.with(|s| {
            let mut s = s.borrow_mut();
            if let Some(i) = s.iter().rposition(|&k| k == self.0) {
                s.remove(i);
            }
        });
    }
}

/// A host interface bound for a process-isolated plugin: the host's own
/// function table runs the calls the child forwards.
struct BoundHost {
    spec: HostSpec,
    table: &'static fidius_core::host_ffi::HostFunctionTable,
}

impl Spec {
    /// The runner, as messages name it.
    fn runner_label(&self) -> String {
        match &self.opts.remote {
            Some(r) => format!("remote runner {}", r.endpoint),
            None => format!("runner {}", self.program.display()),
        }
    }

    fn host_specs(&self) -> Vec<HostSpec> {
        let hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts.iter().map(|h| h.spec.clone()).collect()
    }

    /// Runs host function `function` of bound interface `host` for the
    /// child, and encodes the answer to its call `call` into `buf`.
    fn host_reply(
        &self,
        call: u64,
        host: u32,
        function: u32,
        input: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<(), String> {
        use fidius_core::status::{STATUS_INVALID_INDEX, STATUS_SERIALIZATION_ERROR};
        let table = {
            let hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
            hosts.get(host as usize).map(|h| h.table)
        };
        let (status, output) = match table {
            None => (STATUS_INVALID_INDEX, Vec::new()),
            Some(table) => {
                let _serving = Serving::enter(self);
                // SAFETY: a table the generated binding built, recorded when
                // the child accepted it, never freed.
                unsafe { fidius_core::host_ffi::call_host_raw(table, function, input) }
                    .unwrap_or((STATUS_SERIALIZATION_ERROR, Vec::new()))
            }
        };
        frame::encode(
            &ToChild::HostReply {
                id: call,
                status,
                output: &output,
            },
            buf,
        )
    }
}

struct State {
    child: Option<Child>,
    /// Counts children started; a stream belongs to one generation.
    generation: u64,
    next_id: u64,
    failures: u32,
    last_failure: Option<Instant>,
    frame: Vec<u8>,
    /// The host's side of the inputs of open bidirectional streams, by
    /// stream id (they end with the child).
    inputs: std::collections::HashMap<u64, HostInput>,
}

/// Cancellation of the calls in progress on one handle: an eventfd the
/// waiting call polls, armed only while a call is in progress.
struct Cancel {
    fd: OwnedFd,
    /// Calls in progress (waiting for the lock, starting a child, or waiting
    /// for the answer).
    calls: AtomicUsize,
    /// Serializes firing against clearing, so a cancel is never lost or
    /// left over for a later call.
    gate: Mutex<()>,
}

impl Cancel {
    fn new() -> std::io::Result<Self> {
        // SAFETY: eventfd with valid flags returns a new descriptor.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self {
            // SAFETY: `fd` is new and owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            calls: AtomicUsize::new(0),
            gate: Mutex::new(()),
        })
    }

    fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Stops every call in progress; does nothing when there is none.
    fn fire(&self) {
        let _g = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        if self.calls.load(Ordering::SeqCst) > 0 {
            let one = 1u64.to_ne_bytes();
            // SAFETY: writing 8 bytes from a local buffer to our eventfd.
            unsafe { libc::write(self.raw(), one.as_ptr().cast(), 8) };
        }
    }

    fn enter(&self) {
        let _g = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        self.calls.fetch_add(1, Ordering::SeqCst);
    }

    /// The last call to leave disarms a cancel that is still pending.
    fn leave(&self) {
        let _g = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        if self.calls.fetch_sub(1, Ordering::SeqCst) == 1 {
            let mut buf = [0u8; 8];
            // SAFETY: reading 8 bytes into a local buffer (non-blocking).
            unsafe { libc::read(self.raw(), buf.as_mut_ptr().cast(), 8) };
        }
    }
}

/// Leaves the cancel scope when a call ends, however it ends.
struct InProgress<'a>(&'a Cancel);

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// A cdylib plugin served by a runner child process. Calls are serialized
/// (one in flight per child); a call past its deadline, a cancelled call, a
/// crash or a protocol violation ends the child, and the next call starts
/// a fresh one (configured again with the same config).
pub struct ProcessExecutor {
    inner: Arc<Inner>,
}

/// Everything a process-isolated plugin's handle and its open streams share.
struct Inner {
    info: PluginInfo,
    summary: Summary,
    kinds: Vec<Option<MethodKind>>,
    spec: Spec,
    state: Mutex<State>,
    limits: Mutex<CallLimits>,
    cancel: Arc<Cancel>,
    /// Pid of the running child (0: none).
    pid: AtomicU32,
    /// Serializes host-interface bindings (each takes the next index).
    binding: Mutex<()>,
    /// Streams dropped while their plugin's lock was held by this thread
    /// (inside a host function or a host input): closed by the next request.
    deferred: Mutex<Vec<Deferred>>,
}

/// A stream whose close waits for the next request.
struct Deferred {
    generation: u64,
    stream: u64,
    input: bool,
    open_in_child: bool,
}

impl std::fmt::Debug for ProcessExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessExecutor")
            .field("info", &self.inner.info)
            .field("runner", &self.inner.spec.program)
            .finish()
    }
}

/// Why starting a child failed (before a handle exists, or on a restart).
pub(crate) enum StartError {
    /// The library has no plugin of that name.
    NotFound,
    /// The runner is from another fidius-host release, or broke the handshake.
    Runner(String),
    /// The call that needed the child ran out of time or was cancelled.
    Stopped(Stop),
    /// Not a failure: the answer to a listing request (plugin name "").
    Listing(Vec<frame::Listed>),
    /// Anything else, as a load error.
    Load(LoadError),
}

fn start_error(msg: String) -> StartError {
    StartError::Load(LoadError::ProcessStart(msg))
}

/// How `ended` died, from its status and what it wrote to stderr during the call.
fn classify(ended: &Ended, stderr: &str) -> ProcessDeath {
    let Some(status) = ended.status else {
        return match &ended.lost {
            Some(reason) => ProcessDeath::Disconnected {
                reason: reason.clone(),
            },
            None => ProcessDeath::Unknown,
        };
    };
    match (status.signal(), status.code()) {
        (Some(sig), _)
            if matches!(sig, libc::SIGSEGV | libc::SIGBUS | libc::SIGABRT)
                && stderr.contains("has overflowed its stack") =>
        {
            ProcessDeath::StackOverflow
        }
        (Some(signal), _) => ProcessDeath::Signal {
            signal,
            name: super::signal_name(signal),
        },
        (None, Some(code)) => ProcessDeath::Exited { code },
        _ => ProcessDeath::Unknown,
    }
}

/// Ends `child` and says how it died, with its stderr since `mark`.
fn death_of(child: Child, mark: u64) -> (Ended, ProcessDeath, String) {
    let tail = Arc::clone(&child.tail);
    let ended = child.finish(EXIT_GRACE);
    let stderr = tail.text_since(mark, STDERR_WAIT);
    let death = classify(&ended, &stderr);
    (ended, death, stderr)
}

/// Starts a child for `spec` and completes the handshake by `until` (the
/// handshake timeout, or the deadline of the call that needs the child if
/// that comes first: `call_until`), stopping early if `cancel` fires.
fn start(
    spec: &Spec,
    call_until: Option<Instant>,
    cancel: Option<RawFd>,
) -> Result<(Child, Summary), StartError> {
    let spawn = SpawnSpec {
        program: &spec.program,
        is_self: spec.is_self,
        library: spec.library.as_ref(),
        env: &spec.opts.env,
        max_memory: spec.opts.max_memory,
        cpu_time: spec.opts.cpu_time,
        plugin: &spec.plugin,
        cgroup: &spec.opts.cgroup,
    };
    let runner = spec.runner_label();
    let spawned = match &spec.opts.remote {
        None => Child::spawn(&spawn),
        #[cfg(feature = "remote")]
        Some(remote) => super::remote::connect(remote, &spawn),
        #[cfg(not(feature = "remote"))]
        Some(_) => Err(std::io::Error::other(
            "fidius-host was built without its `remote` feature",
        )),
    };
    let mut child =
        spawned.map_err(|e| start_error(format!("could not start the {runner}: {e}")))?;
    let mut buf = Vec::new();
    let hello = match &spec.python {
        None => ToChild::Hello {
            magic: frame::MAGIC,
            protocol: frame::PROTOCOL,
            build: frame::BUILD.to_owned(),
            label: spec.label.clone(),
            plugin: spec.plugin.clone(),
            config: spec.config.clone(),
            hosts: spec.host_specs(),
        },
        Some(python) => ToChild::HelloPython {
            magic: frame::MAGIC,
            protocol: frame::PROTOCOL,
            build: frame::BUILD.to_owned(),
            python: Box::new(python.clone()),
        },
    };
    frame::encode(&hello, &mut buf).map_err(start_error)?;
    let handshake_until = Instant::now() + spec.opts.handshake_timeout;
    let until = match call_until {
        Some(c) if c < handshake_until => c,
        _ => handshake_until,
    };
    let fail = |child: Child, what: String| -> StartError {
        let (_, death, stderr) = death_of(child, 0);
        let stderr = if stderr.is_empty() {
            String::new()
        } else {
            format!("; its stderr ended with: {stderr}")
        };
        StartError::Runner(format!("the {runner} {what} ({death}){stderr}"))
    };
    // A runner that closed its end early may still have said something: read it.
    let got = match child.channel.send(&buf, Some(until), cancel) {
        Ok(()) | Err(Stop::Closed) => loop {
            // The plugin's constructor may call host functions bound at hello.
            let payload = match child.channel.recv(Some(until), cancel, spec.opts.max_frame) {
                Ok(p) => p,
                Err(stop) => break Err(stop),
            };
            let Ok(ToHost::HostCall {
                id,
                host,
                function,
                input,
            }) = frame::decode::<ToHost<'_>>(payload)
            else {
                break Ok(payload.to_vec());
            };
            if let Err(e) = spec.host_reply(id, host, function, input, &mut buf) {
                break Err(Stop::Protocol(e));
            }
            if let Err(stop) = child.channel.send(&buf, Some(until), cancel) {
                break Err(stop);
            }
        },
        Err(stop) => Err(stop),
    };
    let payload = match got {
        Ok(p) => p,
        Err(stop @ (Stop::Timeout | Stop::Cancelled))
            if until != handshake_until || matches!(stop, Stop::Cancelled) =>
        {
            child.kill();
            drop(child);
            return Err(StartError::Stopped(stop));
        }
        Err(Stop::Timeout) => {
            let what = format!(
                "did not answer the handshake within {:?}",
                spec.opts.handshake_timeout
            );
            child.kill();
            return Err(fail(child, what));
        }
        Err(Stop::Closed) => return Err(fail(child, "exited before the handshake".into())),
        Err(Stop::Protocol(m)) => {
            child.kill();
            return Err(fail(child, format!("broke the handshake: {m}")));
        }
        Err(Stop::Io(e)) => {
            child.kill();
            return Err(fail(child, format!("handshake failed: {e}")));
        }
        Err(Stop::Cancelled) => unreachable!("handled above"),
    };
    match frame::decode::<ToHost<'_>>(&payload) {
        Ok(ToHost::Ready {
            magic,
            protocol,
            summary,
        }) if magic == frame::MAGIC && protocol == frame::PROTOCOL => Ok((child, *summary)),
        Ok(ToHost::Listing(listing)) => {
            let _ = child.finish(EXIT_GRACE);
            Err(StartError::Listing(listing))
        }
        Ok(ToHost::LoadFailed(e)) => {
            let _ = child.finish(EXIT_GRACE);
            Err(match e {
                WireLoadError::NotFound { .. } => StartError::NotFound,
                WireLoadError::ConstructFailed { reason } => {
                    StartError::Load(LoadError::ConstructFailed {
                        plugin: spec.plugin.clone(),
                        reason,
                    })
                }
                WireLoadError::Protocol { message } => {
                    StartError::Runner(format!("the {runner} cannot serve this host: {message}"))
                }
                other => match other.host_binding() {
                    Ok(e) => StartError::Load(e),
                    Err(WireLoadError::Other { message })
                    | Err(WireLoadError::Protocol { message }) => start_error(format!(
                        "the runner could not load {}: {message}",
                        spec.label
                    )),
                    Err(e) => {
                        start_error(format!("the runner could not load {}: {e:?}", spec.label))
                    }
                },
            })
        }
        Ok(_) => {
            child.kill();
            Err(fail(
                child,
                "answered the handshake with another message".into(),
            ))
        }
        Err(e) => {
            child.kill();
            Err(fail(
                child,
                format!("answered the handshake with garbage: {e}"),
            ))
        }
    }
}

/// The plugins a library declares, read by a runner child (nothing runs in
/// the host; nothing is constructed).
pub(crate) fn list_library(
    label: String,
    library: &[u8],
    opts: &ProcessOptions,
) -> Result<Vec<PluginInfo>, LoadError> {
    let (program, is_self) = super::resolve_runner(opts).map_err(LoadError::ProcessStart)?;
    let spec = Spec {
        program,
        is_self,
        library: Some(crate::mapping::sealed_memfd("listing", library).map_err(LoadError::Io)?),
        label,
        plugin: String::new(),
        config: None,
        python: None,
        _keep: None,
        opts: opts.clone(),
        hosts: Mutex::default(),
    };
    match start(&spec, None, None) {
        Err(StartError::Listing(listing)) => Ok(listing
            .iter()
            .filter_map(|l| l.info(PluginRuntimeKind::Cdylib).ok())
            .collect()),
        Ok((child, _)) => {
            drop(child);
            Err(LoadError::ProcessStart(
                "the runner served a plugin instead of listing the library".into(),
            ))
        }
        Err(StartError::Load(e)) => Err(e),
        Err(StartError::Runner(m)) => Err(LoadError::ProcessStart(m)),
        Err(StartError::NotFound | StartError::Stopped(_)) => Err(LoadError::ProcessStart(
            "the runner did not list the library".into(),
        )),
    }
}

impl ProcessExecutor {
    /// Starts the plugin `plugin` of a library whose exact (already
    /// verified) bytes are `library`, in a child process.
    pub(crate) fn start(
        label: String,
        library: &[u8],
        plugin: &str,
        config: Option<Vec<u8>>,
        opts: ProcessOptions,
    ) -> Result<Self, StartError> {
        let (program, is_self) = super::resolve_runner(&opts).map_err(start_error)?;
        let name = std::path::Path::new(&label)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let library = crate::mapping::sealed_memfd(&name, library)
            .map_err(|e| StartError::Load(LoadError::Io(e)))?;
        let spec = Spec {
            program,
            is_self,
            library: Some(library),
            label,
            plugin: plugin.to_owned(),
            config,
            python: None,
            _keep: None,
            opts,
            hosts: Mutex::default(),
        };
        Self::start_spec(spec)
    }

    /// Starts Python plugin `python` (a verified package's private copy,
    /// kept alive by `keep`) in a child process.
    #[cfg(feature = "python")]
    pub(crate) fn start_python(
        python: frame::PythonTarget,
        keep: Box<dyn std::any::Any + Send + Sync>,
        opts: ProcessOptions,
    ) -> Result<Self, StartError> {
        let (program, is_self) = super::resolve_runner(&opts).map_err(start_error)?;
        let spec = Spec {
            program,
            is_self,
            library: None,
            label: python.shown.clone(),
            plugin: python.package_name.clone(),
            config: None,
            python: Some(python),
            _keep: Some(keep),
            opts,
            hosts: Mutex::default(),
        };
        Self::start_spec(spec)
    }

    fn start_spec(mut spec: Spec) -> Result<Self, StartError> {
        let started = match start(&spec, None, None) {
            // A `fidius-runner` found next to the executable that cannot serve
            // this host (another release, a broken build): this executable is
            // a runner of exactly its own release.
            Err(StartError::Runner(m))
                if spec.opts.runner.is_none() && spec.opts.remote.is_none() && !spec.is_self =>
            {
                tracing::warn!("{m}; running the plugin with the current executable instead");
                spec.program =
                    std::env::current_exe().map_err(|e| StartError::Load(LoadError::Io(e)))?;
                spec.is_self = true;
                start(&spec, None, None)?
            }
            other => other?,
        };
        Self::finish_start(spec, started)
    }

    fn finish_start(spec: Spec, (child, summary): (Child, Summary)) -> Result<Self, StartError> {
        let runtime = if summary.runtime == frame::RUNTIME_PYTHON {
            PluginRuntimeKind::Python
        } else {
            PluginRuntimeKind::Cdylib
        };
        let info = summary
            .plugin
            .info(runtime)
            .map_err(|v| StartError::Load(LoadError::UnknownBufferStrategy { value: v }))?;
        let kinds = summary
            .kinds
            .iter()
            .map(|k| k.as_deref().and_then(MethodKind::parse))
            .collect();
        let limits = CallLimits {
            deadline: spec.opts.deadline,
            ..CallLimits::default()
        };
        let pid = AtomicU32::new(child.pid);
        let inner = Inner {
            info,
            summary,
            kinds,
            spec,
            state: Mutex::new(State {
                child: Some(child),
                generation: 1,
                next_id: 1,
                failures: 0,
                last_failure: None,
                frame: Vec::new(),
                inputs: Default::default(),
            }),
            limits: Mutex::new(limits),
            cancel: Arc::new(Cancel::new().map_err(|e| StartError::Load(LoadError::Io(e)))?),
            pid,
            binding: Mutex::new(()),
            deferred: Mutex::default(),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The process id of the current child, if one is running (never waits
    /// for a call in progress).
    pub fn child_pid(&self) -> Option<u32> {
        Some(self.inner.pid.load(Ordering::SeqCst)).filter(|&p| p != 0)
    }

    /// The options this plugin runs under.
    pub fn options(&self) -> &ProcessOptions {
        &self.inner.spec.opts
    }
}

impl Inner {
    fn deadline(&self) -> Option<Duration> {
        crate::executor::scoped_deadline().or(self
            .limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .deadline)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check(&self, index: usize, attempted: MethodKind) -> Result<(), CallError> {
        crate::executor::check_call(
            index,
            self.summary.method_count,
            self.kinds.get(index).copied().flatten(),
            attempted,
        )
    }

    fn fail(&self, st: &mut State) {
        st.failures = st.failures.saturating_add(1);
        st.last_failure = Some(Instant::now());
    }

    /// Waits until `at` (the end of a backoff), or fails early with the
    /// call's deadline or a cancellation.
    fn wait_backoff(
        &self,
        at: Instant,
        until: Option<Instant>,
        deadline: Option<Duration>,
    ) -> Result<(), CallError> {
        loop {
            let now = Instant::now();
            if now >= at {
                return Ok(());
            }
            let stop_at = match until {
                Some(u) if u < at => u,
                _ => at,
            };
            let ms = stop_at
                .saturating_duration_since(now)
                .as_millis()
                .min(i32::MAX as u128) as i32;
            let mut pfd = libc::pollfd {
                fd: self.cancel.raw(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, ms.max(1)) };
            if n > 0 {
                return Err(CallError::Cancelled);
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                return Err(CallError::Timeout {
                    deadline: deadline.unwrap_or_default(),
                });
            }
        }
    }

    /// The running child, starting one (after the backoff) if there is none.
    fn ensure_child(
        &self,
        st: &mut State,
        until: Option<Instant>,
        deadline: Option<Duration>,
    ) -> Result<(), CallError> {
        if st.child.is_some() {
            return Ok(());
        }
        let policy = self.spec.opts.restart;
        if st.failures >= policy.max_failures {
            return Err(CallError::RestartLimitReached {
                failures: st.failures,
            });
        }
        if let Some(at) = st.last_failure {
            self.wait_backoff(at + policy.backoff(st.failures), until, deadline)?;
        }
        match start(&self.spec, until, Some(self.cancel.raw())) {
            Ok((child, summary))
                if summary.plugin.interface_hash == self.summary.plugin.interface_hash =>
            {
                self.pid.store(child.pid, Ordering::SeqCst);
                st.child = Some(child);
                st.generation += 1;
                Ok(())
            }
            Ok((child, _)) => {
                drop(child);
                self.fail(st);
                Err(CallError::ProcessStart(
                    "the restarted plugin reports another interface".into(),
                ))
            }
            Err(StartError::Stopped(Stop::Cancelled)) => Err(CallError::Cancelled),
            Err(StartError::Stopped(_)) => {
                self.fail(st);
                Err(CallError::Timeout {
                    deadline: deadline.unwrap_or_default(),
                })
            }
            Err(e) => {
                self.fail(st);
                Err(CallError::ProcessStart(match e {
                    StartError::NotFound => "the plugin is no longer in its library".into(),
                    StartError::Runner(m) => m,
                    StartError::Load(e) => e.to_string(),
                    StartError::Stopped(_) => unreachable!("handled above"),
                    StartError::Listing(_) => "the runner listed the library instead".into(),
                }))
            }
        }
    }

    /// Ends the current child after a failed call and says why; `mark` is
    /// where this call's stderr began.
    fn end_child(
        &self,
        st: &mut State,
        stop: Stop,
        deadline: Option<Duration>,
        mark: u64,
    ) -> CallError {
        let mut child = st.child.take().expect("a call has a child");
        self.pid.store(0, Ordering::SeqCst);
        // The child's streams ended with it, and with them their inputs.
        let inputs = std::mem::take(&mut st.inputs);
        {
            let _serving = Serving::enter(&self.spec);
            drop(inputs);
        }
        // Cancelling is the caller's decision, not the plugin's failure.
        if !matches!(stop, Stop::Cancelled) {
            self.fail(st);
        }
        match stop {
            Stop::Timeout => {
                child.kill();
                drop(child);
                CallError::Timeout {
                    deadline: deadline.unwrap_or_default(),
                }
            }
            Stop::Cancelled => {
                child.kill();
                drop(child);
                CallError::Cancelled
            }
            Stop::Closed => self.died(child, mark),
            Stop::Protocol(m) => {
                child.kill();
                let _ = child.finish(EXIT_GRACE);
                CallError::ProcessProtocol(m)
            }
            Stop::Io(e) => {
                child.kill();
                drop(child);
                CallError::ProcessProtocol(format!("the channel failed: {e}"))
            }
        }
    }

    /// Classifies the death of a child that closed its channel mid-call.
    fn died(&self, child: Child, mark: u64) -> CallError {
        let (ended, death, stderr) = death_of(child, mark);
        let opts = &self.spec.opts;
        if let (Some(limit), true) = (opts.max_memory, ended.oom_killed) {
            // Killed by the kernel at its cgroup's memory.max.
            return CallError::MemoryLimitExceeded { limit };
        }
        if let (Some(limit), ProcessDeath::Signal { signal, .. }) = (opts.cpu_time, &death) {
            // SIGXCPU at the soft limit; SIGKILL at the hard one, a second later.
            if *signal == libc::SIGXCPU || (*signal == libc::SIGKILL && !ended.killed_by_host) {
                return CallError::CpuTimeExceeded { limit };
            }
        }
        if let (Some(limit), ProcessDeath::Signal { signal, .. }) = (opts.max_memory, &death) {
            // Rust's allocation-failure report, written during this call.
            if *signal == libc::SIGABRT
                && stderr
                    .lines()
                    .any(|l| l.starts_with("memory allocation of") && l.ends_with("failed"))
            {
                return CallError::MemoryLimitExceeded { limit };
            }
        }
        CallError::ProcessDied { death, stderr }
    }

    /// One exchange with the child: `make` builds the request from its id,
    /// `answer` reads the reply (`Err(Stop)`: the child broke the protocol;
    /// `Ok(Err(_))`: a failure the plugin reported, the child is healthy).
    /// `stream` names the child generation a stream belongs to: such a
    /// request never starts a child (the stream ended with the old one).
    fn request<'a, R>(
        &self,
        stream: Option<u64>,
        make: impl FnOnce(u64) -> ToChild<'a>,
        answer: impl FnOnce(u64, ToHost<'_>) -> Result<Result<R, CallError>, Stop>,
    ) -> Result<R, CallError> {
        self.request_in(stream, Feed::Nothing, make, answer)
            .map(|(r, _)| r)
    }

    /// [`Self::request`], also returning the generation of the child that answered.
    fn request_in<'a, R>(
        &self,
        stream: Option<u64>,
        feed: Feed<'_>,
        make: impl FnOnce(u64) -> ToChild<'a>,
        answer: impl FnOnce(u64, ToHost<'_>) -> Result<Result<R, CallError>, Stop>,
    ) -> Result<(R, u64), CallError> {
        if Serving::within(&self.spec) {
            // The child is busy with the call that is waiting for this host
            // function: it cannot serve a second call meanwhile.
            return Err(CallError::Backend {
                runtime: "process".into(),
                message: "a host function (or a host stream feeding this plugin) called back into the process-isolated plugin whose call it is serving; the child runs one call at a time, so this would never return. Call the plugin after the call returns, or through a second handle (another child)".into(),
            });
        }
        let deadline = self.deadline();
        // The deadline covers waiting for other callers, the backoff and a restart.
        let until = deadline.map(|d| Instant::now() + d);
        self.cancel.enter();
        let _in_progress = InProgress(&self.cancel);
        let mut guard = self.lock();
        let st = &mut *guard;
        self.flush_deferred(st);
        match stream {
            Some(generation) if st.child.is_none() || st.generation != generation => {
                return Err(CallError::StreamAborted)
            }
            Some(_) => {}
            None => self.ensure_child(st, until, deadline)?,
        }
        let id = st.next_id;
        st.next_id += 1;
        let (mut feeder, opens_input) = match feed {
            Feed::Nothing => (None, false),
            Feed::Call(p) => (Some(p), false),
            Feed::Stream(p) => {
                st.inputs.insert(id, p);
                (None, true)
            }
        };
        let mut frame_buf = std::mem::take(&mut st.frame);
        frame::encode(&make(id), &mut frame_buf).map_err(CallError::Serialization)?;
        let cancel = Some(self.cancel.raw());
        let child = st.child.as_mut().expect("ensured above");
        let mark = child.tail.mark();
        let sent = child.channel.send(&frame_buf, until, cancel);
        if frame_buf.capacity() <= 1 << 20 {
            st.frame = frame_buf;
        }
        if let Err(stop) = sent {
            return Err(self.end_child(st, stop, deadline, mark));
        }
        let max = self.spec.opts.max_frame;
        let mut answer = Some(answer);
        // While the answer is coming, the child may ask for stream items
        // (of this call's input, or of a bidirectional stream's) and call
        // host functions: each is served here, on the caller's thread.
        let reply = loop {
            let child = st.child.as_mut().expect("ensured above");
            let payload = match child.channel.recv(until, cancel, max) {
                Ok(p) => p,
                Err(stop) => break Err(stop),
            };
            let msg = match frame::decode::<ToHost<'_>>(payload) {
                Ok(m) => m,
                Err(e) => break Err(Stop::Protocol(format!("an undecodable answer: {e}"))),
            };
            let mut buf = std::mem::take(&mut st.frame);
            let encoded = match msg {
                ToHost::PullInput { id: input } => {
                    let puller = match feeder.as_deref_mut() {
                        Some(p) if input == id => Some(p),
                        _ => st.inputs.get_mut(&input),
                    };
                    // The host's input may call into this plugin: a typed
                    // error, not a deadlock on our own lock.
                    let _serving = Serving::enter(&self.spec);
                    let step = match puller {
                        Some(p) => p.step(),
                        None => Some(Err(WireCallError::Plugin(fidius_core::PluginError::new(
                            "STREAM_CLOSED",
                            "the host closed the stream",
                        )))),
                    };
                    frame::encode(&ToChild::Input { id: input, step }, &mut buf)
                }
                ToHost::HostCall {
                    id: call,
                    host,
                    function,
                    input,
                } => self.spec.host_reply(call, host, function, input, &mut buf),
                msg => {
                    st.frame = buf;
                    break (answer.take().expect("answered once"))(id, msg);
                }
            };
            if let Err(e) = encoded {
                st.frame = buf;
                break Ok(Err(CallError::Serialization(e)));
            }
            let child = st.child.as_mut().expect("ensured above");
            let sent = child.channel.send(&buf, until, cancel);
            st.frame = buf;
            if let Err(stop) = sent {
                break Err(stop);
            }
        };
        match reply {
            Ok(result) => {
                st.failures = 0;
                st.last_failure = None;
                if opens_input && result.is_err() {
                    let removed = st.inputs.remove(&id);
                    let _serving = Serving::enter(&self.spec);
                    drop(removed);
                }
                result.map(|r| (r, st.generation))
            }
            Err(stop) => Err(self.end_child(st, stop, deadline, mark)),
        }
    }

    /// Closes the streams whose drop was deferred ([`Inner::deferred`]).
    fn flush_deferred(&self, st: &mut State) {
        let pending = std::mem::take(&mut *self.deferred.lock().unwrap_or_else(|p| p.into_inner()));
        for d in pending {
            if d.input && st.generation == d.generation {
                let removed = st.inputs.remove(&d.stream);
                let _serving = Serving::enter(&self.spec);
                drop(removed);
            }
            if d.open_in_child {
                close_stream(st, d.generation, d.stream);
            }
        }
    }

    /// A unary or raw call.
    fn call(
        &self,
        method: usize,
        kind: MethodKind,
        input: &[u8],
        output: OutputSink<'_>,
    ) -> Result<(), CallError> {
        self.check(method, kind)?;
        let method = self.method_u32(method)?;
        self.request(
            None,
            |id| ToChild::Call {
                id,
                method,
                raw: kind == MethodKind::Raw,
                input,
            },
            |id, msg| reply_into(id, msg, output),
        )
    }

    /// Opens a server stream (no `input`) or a bidirectional one; `args`
    /// are bincode, or JSON for a value-shaped plugin.
    fn open_stream(
        self: &Arc<Self>,
        method: usize,
        kind: MethodKind,
        input: Option<HostInput>,
        args: &[u8],
    ) -> Result<crate::stream::RawStream, CallError> {
        self.check(method, kind)?;
        let method = self.method_u32(method)?;
        let values = self.info.is_python();
        let bidi = input.is_some();
        let feed = input.map_or(Feed::Nothing, Feed::Stream);
        let (stream, generation) = self.request_in(
            None,
            feed,
            |id| {
                if bidi {
                    ToChild::OpenBidi {
                        id,
                        method,
                        values,
                        input: args,
                    }
                } else {
                    ToChild::OpenStream {
                        id,
                        method,
                        values,
                        input: args,
                    }
                }
            },
            |id, msg| match msg {
                ToHost::Reply { id: got, result } if got == id => {
                    Ok(result.map(|_| id).map_err(CallError::from))
                }
                other => Err(unexpected(id, &other)),
            },
        )?;
        Ok(Box::new(ProcessStream::new(self, generation, stream, bidi)))
    }

    fn method_u32(&self, method: usize) -> Result<u32, CallError> {
        u32::try_from(method).map_err(|_| CallError::InvalidMethodIndex {
            index: method,
            count: self.summary.method_count,
        })
    }
}

/// The host's items a request passes to the child.
enum Feed<'f> {
    Nothing,
    /// The input of a client-streaming call: pulled while the call runs.
    Call(&'f mut HostInput),
    /// The input of a bidirectional stream: pulled whenever the stream's
    /// producer in the child asks, for as long as the stream is open.
    Stream(HostInput),
}

/// The host's side of a stream input: bincode items from a stream handle
/// (cdylib plugins), or values sent as JSON (value-shaped, Python, plugins).
enum HostInput {
    Wire(StreamPuller),
    Values {
        items: crate::executor::ValueItems,
        json: Vec<u8>,
    },
}

impl HostInput {
    fn values(items: crate::executor::ValueItems) -> Self {
        Self::Values {
            items,
            json: Vec::new(),
        }
    }

    /// The next item for the child (`None`: the end).
    fn step(&mut self) -> Option<Result<&[u8], WireCallError>> {
        use fidius_core::stream_ffi::Pulled;
        match self {
            Self::Wire(puller) => match puller.pull() {
                Pulled::Item(bytes) => Some(Ok(bytes)),
                Pulled::End => None,
                Pulled::Error(bytes) => Some(Err(crate::executor::cdylib::decode_plugin_error(
                    bytes,
                )
                .into())),
                Pulled::Panic(msg) => Some(Err(CallError::Panic(msg).into())),
                Pulled::Failed(code) => {
                    Some(Err(crate::executor::cdylib::status_error(code).into()))
                }
            },
            Self::Values { items, json } => match items.next()? {
                Ok(value) => {
                    json.clear();
                    match serde_json::to_writer(&mut *json, &value) {
                        Ok(()) => Some(Ok(json.as_slice())),
                        Err(e) => Some(Err(CallError::Serialization(e.to_string()).into())),
                    }
                }
                Err(e) => Some(Err(e.into())),
            },
        }
    }
}

/// Hands the `Reply` to request `id` to `output` (anything else breaks the
/// protocol; a failure the plugin reported leaves the child healthy).
fn reply_into(
    id: u64,
    msg: ToHost<'_>,
    output: OutputSink<'_>,
) -> Result<Result<(), CallError>, Stop> {
    match msg {
        ToHost::Reply { id: got, result } if got == id => {
            Ok(result.map_err(CallError::from).and_then(output))
        }
        other => Err(unexpected(id, &other)),
    }
}

/// [`reply_into`] for a value-shaped plugin: `output` deserializes the JSON reply.
fn json_reply_into(
    id: u64,
    msg: ToHost<'_>,
    output: crate::executor::ValueSink<'_>,
) -> Result<Result<(), CallError>, Stop> {
    reply_into(id, msg, &mut |bytes| {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        output(&mut <dyn erased_serde::Deserializer>::erase(&mut de))
    })
}

/// The protocol error for a reply that does not answer request `id`.
fn unexpected(id: u64, msg: &ToHost<'_>) -> Stop {
    match msg {
        ToHost::Reply { id: got, .. } | ToHost::Items { id: got, .. } => Stop::Protocol(format!(
            "the answer to request {got} arrived for request {id}"
        )),
        _ => Stop::Protocol(format!("an unexpected message arrived for request {id}")),
    }
}

/// A server (or bidirectional) stream produced in the child. The child runs
/// the producer ahead of the consumer into a small bounded queue (64 items /
/// 256 KiB), and each pull request takes what is queued, so items arrive as
/// soon as they are produced and in batches when the producer is faster. A
/// bidirectional stream's producer pulls the host's input through the
/// host's requests. The stream ends with the child that produced it.
struct ProcessStream {
    inner: Arc<Inner>,
    generation: u64,
    stream: u64,
    pending: std::collections::VecDeque<Vec<u8>>,
    end: Option<Result<(), CallError>>,
    item: Vec<u8>,
    done: bool,
    /// The host's input is registered under `stream` (bidirectional).
    input: bool,
}

impl ProcessStream {
    fn new(inner: &Arc<Inner>, generation: u64, stream: u64, input: bool) -> Self {
        Self {
            inner: Arc::clone(inner),
            generation,
            stream,
            pending: Default::default(),
            end: None,
            item: Vec::new(),
            done: false,
            input,
        }
    }

    /// Drops the host's input once the stream has ended (the consumer's
    /// input is released as soon as nobody can pull it any more).
    fn release_input(&mut self, st: &mut State) {
        if std::mem::take(&mut self.input) && st.generation == self.generation {
            // The input may itself be a stream of this plugin: its drop,
            // under our lock, defers its own close.
            let removed = st.inputs.remove(&self.stream);
            let _serving = Serving::enter(&self.inner.spec);
            drop(removed);
        }
    }

    /// Closes the stream in the child (no answer is awaited).
    fn close_in_child(&self, st: &mut State) {
        close_stream(st, self.generation, self.stream);
    }
}

/// Tells the child of `generation` (if it still runs) to drop stream `stream`.
fn close_stream(st: &mut State, generation: u64, stream: u64) {
    if st.generation != generation {
        return;
    }
    let mut buf = Vec::new();
    if frame::encode(&ToChild::CloseStream { stream }, &mut buf).is_ok() {
        if let Some(child) = st.child.as_mut() {
            let soon = Some(Instant::now() + Duration::from_secs(1));
            if child.channel.send(&buf, soon, None).is_err() {
                tracing::debug!("could not tell the plugin process to close a stream");
            }
        }
    }
}

impl crate::stream::RawSource for ProcessStream {
    fn pull(&mut self) -> crate::stream::RawItem<'_> {
        use crate::stream::RawItem;
        if self.done {
            return RawItem::End;
        }
        if self.pending.is_empty() && self.end.is_none() {
            let stream = self.stream;
            let (pending, end) = (&mut self.pending, &mut self.end);
            let got = self.inner.request(
                Some(self.generation),
                |id| ToChild::Pull { id, stream },
                |id, msg| match msg {
                    ToHost::Items {
                        id: got,
                        items,
                        end: last,
                    } if got == id => {
                        if items.is_empty() && last.is_none() {
                            return Err(Stop::Protocol("an empty batch of stream items".into()));
                        }
                        pending.extend(items.into_iter().map(<[u8]>::to_vec));
                        *end = last.map(|r| r.map_err(CallError::from));
                        Ok(Ok(()))
                    }
                    other => Err(unexpected(id, &other)),
                },
            );
            let ended = got.is_err() || self.end.is_some();
            if ended && self.input && !Serving::within(&self.inner.spec) {
                let inner = Arc::clone(&self.inner);
                self.release_input(&mut inner.lock());
            }
            if let Err(e) = got {
                self.done = true;
                return RawItem::Error(e);
            }
        }
        if let Some(item) = self.pending.pop_front() {
            self.item = item;
            return RawItem::Item(&self.item);
        }
        self.done = true;
        match self.end.take() {
            Some(Err(e)) => RawItem::Error(e),
            _ => RawItem::End,
        }
    }
}

impl Drop for ProcessStream {
    fn drop(&mut self) {
        let inner = Arc::clone(&self.inner);
        let open_in_child = !(self.done || self.end.is_some());
        if Serving::within(&inner.spec) {
            // Dropped by a host function or a host input of this plugin,
            // whose request holds the lock: the next request closes it.
            let mut d = inner.deferred.lock().unwrap_or_else(|p| p.into_inner());
            d.push(Deferred {
                generation: self.generation,
                stream: self.stream,
                input: self.input,
                open_in_child,
            });
            return;
        }
        let mut st = inner.lock();
        // The host's input goes first: the child's producer may be waiting
        // for its next item, and is told the stream closed instead.
        self.release_input(&mut st);
        // A stream that ended in the child was already removed there.
        if open_in_child {
            // Its destructor runs in the child.
            self.close_in_child(&mut st);
        }
    }
}

impl PluginExecutor for ProcessExecutor {
    fn info(&self) -> &PluginInfo {
        &self.inner.info
    }

    fn method_count(&self) -> u32 {
        self.inner.summary.method_count
    }

    fn call_raw(&self, method: usize, input: &[u8]) -> Result<Vec<u8>, CallError> {
        let mut out = Vec::new();
        self.inner.call(method, MethodKind::Raw, input, &mut |b| {
            out.extend_from_slice(b);
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
        self.inner.call(method, MethodKind::Unary, input, output)
    }

    fn call_shape(&self) -> crate::executor::CallShape {
        if self.inner.info.is_python() {
            crate::executor::CallShape::Values
        } else {
            crate::executor::CallShape::Wire
        }
    }

    fn call_value(
        &self,
        method: usize,
        args: &dyn erased_serde::Serialize,
        output: crate::executor::ValueSink<'_>,
    ) -> Result<(), CallError> {
        let inner = &self.inner;
        if !inner.info.is_python() {
            return crate::executor::call_value_over_wire(self, method, args, output);
        }
        inner.check(method, MethodKind::Unary)?;
        let method = inner.method_u32(method)?;
        let args_json = json_args(args)?;
        inner.request(
            None,
            |id| ToChild::CallValue {
                id,
                method,
                args_json: &args_json,
            },
            |id, msg| json_reply_into(id, msg, output),
        )
    }

    fn set_limits(&self, limits: CallLimits) -> Result<(), CallError> {
        if limits.fuel.is_some() || limits.max_memory.is_some() {
            return Err(CallError::Backend {
                runtime: "process".into(),
                message: "a process-isolated plugin takes only a deadline here; memory and CPU caps are ProcessOptions::max_memory and ::cpu_time (fuel is WASM-only)".into(),
            });
        }
        *self.inner.limits.lock().unwrap_or_else(|p| p.into_inner()) = limits;
        Ok(())
    }

    fn limits(&self) -> Option<CallLimits> {
        Some(*self.inner.limits.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn method_kind(&self, method: usize) -> Option<MethodKind> {
        self.inner.kinds.get(method).copied().flatten()
    }

    fn method_metadata(&self, method: u32) -> Vec<(&str, &str)> {
        self.inner
            .summary
            .method_metadata
            .get(method as usize)
            .map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
            .unwrap_or_default()
    }

    fn trait_metadata(&self) -> Vec<(&str, &str)> {
        self.inner
            .summary
            .trait_metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn call_server_stream(
        &self,
        method: usize,
        input: &[u8],
    ) -> Result<crate::stream::RawStream, CallError> {
        self.inner
            .open_stream(method, MethodKind::ServerStream, None, input)
    }

    fn call_server_stream_value(
        &self,
        method: usize,
        args: &dyn erased_serde::Serialize,
    ) -> Result<crate::stream::RawStream, CallError> {
        if !self.inner.info.is_python() {
            return crate::executor::server_stream_value_over_wire(self, method, args);
        }
        let args_json = json_args(args)?;
        self.inner
            .open_stream(method, MethodKind::ServerStream, None, &args_json)
    }

    fn call_client_stream_value(
        &self,
        method: usize,
        items: crate::executor::ValueItems,
        args: &dyn erased_serde::Serialize,
        output: crate::executor::ValueSink<'_>,
    ) -> Result<(), CallError> {
        let inner = &self.inner;
        inner.check(method, MethodKind::ClientStream)?;
        let method = inner.method_u32(method)?;
        let args_json = json_args(args)?;
        let mut input = HostInput::values(items);
        inner
            .request_in(
                None,
                Feed::Call(&mut input),
                |id| ToChild::CallClientStream {
                    id,
                    method,
                    values: true,
                    input: &args_json,
                },
                |id, msg| json_reply_into(id, msg, output),
            )
            .map(|((), _)| ())
    }

    fn call_bidi_stream_value(
        &self,
        method: usize,
        items: crate::executor::ValueItems,
        args: &dyn erased_serde::Serialize,
    ) -> Result<crate::stream::RawStream, CallError> {
        let args_json = json_args(args)?;
        self.inner.open_stream(
            method,
            MethodKind::BidiStream,
            Some(HostInput::values(items)),
            &args_json,
        )
    }

    fn call_client_stream(
        &self,
        method: usize,
        stream: crate::stream::OwnedStreamHandle,
        input: &[u8],
        output: OutputSink<'_>,
    ) -> Result<(), CallError> {
        let inner = &self.inner;
        inner.check(method, MethodKind::ClientStream)?;
        let method = inner.method_u32(method)?;
        // SAFETY: the handle is ours (taken by value); the puller drives it
        // from this thread and drops it once, when the call ends.
        let mut puller = HostInput::Wire(unsafe { StreamPuller::new(stream.into_raw()) });
        inner
            .request_in(
                None,
                Feed::Call(&mut puller),
                |id| ToChild::CallClientStream {
                    id,
                    method,
                    values: false,
                    input,
                },
                |id, msg| reply_into(id, msg, output),
            )
            .map(|((), _)| ())
    }

    fn call_bidi_stream(
        &self,
        method: usize,
        stream: crate::stream::OwnedStreamHandle,
        input: &[u8],
    ) -> Result<crate::stream::RawStream, CallError> {
        // SAFETY: the handle is ours (taken by value); the puller drives it
        // (on whichever thread serves the child's pulls, one at a time, under
        // the state lock) and drops it once, when the stream ends.
        let puller = HostInput::Wire(unsafe { StreamPuller::new(stream.into_raw()) });
        self.inner
            .open_stream(method, MethodKind::BidiStream, Some(puller), input)
    }

    unsafe fn bind_host(
        &self,
        name: &str,
        hash: u64,
        version: u32,
        table: &mut dyn FnMut() -> fidius_core::host_ffi::HostTable,
    ) -> Result<bool, LoadError> {
        let inner = &self.inner;
        use crate::executor::cannot_bind;
        if inner.info.is_python() {
            return Err(cannot_bind(
                name,
                "Python plugins cannot call host functions (fidius has no host-function import for Python)",
            ));
        }
        if Serving::within(&inner.spec) {
            return Err(cannot_bind(
                name,
                "host interfaces of a process-isolated plugin cannot be bound from inside one of its own calls: bind them before calling, or after the call returns",
            ));
        }
        let _one_at_a_time = inner.binding.lock().unwrap_or_else(|p| p.into_inner());
        let built = table();
        // SAFETY: the caller promises a valid table, freed only by `release` below.
        let Some(table) = (unsafe { built.table.as_ref() }) else {
            return Err(LoadError::HostBindFailed {
                interface: name.to_owned(),
                code: fidius_core::host_ffi::BIND_ERR_NULL,
                message: fidius_core::host_ffi::bind_status_message(
                    fidius_core::host_ffi::BIND_ERR_NULL,
                )
                .into(),
            });
        };
        let host = HostSpec {
            name: name.to_owned(),
            hash,
            version,
            fn_count: table.fn_count,
        };
        let index = inner
            .spec
            .hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len() as u32;
        let bound = inner.request(
            None,
            |id| ToChild::BindHost {
                id,
                index,
                host: host.clone(),
            },
            |id, msg| match msg {
                ToHost::Bound { id: got, result } if got == id => {
                    // Recorded under the state lock, so a child started
                    // after this answer binds it too.
                    if let Ok(true) = result {
                        let mut hosts = inner.spec.hosts.lock().unwrap_or_else(|p| p.into_inner());
                        hosts.push(BoundHost {
                            spec: host.clone(),
                            table,
                        });
                    }
                    Ok(Ok(result))
                }
                other => Err(unexpected(id, &other)),
            },
        );
        if !matches!(bound, Ok(Ok(true))) {
            // SAFETY: not recorded, so nothing calls it; `free` is the builder's.
            unsafe { built.release() };
        }
        let bound = bound.map_err(|e| {
            LoadError::ProcessStart(format!("binding host interface '{name}': {e}"))
        })?;
        match bound {
            Ok(true) => Ok(true),
            Ok(false) => Ok(false),
            Err(e) => Err(e.host_binding().unwrap_or_else(|other| {
                LoadError::ProcessStart(format!("binding host interface '{name}': {other:?}"))
            })),
        }
    }

    fn cancel_handle(&self) -> Option<CancelHandle> {
        let cancel = Arc::clone(&self.inner.cancel);
        Some(CancelHandle::new(move || cancel.fire()))
    }

    fn process_id(&self) -> Option<u32> {
        self.child_pid()
    }
}

/// A value-shaped plugin's argument tuple as JSON.
fn json_args(args: &dyn erased_serde::Serialize) -> Result<Vec<u8>, CallError> {
    let mut json = Vec::new();
    erased_serde::serialize(args, &mut serde_json::Serializer::new(&mut json))
        .map_err(|e| CallError::Serialization(e.to_string()))?;
    Ok(json)
}

impl Drop for Inner {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(child) = st.child.take() {
            // Closing the channel asks the runner to destroy the instance and exit.
            let _ = child.finish(Duration::from_millis(200));
        }
    }
}
