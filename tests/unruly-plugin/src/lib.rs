//! Fixture plugins for the process tier: each method misbehaves in one way a
//! plugin can (hang, spin, segfault, abort, exit, overflow its stack, eat
//! memory, flood stdout/stderr), next to well-behaved ones to call after.

use fidius::{plugin_impl, PluginError};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Everything a plugin can do wrong, plus a few things it can do right.
#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Unruly: Send + Sync {
    /// Adds.
    fn add(&self, a: i64, b: i64) -> i64;
    /// Returns its input.
    fn echo(&self, data: Vec<u8>) -> Vec<u8>;
    /// The process id of the process running the plugin.
    fn pid(&self) -> u32;
    /// Sleeps, then returns `ms`.
    fn sleep_ms(&self, ms: u64) -> u64;
    /// Burns CPU for ever.
    fn spin(&self) -> u64;
    /// Dereferences a null pointer.
    fn segfault(&self) -> u64;
    /// Writes `unruly: aborting` to stderr and calls `abort`.
    fn abort(&self) -> u64;
    /// Calls `exit(code)`.
    fn exit(&self, code: i32) -> u64;
    /// Recurses without end.
    fn overflow(&self, depth: u64) -> u64;
    /// Allocates and touches `mb` MiB, and keeps it (a leak).
    fn allocate_mb(&self, mb: u64) -> u64;
    /// Writes `mb` MiB to stdout and to stderr, then returns `mb`.
    fn flood(&self, mb: u64) -> u64;
    /// Fails with a plugin error of `code`.
    fn fail(&self, code: String) -> Result<u64, PluginError>;
    /// Panics (caught at the boundary).
    fn panic(&self) -> u64;
    /// `0..n`, then an error item of code `code` if it is not empty.
    fn count(&self, n: u64, code: String) -> fidius::Stream<u64>;
    /// `0..n`, then the process aborts.
    fn count_then_abort(&self, n: u64) -> fidius::Stream<u64>;
    /// One item, then a pull that never returns.
    fn stall(&self) -> fidius::Stream<u64>;
    /// Counts for ever; when the stream is dropped, creates the file `marker`.
    fn watched(&self, marker: String) -> fidius::Stream<u64>;
    /// Sums the host's items until one equals `stop` (not counted), and
    /// adds `offset`: `(items taken, total)`.
    fn weigh(&self, offset: u64, items: fidius::Stream<u64>, stop: u64) -> (u64, u64);
    /// Bidirectional: each of the host's items times `factor`, as it
    /// arrives; an item equal to `fail_at` is a mid-stream error of code
    /// `RELAY`. When the stream is dropped, creates the file `marker`.
    fn relay(
        &self,
        marker: String,
        items: fidius::Stream<u64>,
        factor: u64,
        fail_at: u64,
    ) -> fidius::Stream<u64>;
    /// Starts `sleep 60` in a process group of its own (out of reach of a
    /// kill of the child's group) and returns its pid, without waiting.
    fn escape(&self) -> u32;
}

/// Creates a file when dropped (observes that a stream's producer was dropped).
struct Marker(String, u64);

impl Iterator for Marker {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        self.1 += 1;
        Some(self.1 - 1)
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.0, b"dropped");
    }
}

/// The producer of [`Unruly::relay`].
struct Relay {
    marker: String,
    items: fidius::Stream<u64>,
    factor: u64,
    fail_at: u64,
}

impl Iterator for Relay {
    type Item = Result<u64, PluginError>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.items.next_result()? {
            Ok(v) if v == self.fail_at => {
                Some(Err(PluginError::new("RELAY", format!("{v} refused"))))
            }
            Ok(v) => Some(Ok(v * self.factor)),
            Err(e) => Some(Err(e)),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if !self.marker.is_empty() {
            let _ = std::fs::write(&self.marker, b"dropped");
        }
    }
}

/// Implements [`Unruly`].
#[derive(Default)]
pub struct Wild;

static LEAKED: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64, pad: &mut [u8; 1024]) -> u64 {
    pad[(depth % 1024) as usize] = depth as u8;
    let mut next = [0u8; 1024];
    let r = recurse(depth + 1, &mut next);
    std::hint::black_box(r + u64::from(pad[0]) + u64::from(next[1]))
}

