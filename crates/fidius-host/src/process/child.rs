//! One runner child on the host side: spawning it (descriptors, limits,
//! parent-death signal), its channel with deadlines and cancellation, its
//! pidfd, its output, and reaping it so no zombie is left.

use super::cgroup::{self, Leaf};
use super::frame::{self, LIBRARY_ENV, RUNNER_ENV, SELF_RUNNER_ENV};
use super::CgroupPolicy;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Why a channel operation stopped before it completed.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The deadline passed.
    Timeout,
    /// The cancellation descriptor became readable.
    Cancelled,
    /// The child closed its end (it exited or crashed).
    Closed,
    /// The child sent something that is not a frame of the protocol.
    Protocol(String),
    /// The channel failed otherwise.
    Io(io::Error),
}

/// The host's end of a child's channel (non-blocking; every wait honours a
/// deadline and a cancellation descriptor).
pub(crate) struct Channel {
    sock: UnixStream,
    /// Bytes read; `buf[..start]` is the frame returned last.
    buf: Vec<u8>,
    start: usize,
}

impl Channel {
    /// The socket itself (a remote runner's session pumps frames through it).
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn socket(&self) -> &UnixStream {
        &self.sock
    }

    fn wait(
        &self,
        events: libc::c_short,
        deadline: Option<Instant>,
        cancel: Option<RawFd>,
    ) -> Result<(), Stop> {
        loop {
            let timeout_ms = match deadline {
                None => -1,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(Stop::Timeout);
                    }
                    let left = d - now;
                    // Round up so a wait never ends just before the deadline.
                    let ms = left.as_millis() + u128::from(left.subsec_nanos() % 1_000_000 != 0);
                    ms.min(i32::MAX as u128) as i32
                }
            };
            let mut fds = [
                libc::pollfd {
                    fd: self.sock.as_raw_fd(),
                    events,
                    revents: 0,
                },
                libc::pollfd {
                    fd: cancel.unwrap_or(-1),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: `fds` is a valid array of two pollfd structs (a negative
            // fd is ignored by poll).
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Stop::Io(e));
            }
            if fds[1].revents & libc::POLLIN != 0 {
                return Err(Stop::Cancelled);
            }
            if fds[0].revents != 0 {
                return Ok(());
            }
        }
    }

    /// Writes a whole frame (`MSG_NOSIGNAL`: a dead child is an error, never
    /// a SIGPIPE for the host).
    pub(crate) fn send(
        &mut self,
        frame: &[u8],
        deadline: Option<Instant>,
        cancel: Option<RawFd>,
    ) -> Result<(), Stop> {
        let mut off = 0;
        while off < frame.len() {
            let rest = &frame[off..];
            // SAFETY: sending from a live slice of `rest.len()` bytes on our socket.
            let n = unsafe {
                libc::send(
                    self.sock.as_raw_fd(),
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if n > 0 {
                off += n as usize;
                continue;
            }
            if n == 0 {
                return Err(Stop::Closed);
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => self.wait(libc::POLLOUT, deadline, cancel)?,
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => {
                    return Err(Stop::Closed)
                }
                _ => return Err(Stop::Io(e)),
            }
        }
        Ok(())
    }

    /// Reads until `buf[start..]` holds `want` bytes: waits for readability
    /// first (a reply is rarely there already), then reads what is available,
    /// growing the buffer only as bytes arrive (an announced length is never
    /// allocated up front).
    fn fill(
        &mut self,
        want: usize,
        deadline: Option<Instant>,
        cancel: Option<RawFd>,
        frame_started: bool,
    ) -> Result<(), Stop> {
        while self.buf.len() - self.start < want {
            self.wait(libc::POLLIN, deadline, cancel)?;
            let missing = want - (self.buf.len() - self.start);
            self.buf.reserve(missing.clamp(64 << 10, 1 << 20));
            let spare = self.buf.spare_capacity_mut();
            // SAFETY: reading at most `spare.len()` bytes into the vector's spare capacity.
            let n = unsafe {
                libc::read(
                    self.sock.as_raw_fd(),
                    spare.as_mut_ptr().cast(),
                    spare.len(),
                )
            };
            if n > 0 {
                // SAFETY: `read` initialised `n` bytes past the length.
                unsafe { self.buf.set_len(self.buf.len() + n as usize) };
                continue;
            }
            if n == 0 {
                let have = self.buf.len() - self.start;
                if have == 0 && !frame_started {
                    return Err(Stop::Closed);
                }
                return Err(Stop::Protocol(format!(
                    "the channel closed in the middle of a frame ({have} of {want} bytes)"
                )));
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => {}
                io::ErrorKind::ConnectionReset => return Err(Stop::Closed),
                _ => return Err(Stop::Io(e)),
            }
        }
        Ok(())
    }

    /// Reads one frame of at most `max` bytes and returns its payload
    /// (borrowed until the next receive). Bytes read past it are kept for
    /// the next receive.
    pub(crate) fn recv(
        &mut self,
        deadline: Option<Instant>,
        cancel: Option<RawFd>,
        max: usize,
    ) -> Result<&[u8], Stop> {
        // Forget the frame returned last time.
        self.buf.drain(..self.start);
        self.start = 0;
        if self.buf.capacity() > 4 << 20 && self.buf.len() < 1 << 20 {
            self.buf.shrink_to(1 << 20);
        }
        self.fill(4, deadline, cancel, false)?;
        let header: [u8; 4] = self.buf[..4].try_into().expect("four bytes were read");
        let len = frame::frame_len(header).map_err(Stop::Protocol)?;
        if len > max {
            return Err(Stop::Protocol(format!(
                "a frame of {len} bytes was announced; at most {max} are accepted (ProcessOptions::max_frame)"
            )));
        }
        self.fill(4 + len, deadline, cancel, true)?;
        self.start = 4 + len;
        Ok(&self.buf[4..4 + len])
    }
}

/// The last bytes a child wrote to stderr (and how much it wrote in all).
#[derive(Default)]
pub(crate) struct OutputTail {
    state: Mutex<TailState>,
    closed: Condvar,
}

#[derive(Default)]
struct TailState {
    stderr: VecDeque<u8>,
    bytes: u64,
    done: bool,
}

/// Bytes of stderr kept for error messages.
const TAIL_BYTES: usize = 8 << 10;

impl OutputTail {
    /// How many bytes the child has written to stderr so far (a mark for
    /// [`Self::text_since`]).
    pub(crate) fn mark(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).bytes
    }

    /// What the child wrote to stderr after `mark` (its last 8 KiB at most)
    /// as text, once its output has ended (or after `wait` at most).
    pub(crate) fn text_since(&self, mark: u64, wait: Duration) -> String {
        let guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = self
            .closed
            .wait_timeout_while(guard, wait, |s| !s.done)
            .unwrap_or_else(|p| p.into_inner());
        let new = usize::try_from(guard.bytes.saturating_sub(mark)).unwrap_or(usize::MAX);
        let skip = guard.stderr.len().saturating_sub(new);
        let bytes: Vec<u8> = guard.stderr.iter().skip(skip).copied().collect();
        String::from_utf8_lossy(&bytes).trim().to_owned()
    }

    pub(crate) fn push(&self, data: &[u8]) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.bytes += data.len() as u64;
        let data = &data[data.len().saturating_sub(TAIL_BYTES)..];
        let excess = (s.stderr.len() + data.len()).saturating_sub(TAIL_BYTES);
        s.stderr.drain(..excess);
        s.stderr.extend(data);
    }

    pub(crate) fn finish(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).done = true;
        self.closed.notify_all();
    }
}

