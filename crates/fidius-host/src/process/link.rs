//! The runner's end of the channel, shared by every thread of the child:
//! whole frames out under one lock, and a demultiplexed reader in.
//!
//! The main loop waits for the host's requests while plugin threads wait
//! for answers of their own (a stream input item, a host function's
//! result). Whoever waits and finds nobody reading becomes the reader: it
//! reads frames, files each under the request queue or the waiter it
//! answers, and hands the reader on once its own frame is in — so the main
//! loop's requests cost no thread hop, and a plugin thread that needs the
//! host while the main loop is idle is still answered.

use super::frame::{self, HostSpec, ToChild, ToHost};
use fidius_core::host_ffi::HostFunctionTable;
use fidius_core::status::{STATUS_OK, STATUS_PANIC, STATUS_PLUGIN_ERROR};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// What a frame answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Key {
    /// An item for stream input `id` (`ToChild::Input`).
    Input(u64),
    /// The result of host call `id` (`ToChild::HostReply`).
    Host(u64),
}

/// Why an awaited answer will not come.
#[derive(Debug)]
pub(super) enum Gone {
    /// The waiter's stream was closed by the host meanwhile.
    Closed,
    /// The channel ended (the host is gone or broke the protocol).
    Ended(String),
}

struct Writer {
    sock: UnixStream,
    out: Vec<u8>,
}

#[derive(Default)]
struct Inbox {
    /// `None` while a thread is reading.
    reader: Option<BufReader<UnixStream>>,
    requests: VecDeque<Vec<u8>>,
    answers: HashMap<Key, Vec<u8>>,
    /// Answers somebody waits for (others are dropped on arrival).
    awaited: HashSet<Key>,
    /// Keys whose waits end with [`Gone::Closed`] (closed stream inputs;
    /// kept, so a wait that starts later ends at once too).
    closed: HashSet<Key>,
    /// The channel ended: `Some("")` at a clean end of file.
    ended: Option<String>,
}

/// The child's channel to its host.
pub(super) struct Link {
    writer: Mutex<Writer>,
    inbox: Mutex<Inbox>,
    arrived: Condvar,
    next_host_call: AtomicU64,
    /// An eventfd that wakes a reader blocked on the socket (a wait it may
    /// be doing for a stream that was just closed).
    wake: std::os::fd::OwnedFd,
}

impl Link {
    /// Takes over the host's socket.
    pub(super) fn new(sock: UnixStream) -> io::Result<Self> {
        let reader = BufReader::new(sock.try_clone()?);
        // SAFETY: eventfd with valid flags returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is new and owned by nobody else.
        let wake = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        Ok(Self {
            wake,
            writer: Mutex::new(Writer {
                sock,
                out: Vec::new(),
            }),
            inbox: Mutex::new(Inbox {
                reader: Some(reader),
                ..Inbox::default()
            }),
            arrived: Condvar::new(),
            next_host_call: AtomicU64::new(1),
        })
    }

    fn inbox(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends one message as a whole frame.
    pub(super) fn send(&self, msg: &ToHost<'_>) -> io::Result<()> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let w = &mut *w;
        frame::encode(msg, &mut w.out).map_err(io::Error::other)?;
        let sent = w.sock.write_all(&w.out);
        if w.out.capacity() > 4 << 20 {
            w.out = Vec::new();
        }
        sent
    }

    /// Writes bytes as they are (the fault-injection hook only).
    pub(super) fn send_bytes(&self, bytes: &[u8]) -> io::Result<()> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        w.sock.write_all(bytes)
    }

    /// The host's next request (its frame's payload), or `None` once the
    /// host closed the channel.
    pub(super) fn next_request(&self) -> io::Result<Option<Vec<u8>>> {
        let mut inbox = self.inbox();
        loop {
            if let Some(f) = inbox.requests.pop_front() {
                return Ok(Some(f));
            }
            match inbox.ended.as_deref() {
                Some("") => return Ok(None),
                Some(e) => return Err(io::Error::other(e.to_owned())),
                None => {}
            }
            // The main loop is never woken by `close` (it is the one closing):
            // it reads without the extra `poll`.
            inbox = self.read_or_wait(inbox, false);
        }
    }

