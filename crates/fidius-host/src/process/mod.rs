//! The process tier (Linux): a cdylib plugin runs in a killable child
//! process behind the same `PluginHandle`, for real deadlines, cancellation,
//! crash isolation and per-child resource limits.
//!
//! Chosen by host policy ([`crate::PluginHostBuilder::isolation`],
//! [`crate::PluginHostBuilder::isolate`]) or explicitly
//! ([`crate::PluginHost::load_isolated`]). The host applies the signature
//! policy and the architecture gate to a library's bytes before anything is
//! spawned and passes exactly those bytes (a sealed memfd) to the child; the
//! child reports the plugin's identity in a handshake, checked by the host
//! before the handle is returned. See `docs/ARCHITECTURE.md` ("The process
//! tier") for the protocol, and what is not yet carried across it.

mod cgroup;
mod child;
pub(crate) mod executor;
pub(crate) mod frame;
mod link;
#[cfg(feature = "remote")]
mod remote;
mod runner;

pub use crate::error::ProcessDeath;
pub use cgroup::{cgroup_support, CgroupSupport};
pub use executor::ProcessExecutor;
#[doc(hidden)]
pub use frame::fuzz_decode as __fuzz_decode_frame;
pub use frame::MAX_FRAME;
#[cfg(feature = "remote")]
pub use remote::{serve_remote, RemoteServe};
pub use runner::runner_main;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// Where a host runs its cdylib plugins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Isolation {
    /// `dlopen` into the host process (the default; fastest).
    #[default]
    InProcess,
    /// In a child process per plugin instance ([`ProcessOptions`]).
    Process,
}

/// Whether each runner child gets a cgroup v2 of its own.
///
/// In its own cgroup, everything a plugin starts (even a process that left
/// the child's process group) is killed with the child, and, where the
/// memory controller is delegated, `max_memory` caps resident memory with
/// no swap (`memory.max`) instead of the address space (`RLIMIT_AS`), and
/// an out-of-memory kill is reported as
/// [`crate::CallError::MemoryLimitExceeded`]. [`cgroup_support`] says what
/// the machine allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CgroupPolicy {
    /// Use the host's own cgroup v2 directory when the host may create
    /// cgroups in it; otherwise rlimits and process groups alone (the default).
    #[default]
    Auto,
    /// Never use cgroups.
    Off,
    /// Create the children's cgroups under this directory of a cgroup2
    /// hierarchy (a subtree delegated to the host, with `memory` in its
    /// `cgroup.subtree_control` for memory limits). A child that cannot be
    /// placed there does not start: the load or call fails with a typed error.
    Under(PathBuf),
}

/// How restarts after a failure are paced and when they stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Consecutive failures (crashes, timeouts, broken protocol, failed
    /// restarts) after which no new child is started: calls then return
    /// [`crate::CallError::RestartLimitReached`]. A successful call resets the count.
    pub max_failures: u32,
    /// Delay before the second consecutive restart (the first is immediate);
    /// it doubles with each further failure.
    pub initial_backoff: Duration,
    /// Longest delay between restarts.
    pub max_backoff: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RestartPolicy {
    /// The delay before restarting after `failures` consecutive failures.
    pub fn backoff(&self, failures: u32) -> Duration {
        if failures <= 1 {
            return Duration::ZERO;
        }
        let factor = 1u32 << (failures - 2).min(20);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Options of process-isolated plugins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessOptions {
    /// The runner executable. Default: `$FIDIUS_RUNNER`, else a
    /// `fidius-runner` next to the current executable (or one directory
    /// up, as in `target/debug`), else the current executable itself,
    /// re-executed in runner mode (every executable linking fidius-host can
    /// serve as its own runner).
    pub runner: Option<PathBuf>,
    /// Deadline of each call (overridable per handle with
    /// `PluginHandle::set_limits` and per call with [`crate::with_deadline`]).
    pub deadline: Option<Duration>,
    /// How long a child may take to load the plugin and answer the handshake.
    pub handshake_timeout: Duration,
    /// Restarts after failures.
    pub restart: RestartPolicy,
    /// Memory cap of the child in bytes: its cgroup's `memory.max` (resident
    /// memory, no swap) where [`CgroupPolicy`] gives it one with the memory
    /// controller, else its address space (`RLIMIT_AS`). An allocation past
    /// it, or the out-of-memory kill, is [`crate::CallError::MemoryLimitExceeded`].
    pub max_memory: Option<u64>,
    /// CPU time the child may use over its life, rounded up to whole seconds
    /// (`RLIMIT_CPU`); past it the call is [`crate::CallError::CpuTimeExceeded`]
    /// and the next call gets a fresh child.
    pub cpu_time: Option<Duration>,
    /// The child's environment: nothing is inherited beyond these variables.
    pub env: Vec<(OsString, OsString)>,
    /// Largest message the host accepts from a child (a larger one is a
    /// protocol error and ends the child); the buffer grows only as bytes arrive.
    pub max_frame: usize,
    /// Run children on a runner on another machine instead of locally
    /// (feature `remote`; [`RemoteRunner`]).
    pub remote: Option<RemoteRunner>,
    /// Whether children get cgroups of their own (local children; a
    /// remote runner uses [`CgroupPolicy::Auto`] on its machine).
    pub cgroup: CgroupPolicy,
}

/// A runner on another machine that serves plugins over gRPC (feature
/// `remote`; start it with `fidius-runner --listen ADDR`). The host still
/// verifies the library and sends exactly the verified bytes; each child
/// of the plugin is a session, and the runner runs it in a local child
/// process of its own with the same limits.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteRunner {
    /// `http://host:port` of the runner, or `https://host:port` for one
    /// serving TLS (feature `remote-tls`).
    pub endpoint: String,
    /// The token the runner was started with (sent as a bearer token).
    pub token: Option<String>,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// PEM certificate(s) of the authority that signed the runner's TLS
    /// certificate (an `https` endpoint needs one).
    pub tls_ca: Option<Vec<u8>>,
    /// The name the runner's certificate must carry (default: the
    /// endpoint's host).
    pub tls_domain: Option<String>,
}

impl RemoteRunner {
    /// The runner at `endpoint` (`http://host:port`).
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            token: None,
            connect_timeout: Duration::from_secs(10),
            tls_ca: None,
            tls_domain: None,
        }
    }

    /// Sets the token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Trusts the authority whose PEM certificate this is for the runner's
    /// TLS certificate (feature `remote-tls`; the endpoint is `https://`).
    pub fn tls_ca(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_ca = Some(pem.into());
        self
    }

    /// Expects the runner's certificate to name `domain`.
    pub fn tls_domain(mut self, domain: impl Into<String>) -> Self {
        self.tls_domain = Some(domain.into());
        self
    }
}