#[plugin_impl(Unruly)]
impl Unruly for Wild {
    fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    fn echo(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }
    fn pid(&self) -> u32 {
        std::process::id()
    }
    fn sleep_ms(&self, ms: u64) -> u64 {
        std::thread::sleep(std::time::Duration::from_millis(ms));
        ms
    }
    fn spin(&self) -> u64 {
        let mut x = 0u64;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
    fn segfault(&self) -> u64 {
        let p: *const u64 = std::hint::black_box(std::ptr::null());
        // SAFETY: none — this fixture crashes on purpose (a null read).
        unsafe { std::ptr::read_volatile(p) }
    }
    fn abort(&self) -> u64 {
        eprintln!("unruly: aborting");
        std::process::abort()
    }
    fn exit(&self, code: i32) -> u64 {
        std::process::exit(code)
    }
    fn overflow(&self, depth: u64) -> u64 {
        recurse(depth, &mut [0; 1024])
    }
    fn allocate_mb(&self, mb: u64) -> u64 {
        let mut total = 0;
        for _ in 0..mb {
            let block = vec![1u8; 1 << 20];
            total += block.len() as u64;
            LEAKED.lock().unwrap().push(block);
        }
        total >> 20
    }
    fn flood(&self, mb: u64) -> u64 {
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..mb {
            let _ = std::io::stdout().write_all(&chunk);
            let _ = std::io::stderr().write_all(&chunk);
        }
        mb
    }
    fn fail(&self, code: String) -> Result<u64, PluginError> {
        Err(PluginError::new(code, "failed on purpose"))
    }
    fn panic(&self) -> u64 {
        panic!("the unruly plugin panicked")
    }
    fn count(&self, n: u64, code: String) -> fidius::Stream<u64> {
        let tail = (!code.is_empty()).then(|| Err(PluginError::new(code, "failed mid-stream")));
        fidius::Stream::try_from_iter((0..n).map(Ok).chain(tail))
    }
    fn count_then_abort(&self, n: u64) -> fidius::Stream<u64> {
        fidius::Stream::from_iter((0..=n).inspect(move |&i| {
            if i == n {
                std::process::abort();
            }
        }))
    }
    fn stall(&self) -> fidius::Stream<u64> {
        fidius::Stream::from_iter((0..2u64).inspect(|&i| {
            if i == 1 {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }))
    }
    fn watched(&self, marker: String) -> fidius::Stream<u64> {
        fidius::Stream::from_iter(Marker(marker, 0))
    }
    fn relay(
        &self,
        marker: String,
        items: fidius::Stream<u64>,
        factor: u64,
        fail_at: u64,
    ) -> fidius::Stream<u64> {
        fidius::Stream::try_from_iter(Relay {
            marker,
            items,
            factor,
            fail_at,
        })
    }
    fn weigh(&self, offset: u64, mut items: fidius::Stream<u64>, stop: u64) -> (u64, u64) {
        let (mut n, mut total) = (0, offset);
        while let Some(v) = items.next_item() {
            if v == stop {
                break;
            }
            n += 1;
            total += v;
        }
        (n, total)
    }
    // Deliberately never waited for: the process must outlive this call.
    #[allow(clippy::zombie_processes)]
    fn escape(&self) -> u32 {
        use std::os::unix::process::CommandExt;
        use std::process::{Command, Stdio};
        let sleeper = Command::new("/bin/sleep")
            .arg("60")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /bin/sleep");
        // Dropping a std Child neither kills nor waits for it.
        sleeper.id()
    }
}

/// Config of [`Tally`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TallyConfig {
    /// First value `next` returns.
    pub start: u64,
}

/// A configured interface whose state lives in the instance.
#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Counter: Send + Sync {
    /// The next value.
    fn next(&self) -> u64;
    /// Aborts the process.
    fn crash(&self) -> u64;
}

/// Counts up from its configured start.
pub struct Tally {
    next: AtomicU64,
}

impl Tally {
    /// Builds from config.
    pub fn configure(cfg: TallyConfig) -> Self {
        // Constructors that go wrong: `u64::MAX` aborts the process, one
        // less panics.
        if cfg.start == u64::MAX {
            std::process::abort();
        }
        if cfg.start == u64::MAX - 1 {
            panic!("the Tally constructor panicked");
        }
        Self {
            next: AtomicU64::new(cfg.start),
        }
    }
}

#[plugin_impl(Counter, config = TallyConfig)]
impl Counter for Tally {
    fn next(&self) -> u64 {
        self.next.fetch_add(1, Ordering::SeqCst)
    }
    fn crash(&self) -> u64 {
        std::process::abort()
    }
}

// Only the cdylib exports the registry: hosts link this crate (feature
// `host`) for its clients, next to other plugin crates.
#[cfg(not(feature = "host"))]
fidius::fidius_plugin_registry!();