    /// Sends `msg` and waits for the frame that answers it under `key`.
    pub(super) fn exchange(&self, key: Key, msg: &ToHost<'_>) -> Result<Vec<u8>, Gone> {
        {
            let mut inbox = self.inbox();
            if let Some(e) = &inbox.ended {
                return Err(Gone::Ended(e.clone()));
            }
            if inbox.closed.contains(&key) {
                return Err(Gone::Closed);
            }
            inbox.awaited.insert(key);
        }
        if let Err(e) = self.send(msg) {
            self.inbox().awaited.remove(&key);
            return Err(Gone::Ended(e.to_string()));
        }
        let mut inbox = self.inbox();
        loop {
            if let Some(f) = inbox.answers.remove(&key) {
                inbox.awaited.remove(&key);
                return Ok(f);
            }
            if inbox.closed.contains(&key) {
                inbox.awaited.remove(&key);
                return Err(Gone::Closed);
            }
            if let Some(e) = &inbox.ended {
                let e = e.clone();
                inbox.awaited.remove(&key);
                return Err(Gone::Ended(e));
            }
            inbox = self.read_or_wait(inbox, true);
        }
    }

    /// Ends every wait for `key`, now or later, with [`Gone::Closed`].
    pub(super) fn close(&self, key: Key) {
        let mut inbox = self.inbox();
        inbox.closed.insert(key);
        inbox.answers.remove(&key);
        self.arrived.notify_all();
        drop(inbox);
        // A waiter that is the reader sits in `poll`, not on the condvar.
        let one = 1u64.to_ne_bytes();
        // SAFETY: writing 8 bytes from a local buffer to our eventfd.
        unsafe { libc::write(self.wake.as_raw_fd(), one.as_ptr().cast(), 8) };
    }

    /// Waits until the socket has bytes or [`Self::close`] wakes the
    /// reader; `false` for a wake-up (the caller re-checks its wait).
    fn readable(&self, reader: &BufReader<UnixStream>) -> bool {
        if !reader.buffer().is_empty() {
            return true;
        }
        let mut fds = [
            libc::pollfd {
                fd: reader.get_ref().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n > 0 && fds[1].revents != 0 {
            let mut buf = [0u8; 8];
            // SAFETY: reading 8 bytes into a local buffer (non-blocking).
            unsafe { libc::read(self.wake.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
        }
        // Socket readable (or hung up / failed: the read reports it).
        n > 0 && fds[0].revents != 0
    }

    /// A fresh id for a host call.
    pub(super) fn host_call_id(&self) -> u64 {
        self.next_host_call.fetch_add(1, Ordering::Relaxed)
    }

    /// Reads one frame if nobody else is reading, else waits for news.
    /// `wakeable`: a [`Self::close`] may need to end this thread's wait.
    fn read_or_wait<'a>(
        &'a self,
        mut inbox: std::sync::MutexGuard<'a, Inbox>,
        wakeable: bool,
    ) -> std::sync::MutexGuard<'a, Inbox> {
        let Some(mut reader) = inbox.reader.take() else {
            return self.arrived.wait(inbox).unwrap_or_else(|p| p.into_inner());
        };
        drop(inbox);
        if wakeable && !self.readable(&reader) {
            let mut inbox = self.inbox();
            inbox.reader = Some(reader);
            self.arrived.notify_all();
            return inbox;
        }
        let got = read_frame(&mut reader);
        let mut inbox = self.inbox();
        inbox.reader = Some(reader);
        match got {
            Ok(Some(payload)) => match answer_key(&payload) {
                Some(key) if inbox.awaited.contains(&key) => {
                    inbox.answers.insert(key, payload);
                }
                // An answer nobody waits for any more (a closed stream's item).
                Some(_) => {}
                None => inbox.requests.push_back(payload),
            },
            Ok(None) => inbox.ended = Some(String::new()),
            Err(e) => inbox.ended = Some(format!("the channel failed: {e}")),
        }
        self.arrived.notify_all();
        inbox
    }
}

/// Which waiter a frame answers (`None`: it is a request for the main loop;
/// an undecodable frame goes there too, to end the runner).
fn answer_key(payload: &[u8]) -> Option<Key> {
    match frame::decode::<ToChild<'_>>(payload).ok()? {
        ToChild::Input { id, .. } => Some(Key::Input(id)),
        ToChild::HostReply { id, .. } => Some(Key::Host(id)),
        _ => None,
    }
}

/// One frame's payload, or `None` at a clean end of file.
fn read_frame(reader: &mut BufReader<UnixStream>) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; 4];
    match reader.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = frame::frame_len(header).map_err(io::Error::other)?;
    let mut buf = vec![0; len];
    reader.read_exact(&mut buf)?;
    Ok(Some(buf))
}