/// Reads a child's stdout and stderr until both end, so a plugin that
/// floods them never blocks; stderr's tail is kept, everything is logged.
fn drain(out: OwnedFd, err: OwnedFd, tail: Arc<OutputTail>, plugin: String) {
    let mut open = [Some(out), Some(err)];
    let mut chunk = vec![0u8; 64 << 10];
    while open.iter().any(Option::is_some) {
        let mut fds: Vec<libc::pollfd> = open
            .iter()
            .map(|f| libc::pollfd {
                fd: f.as_ref().map_or(-1, |f| f.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of pollfd structs of that length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        for (i, pfd) in fds.iter().enumerate() {
            if pfd.revents == 0 {
                continue;
            }
            let Some(fd) = open[i].as_ref() else { continue };
            // SAFETY: reading into our own buffer from a descriptor we own.
            let got = unsafe { libc::read(fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
            if got > 0 {
                let data = &chunk[..got as usize];
                if i == 1 {
                    tail.push(data);
                }
                tracing::debug!(
                    target: "fidius::process::output",
                    plugin = %plugin,
                    stream = if i == 0 { "stdout" } else { "stderr" },
                    "{}",
                    String::from_utf8_lossy(data).trim_end()
                );
            } else if got == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                open[i] = None;
            }
        }
    }
    tail.finish();
}

/// What to start.
pub(crate) struct SpawnSpec<'a> {
    pub program: &'a PathBuf,
    /// Whether `program` is the host's own executable (runner mode by hook).
    pub is_self: bool,
    /// The sealed library (cdylib plugins; Python plugins have none).
    pub library: Option<&'a OwnedFd>,
    pub env: &'a [(OsString, OsString)],
    pub max_memory: Option<u64>,
    pub cpu_time: Option<Duration>,
    pub plugin: &'a str,
    pub cgroup: &'a CgroupPolicy,
}

/// How a child ended.
pub(crate) struct Ended {
    /// Its status, if it was reaped in time.
    pub status: Option<ExitStatus>,
    /// Whether the host sent the kill.
    pub killed_by_host: bool,
    /// Why the connection to a remote runner was lost, if it was.
    pub lost: Option<String>,
    /// Whether the out-of-memory killer killed a process of its cgroup.
    pub oom_killed: bool,
}

/// The far side of a child that is not a process of this machine (a
/// session with a remote runner): how to stop it and learn how it ended.
pub(crate) trait Peer: Send {
    /// Ends it now (the remote runner kills its child).
    fn kill(&self);
    /// Waits up to `grace` for it to end: `None` if it has not; else the
    /// child's status if the runner reported one, and why the connection
    /// was lost if it was.
    fn wait(&self, grace: Duration) -> Option<(Option<ExitStatus>, Option<String>)>;
}

/// A running (or dead, not yet reaped) runner child.
pub(crate) struct Child {
    proc: Option<std::process::Child>,
    pidfd: Option<OwnedFd>,
    pub(crate) channel: Channel,
    pub(crate) tail: Arc<OutputTail>,
    /// The local process id (0 for a remote child).
    pub(crate) pid: u32,
    /// Whether the host sent the kill (so a SIGKILL is not the plugin's death).
    killed: bool,
    /// A remote child instead of a local process.
    peer: Option<Box<dyn Peer>>,
    lost: Option<String>,
    /// The child's own cgroup, removed after the child is reaped.
    cgroup: Option<Leaf>,
}

struct SpawnJob {
    cmd: Command,
    reply: mpsc::SyncSender<io::Result<std::process::Child>>,
}

/// Children are forked by one long-lived thread: the parent-death signal
/// fires when the *thread* that forked exits, so forking from a caller's
/// short-lived thread would kill the child with it.
fn spawner() -> &'static Mutex<mpsc::Sender<SpawnJob>> {
    static S: OnceLock<Mutex<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    S.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("fidius-spawner".into())
            .spawn(move || {
                for mut job in rx {
                    let _ = job.reply.send(job.cmd.spawn());
                }
            })
            .expect("spawn the fidius process spawner thread");
        Mutex::new(tx)
    })
}