impl std::fmt::Debug for RemoteRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteRunner")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("tls_ca", &self.tls_ca.as_ref().map(|c| c.len()))
            .field("tls_domain", &self.tls_domain)
            .finish()
    }
}

impl Default for ProcessOptions {
    fn default() -> Self {
        Self {
            runner: None,
            deadline: None,
            handshake_timeout: Duration::from_secs(30),
            restart: RestartPolicy::default(),
            max_memory: None,
            cpu_time: None,
            env: Vec::new(),
            max_frame: 256 << 20,
            remote: None,
            cgroup: CgroupPolicy::Auto,
        }
    }
}

impl ProcessOptions {
    /// Sets the runner executable.
    pub fn runner(mut self, path: impl Into<PathBuf>) -> Self {
        self.runner = Some(path.into());
        self
    }
    /// Sets the per-call deadline.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }
    /// Sets the handshake timeout.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }
    /// Sets the restart policy.
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }
    /// Sets whether children get cgroups of their own.
    pub fn cgroup(mut self, policy: CgroupPolicy) -> Self {
        self.cgroup = policy;
        self
    }
    /// Caps the child's memory (see [`ProcessOptions::max_memory`]).
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.max_memory = Some(bytes);
        self
    }
    /// Caps the child's CPU time.
    pub fn cpu_time(mut self, limit: Duration) -> Self {
        self.cpu_time = Some(limit);
        self
    }
    /// Sets the largest message accepted from the child (at most [`MAX_FRAME`]).
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = bytes.min(MAX_FRAME);
        self
    }
    /// Runs the plugin's children on a remote runner (feature `remote`).
    pub fn remote(mut self, runner: RemoteRunner) -> Self {
        self.remote = Some(runner);
        self
    }
    /// Passes one environment variable to the child.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
    /// Passes the host's value of `key` (if set) to the child.
    pub fn inherit_env(mut self, key: impl Into<OsString>) -> Self {
        let key = key.into();
        if let Some(v) = std::env::var_os(&key) {
            self.env.push((key, v));
        }
        self
    }
}

/// The name of a signal number.
pub(crate) fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGSYS => "SIGSYS",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        _ => "unknown signal",
    }
}

/// Finds the runner executable (see [`ProcessOptions::runner`]).
/// The runner to start, and whether it is the current executable (which
/// enters runner mode through its start-up hook).
pub(crate) fn resolve_runner(opts: &ProcessOptions) -> Result<(PathBuf, bool), String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot locate the current executable to run plugins: {e}"))?;
    let path = find_runner(opts, &exe)?;
    let is_self = same_file(&path, &exe);
    Ok((path, is_self))
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

fn find_runner(opts: &ProcessOptions, exe: &std::path::Path) -> Result<PathBuf, String> {
    let check = |p: PathBuf, from: &str| -> Result<PathBuf, String> {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(&p) {
            Err(e) => Err(format!("runner {} ({from}) is missing: {e}", p.display())),
            Ok(m) if !m.is_file() || m.permissions().mode() & 0o111 == 0 => Err(format!(
                "runner {} ({from}) is not an executable file",
                p.display()
            )),
            Ok(_) => Ok(p),
        }
    };
    if let Some(p) = &opts.runner {
        return check(p.clone(), "ProcessOptions::runner");
    }
    if let Some(p) = std::env::var_os("FIDIUS_RUNNER") {
        return check(PathBuf::from(p), "$FIDIUS_RUNNER");
    }
    for dir in exe
        .parent()
        .into_iter()
        .chain(exe.parent().and_then(|d| d.parent()))
    {
        let p = dir.join("fidius-runner");
        if check(p.clone(), "sibling").is_ok() {
            return Ok(p);
        }
    }
    check(exe.to_path_buf(), "the current executable in runner mode")
}