/// The link host-function proxies use (set once the runner serves a plugin).
static LINK: OnceLock<Arc<Link>> = OnceLock::new();

/// Makes `link` the one host-function proxies call through.
pub(super) fn install(link: &Arc<Link>) {
    let _ = LINK.set(Arc::clone(link));
}

/// What a proxy table's `ctx` points at.
struct ProxyCtx {
    /// The interface's index in the host's list.
    host: u32,
}

/// A function table for host interface number `host` whose functions
/// forward each call to the host over the channel (leaked: a bound table
/// lives for the process, like every host table).
pub(super) fn proxy_table(host: u32, spec: &HostSpec) -> *const HostFunctionTable {
    let name = std::ffi::CString::new(spec.name.clone()).unwrap_or_default();
    let ctx = Box::into_raw(Box::new(ProxyCtx { host })).cast::<std::ffi::c_void>();
    Box::leak(Box::new(HostFunctionTable {
        table_size: std::mem::size_of::<HostFunctionTable>() as u32,
        abi_version: fidius_core::descriptor::ABI_VERSION,
        interface_name: Box::leak(name.into_boxed_c_str()).as_ptr(),
        interface_hash: spec.hash,
        interface_version: spec.version,
        fn_count: spec.fn_count,
        ctx,
        dispatch: proxy_dispatch,
        free_buffer: proxy_free,
    }))
}

/// A proxy's `dispatch`: asks the host to run the function, then hands its
/// status and output to the plugin under the PluginAllocated protocol.
///
/// # Safety
/// `ctx` comes from [`proxy_table`]; the pointers follow the dispatch contract.
unsafe extern "C" fn proxy_dispatch(
    ctx: *mut std::ffi::c_void,
    function: u32,
    in_ptr: *const u8,
    in_len: u32,
    out_ptr: *mut *mut u8,
    out_len: *mut u32,
) -> i32 {
    let run = || -> (i32, Vec<u8>) {
        // SAFETY: `ctx` is the leaked ProxyCtx of this table.
        let host = unsafe { &*(ctx as *const ProxyCtx) }.host;
        let input: &[u8] = if in_ptr.is_null() || in_len == 0 {
            &[]
        } else {
            // SAFETY: the plugin passes `in_len` readable bytes.
            unsafe { std::slice::from_raw_parts(in_ptr, in_len as usize) }
        };
        let Some(link) = LINK.get() else {
            return gone("the runner has no channel to its host");
        };
        let id = link.host_call_id();
        let msg = ToHost::HostCall {
            id,
            host,
            function,
            input,
        };
        match link.exchange(Key::Host(id), &msg) {
            Ok(payload) => match frame::decode::<ToChild<'_>>(&payload) {
                Ok(ToChild::HostReply { status, output, .. }) => (status, output.to_vec()),
                _ => gone("the host answered a host call with another message"),
            },
            Err(Gone::Closed) => gone("the host call was abandoned"),
            Err(Gone::Ended(e)) if e.is_empty() => gone("the host closed the channel"),
            Err(Gone::Ended(e)) => gone(&e),
        }
    };
    let (status, output) = std::panic::catch_unwind(run).unwrap_or_else(|_| {
        (
            STATUS_PANIC,
            bincode::serialize("the runner's host-call proxy panicked").unwrap_or_default(),
        )
    });
    // Only these statuses carry an output the plugin reads (and frees).
    if !matches!(status, STATUS_OK | STATUS_PLUGIN_ERROR | STATUS_PANIC) {
        return status;
    }
    // SAFETY: `out_ptr`/`out_len` are valid per the dispatch contract; a
    // scratch offer points at the offered number of writable bytes.
    if unsafe { place(output, out_ptr, out_len) } {
        status
    } else {
        fidius_core::status::STATUS_SERIALIZATION_ERROR
    }
}