/// A close-on-exec duplicate of `fd` numbered 10 or more (so moving it to 3
/// or 4 in the child never clobbers the other one).
fn dup_high(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a valid descriptor returns a new one we own.
    let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `n` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

fn rlimit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: `lim` is a valid rlimit for the duration of the call.
    if unsafe { libc::setrlimit(resource, &lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs in the forked child before `exec`: only async-signal-safe calls.
/// `channel` and `library` keep their (high) numbers, passed in the
/// environment: moving them to fixed low numbers could clobber the pipe std
/// uses to report a failed `exec`.
fn child_setup(
    channel: RawFd,
    library: RawFd,
    cgroup_procs: RawFd,
    parent: libc::pid_t,
    max_memory: Option<u64>,
    cpu_secs: Option<u64>,
) -> io::Result<()> {
    // SAFETY: plain system calls (all of those below) on descriptors and values
    // owned by this freshly forked child.
    unsafe {
        // Into the child's own cgroup first, so nothing runs outside it.
        if cgroup_procs >= 0 && libc::write(cgroup_procs, b"0".as_ptr().cast(), 1) != 1 {
            return Err(io::Error::last_os_error());
        }
        // Everything the host had open closes at exec, even descriptors some
        // library opened without close-on-exec (Linux 5.11+; older kernels
        // keep the close-on-exec default of Rust's own descriptors)...
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC as libc::c_uint,
        );
        // ...except the two the runner needs.
        if libc::fcntl(channel, libc::F_SETFD, 0) != 0
            || (library >= 0 && libc::fcntl(library, libc::F_SETFD, 0) != 0)
        {
            return Err(io::Error::last_os_error());
        }
        // Its own process group, so anything the plugin starts dies with it.
        if libc::setpgid(0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        // The host may have died before the signal was armed.
        if libc::getppid() != parent {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
    }
    rlimit(libc::RLIMIT_CORE, 0, 0)?;
    if let Some(bytes) = max_memory {
        rlimit(libc::RLIMIT_AS, bytes, bytes)?;
    }
    if let Some(secs) = cpu_secs {
        // SIGXCPU at the soft limit, SIGKILL one second later.
        rlimit(libc::RLIMIT_CPU, secs, secs.saturating_add(1))?;
    }
    Ok(())
}

/// Send and receive buffer size of a channel.
const SOCKET_BUFFER: libc::c_int = 1 << 20;

fn set_buffers(fd: RawFd, size: libc::c_int) {
    for opt in [libc::SO_SNDBUF, libc::SO_RCVBUF] {
        // SAFETY: setsockopt with a pointer to a c_int of the stated size.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a non-negative result is a new descriptor we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The cgroup a child of `spec` goes into, if any.
fn leaf_for(spec: &SpawnSpec<'_>) -> io::Result<Option<Leaf>> {
    let Some(parent) = cgroup::parent_for(spec.cgroup).map_err(io::Error::other)? else {
        return Ok(None);
    };
    match Leaf::create(&parent, spec.max_memory) {
        Ok(leaf) => Ok(Some(leaf)),
        Err(e) if matches!(spec.cgroup, CgroupPolicy::Auto) => {
            tracing::debug!(target: "fidius::process", "no cgroup for a plugin child: {e}");
            Ok(None)
        }
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot create the child's cgroup: {e}"),
        )),
    }
}

/// Forks and execs the runner (on the spawner thread) with the channel and
/// library descriptors `fds`, joining `leaf` before exec.
fn launch(
    spec: &SpawnSpec<'_>,
    (cfd, lfd): (RawFd, RawFd),
    leaf: Option<&Leaf>,
) -> io::Result<std::process::Child> {
    let mut cmd = Command::new(spec.program);
    cmd.env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env(RUNNER_ENV, cfd.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if spec.is_self {
        cmd.env(SELF_RUNNER_ENV, "1");
    }
    if lfd >= 0 {
        cmd.env(LIBRARY_ENV, lfd.to_string());
    }
    let parent = std::process::id() as libc::pid_t;
    // The cgroup enforces the memory cap where it can; else RLIMIT_AS.
    let mem = spec
        .max_memory
        .filter(|_| !leaf.is_some_and(Leaf::limits_memory));
    let procs = leaf.map_or(-1, Leaf::procs_fd);
    // Whole seconds, rounded up; a limit beyond a century is no limit.
    let cpu = spec
        .cpu_time
        .map(|d| d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0)))
        .filter(|&s| s < 100 * 365 * 24 * 3600);
    // SAFETY: `child_setup` makes only async-signal-safe calls (write,
    // fcntl, close_range, setpgid, prctl, getppid, setrlimit), as required
    // between fork and exec.
    unsafe {
        cmd.pre_exec(move || child_setup(cfd, lfd, procs, parent, mem, cpu));
    }
    let (tx, rx) = mpsc::sync_channel(1);
    spawner()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(SpawnJob { cmd, reply: tx })
        .map_err(|_| io::Error::other("the fidius spawner thread is gone"))?;
    rx.recv()
        .map_err(|_| io::Error::other("the fidius spawner thread is gone"))?
}

impl Child {
    /// Starts a runner with the channel and the library descriptors named in its environment.
    pub(crate) fn spawn(spec: &SpawnSpec<'_>) -> io::Result<Child> {
        let (host_end, child_end) = UnixStream::pair()?;
        // Big socket buffers: a 256 KiB argument crosses in one write
        // instead of a dozen wake-ups of each side.
        for s in [&host_end, &child_end] {
            set_buffers(s.as_raw_fd(), SOCKET_BUFFER);
        }
        let child_fd = dup_high(child_end.as_raw_fd())?;
        drop(child_end);
        let lib_fd = spec.library.map(|l| dup_high(l.as_raw_fd())).transpose()?;
        let mut leaf = leaf_for(spec)?;
        let fds = (
            child_fd.as_raw_fd(),
            lib_fd.as_ref().map_or(-1, |l| l.as_raw_fd()),
        );
        let mut proc = match launch(spec, fds, leaf.as_ref()) {
            Ok(p) => p,
            // Joining the cgroup failed (e.g. no write access to a common
            // ancestor): without cgroups, unless the policy demands one.
            Err(e) if leaf.is_some() && matches!(spec.cgroup, CgroupPolicy::Auto) => {
                tracing::debug!(target: "fidius::process", "starting a child without its cgroup: {e}");
                drop(leaf.take());
                launch(spec, fds, None)?
            }
            Err(e) => return Err(e),
        };
        drop((child_fd, lib_fd));
        let pid = proc.id();
        let pidfd = pidfd_open(pid);
        let tail = Arc::new(OutputTail::default());
        let (out, err) = (proc.stdout.take(), proc.stderr.take());
        // From here on the child is owned by `Child`, whose drop kills and
        // reaps it if anything below fails.
        let child = Child {
            proc: Some(proc),
            pidfd,
            channel: Channel {
                sock: host_end,
                buf: Vec::new(),
                start: 0,
            },
            tail: Arc::clone(&tail),
            pid,
            killed: false,
            peer: None,
            lost: None,
            cgroup: leaf,
        };
        child.channel.sock.set_nonblocking(true)?;
        if let (Some(out), Some(err)) = (out, err) {
            let plugin = spec.plugin.to_owned();
            std::thread::Builder::new()
                .name(format!("fidius-output-{pid}"))
                .spawn(move || drain(out.into(), err.into(), tail, plugin))?;
        } else {
            tail.finish();
        }
        Ok(child)
    }

    /// A child on the far side of `sock` (a bridge to a remote runner).
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn with_peer(
        sock: UnixStream,
        tail: Arc<OutputTail>,
        peer: Box<dyn Peer>,
    ) -> io::Result<Child> {
        sock.set_nonblocking(true)?;
        Ok(Child {
            proc: None,
            pidfd: None,
            channel: Channel {
                sock,
                buf: Vec::new(),
                start: 0,
            },
            tail,
            pid: 0,
            killed: false,
            peer: Some(peer),
            lost: None,
            cgroup: None,
        })
    }

    /// Kills what is left of the child's process group (processes the plugin
    /// started). Only while the child is not reaped: its zombie keeps the
    /// group id from being reused.
    fn kill_group(&self) {
        if self.proc.is_some() {
            // SAFETY: kill(2) with a negative pid signals that process group.
            unsafe { libc::kill(-(self.pid as libc::pid_t), libc::SIGKILL) };
        }
    }

    /// Sends SIGKILL to the child (through the pidfd, so never to a reused
    /// pid) and to its process group.
    pub(crate) fn kill(&mut self) {
        self.killed = true;
        if let Some(peer) = &self.peer {
            peer.kill();
            return;
        }
        if let Some(leaf) = &self.cgroup {
            leaf.kill();
        }
        self.kill_group();
        match &self.pidfd {
            Some(fd) => {
                // SAFETY: pidfd_send_signal on our pidfd with no siginfo.
                unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        fd.as_raw_fd(),
                        libc::SIGKILL,
                        std::ptr::null::<libc::siginfo_t>(),
                        0,
                    );
                }
            }
            None => {
                // Not yet reaped, so the pid is still this child's.
                if let Some(p) = self.proc.as_mut() {
                    let _ = p.kill();
                }
            }
        }
    }

    /// Waits up to `grace` for the child to exit.
    fn exited_within(&mut self, grace: Duration) -> bool {
        let end = Instant::now() + grace;
        if let Some(fd) = &self.pidfd {
            loop {
                let left = end.saturating_duration_since(Instant::now());
                let mut pfd = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                let n = unsafe {
                    libc::poll(&mut pfd, 1, left.as_millis().min(i32::MAX as u128) as i32)
                };
                if n > 0 {
                    return true;
                }
                if n == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                    return false;
                }
            }
        }
        let Some(p) = self.proc.as_mut() else {
            return true;
        };
        while Instant::now() < end {
            if let Ok(Some(_)) = p.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    /// Ends the child: waits up to `grace` for it to exit on its own, kills
    /// it otherwise, and reaps it. Returns its exit status when it was
    /// reaped here (a child stuck in the kernel is reaped in the background)
    /// and whether the host killed it.
    pub(crate) fn finish(mut self, grace: Duration) -> Ended {
        let status = self.finish_inner(grace);
        Ended {
            status,
            killed_by_host: self.killed,
            lost: self.lost.take(),
            oom_killed: self.cgroup.as_ref().is_some_and(Leaf::oom_killed),
        }
    }

    fn finish_inner(&mut self, grace: Duration) -> Option<ExitStatus> {
        // A runner exits when its channel closes.
        let _ = self.channel.sock.shutdown(std::net::Shutdown::Both);
        if let Some(peer) = self.peer.take() {
            let ended = peer.wait(grace).or_else(|| {
                self.killed = true;
                peer.kill();
                peer.wait(Duration::from_millis(500))
            });
            let (status, lost) = ended.unwrap_or((None, None));
            self.lost = lost;
            return status;
        }
        if !self.exited_within(grace) {
            self.kill();
            self.exited_within(Duration::from_millis(50));
        }
        self.kill_group();
        let mut proc = self.proc.take()?;
        match proc.try_wait() {
            Ok(Some(status)) => Some(status),
            _ => {
                reap_later(proc, self.cgroup.take());
                None
            }
        }
    }
}

/// Reaps `proc` in the background, then removes its cgroup.
fn reap_later(mut proc: std::process::Child, cgroup: Option<Leaf>) {
    let spawned = std::thread::Builder::new()
        .name("fidius-reaper".into())
        .spawn(move || {
            let _ = proc.wait();
            drop(cgroup);
        });
    if spawned.is_err() {
        tracing::warn!("could not start a thread to reap a plugin process");
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(peer) = self.peer.take() {
            peer.kill();
            return;
        }
        if self.proc.is_none() {
            return;
        }
        // Harmless if it already exited: its zombie still holds pid and group.
        self.kill();
        if let Some(mut proc) = self.proc.take() {
            if !matches!(proc.try_wait(), Ok(Some(_))) {
                reap_later(proc, self.cgroup.take());
            }
        }
    }
}