/// A plugin error telling the plugin its host cannot be reached.
fn gone(why: &str) -> (i32, Vec<u8>) {
    let e = fidius_core::PluginError::new("HOST_UNREACHABLE", why);
    (
        STATUS_PLUGIN_ERROR,
        bincode::serialize(&e).unwrap_or_default(),
    )
}

/// Hands `output` to the plugin: into its scratch offer if it fits, else as
/// an exact-size boxed slice that [`proxy_free`] takes back.
///
/// # Safety
/// `out_ptr` and `out_len` must be valid for reads and writes; a scratch
/// offer must point at that many writable bytes.
unsafe fn place(output: Vec<u8>, out_ptr: *mut *mut u8, out_len: *mut u32) -> bool {
    use fidius_core::rt::{SCRATCH_OFFER_MASK, SCRATCH_OFFER_TAG};
    let Ok(len) = u32::try_from(output.len()) else {
        return false;
    };
    // SAFETY: readable per the contract.
    let (offered_ptr, offered) = unsafe { (*out_ptr, *out_len) };
    if !offered_ptr.is_null() && offered & SCRATCH_OFFER_MASK == SCRATCH_OFFER_TAG {
        let cap = (offered & !SCRATCH_OFFER_MASK) as usize;
        if output.len() <= cap {
            // SAFETY: the plugin offered `cap >= len` writable bytes there.
            unsafe {
                std::ptr::copy_nonoverlapping(output.as_ptr(), offered_ptr, output.len());
                *out_len = len;
            }
            return true;
        }
    }
    if output.is_empty() {
        // SAFETY: writable per the contract.
        unsafe {
            *out_ptr = std::ptr::null_mut();
            *out_len = 0;
        }
        return true;
    }
    let ptr = Box::into_raw(output.into_boxed_slice()) as *mut u8;
    // SAFETY: writable per the contract.
    unsafe {
        *out_ptr = ptr;
        *out_len = len;
    }
    true
}

/// A proxy's `free_buffer`.
///
/// # Safety
/// `(ptr, len)` must be an output [`place`] boxed, freed once.
unsafe extern "C" fn proxy_free(ptr: *mut u8, len: usize) {
    if !ptr.is_null() && len > 0 {
        // SAFETY: an exact-size boxed slice leaked by `place`.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
    }
}

/// The host's items of a stream input (a client-streaming call's argument,
/// or a bidirectional stream's input), pulled over the channel one per
/// `next` from whichever thread drives it.
pub(super) struct RemoteInput {
    pub(super) link: Arc<Link>,
    pub(super) id: u64,
    /// Cleared when the call the items were passed to ends.
    pub(super) active: Arc<std::sync::atomic::AtomicBool>,
    pub(super) done: bool,
}

impl Iterator for RemoteInput {
    type Item = Result<Vec<u8>, fidius_core::PluginError>;

    fn next(&mut self) -> Option<Self::Item> {
        use fidius_core::PluginError;
        if self.done {
            return None;
        }
        self.done = true;
        if !self.active.load(Ordering::SeqCst) {
            return Some(Err(PluginError::new(
                "STREAM_CLOSED",
                "the host's items end with the call they were passed to",
            )));
        }
        let payload = match self
            .link
            .exchange(Key::Input(self.id), &ToHost::PullInput { id: self.id })
        {
            Ok(p) => p,
            Err(Gone::Closed) => {
                return Some(Err(PluginError::new(
                    "STREAM_CLOSED",
                    "the host closed the stream",
                )))
            }
            Err(Gone::Ended(e)) => {
                return Some(Err(PluginError::new(
                    "HOST_UNREACHABLE",
                    format!("the host's items ended with the channel {e}"),
                )))
            }
        };
        match frame::decode::<ToChild<'_>>(&payload) {
            Ok(ToChild::Input { step, .. }) => match step {
                None => None,
                Some(Ok(item)) => {
                    self.done = false;
                    Some(Ok(item.to_vec()))
                }
                Some(Err(frame::WireCallError::Plugin(p))) => Some(Err(p)),
                Some(Err(other)) => Some(Err(PluginError::new(
                    "HOST_STREAM_FAILED",
                    crate::CallError::from(other).to_string(),
                ))),
            },
            _ => Some(Err(PluginError::new(
                "HOST_UNREACHABLE",
                "the host answered a stream pull with another message",
            ))),
        }
    }
}
