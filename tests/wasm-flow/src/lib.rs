//! Test fixture: the `Flow` interface (server, client and bidirectional
//! streams, and calls back into the host through `Notes`) and
//! `FlowPlugin`. It builds as a cdylib and (`--target wasm32-wasip2`) as a
//! WASM component from the same source.

#![allow(unexpected_cfgs)]

use fidius::{plugin_impl, PluginError, Stream};
use serde::{Deserialize, Serialize};

/// A point (a WIT record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// X.
    pub x: i64,
    /// Y.
    pub y: i64,
}

/// Functions the host offers the plugin.
#[fidius::host_interface(version = 1)]
pub trait Notes: Send + Sync {
    /// Records a note.
    fn note(&self, text: String);
    /// Looks a key up.
    fn lookup(&self, key: String) -> Result<u64, PluginError>;
}

/// The streaming test interface.
#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Flow: Send + Sync {
    /// `0..n`.
    fn count(&self, n: u64) -> Stream<u64>;
    /// `n` points on the diagonal.
    fn points(&self, n: u32) -> Stream<Point>;
    /// `n` items, then a typed error item.
    fn fail_after(&self, n: u64) -> Stream<u64>;
    /// `n` items, then a panic.
    fn trap_after(&self, n: u64) -> Stream<u64>;
    /// `n` items, then a `next` that never returns.
    fn stall_after(&self, n: u64) -> Stream<u64>;
    /// An endless stream that writes `marker` when it is dropped.
    fn tracked(&self, marker: String) -> Stream<u64>;
    /// Sums the host's items.
    fn sum(&self, items: Stream<u64>) -> u64;
    /// Labels the mean of the host's points (the stream is the second argument).
    fn centroid(&self, label: String, points: Stream<Point>) -> String;
    /// Multiplies every item by `factor`, as it is pulled.
    fn scale(&self, factor: u64, items: Stream<u64>) -> Stream<u64>;
    /// `Notes::lookup` through the host.
    fn recall(&self, key: String) -> Result<u64, PluginError>;
    /// `Notes::note` through the host; whether the host bound `Notes`.
    fn noted(&self, text: String) -> bool;
    /// Adds.
    fn add(&self, a: u64, b: u64) -> u64;
}

/// The plugin.
#[derive(Default)]
pub struct FlowPlugin;

/// Writes its marker file when dropped (observable guest cleanup).
struct Tracked {
    marker: String,
    next: u64,
}

impl Iterator for Tracked {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        self.next += 1;
        Some(self.next - 1)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.marker, format!("dropped after {}", self.next));
    }
}

fn host_error(e: fidius::HostCallError) -> PluginError {
    PluginError::new("HOST_CALL", e.to_string())
}

#[plugin_impl(Flow)]
impl Flow for FlowPlugin {
    fn count(&self, n: u64) -> Stream<u64> {
        Stream::from_iter(0..n)
    }

    fn points(&self, n: u32) -> Stream<Point> {
        Stream::from_iter((0..i64::from(n)).map(|i| Point { x: i, y: -i }))
    }

    fn fail_after(&self, n: u64) -> Stream<u64> {
        Stream::try_from_iter((0..=n).map(move |i| {
            if i < n {
                Ok(i)
            } else {
                Err(PluginError::new("ENOUGH", format!("stopped after {n}")))
            }
        }))
    }

    fn trap_after(&self, n: u64) -> Stream<u64> {
        Stream::from_iter((0..=n).inspect(move |&i| {
            if i == n {
                panic!("trap after {n}");
            }
        }))
    }

    fn stall_after(&self, n: u64) -> Stream<u64> {
        Stream::from_iter((0..=n).inspect(move |&i| {
            if i == n {
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
        }))
    }

    fn tracked(&self, marker: String) -> Stream<u64> {
        Stream::from_iter(Tracked { marker, next: 0 })
    }

    fn sum(&self, items: Stream<u64>) -> u64 {
        items.sum()
    }

    fn centroid(&self, label: String, points: Stream<Point>) -> String {
        let (mut n, mut x, mut y) = (0i64, 0i64, 0i64);
        for p in points {
            n += 1;
            x += p.x;
            y += p.y;
        }
        if n == 0 {
            return format!("{label}: empty");
        }
        format!("{label}: ({}, {}) of {n}", x / n, y / n)
    }

    fn scale(&self, factor: u64, items: Stream<u64>) -> Stream<u64> {
        Stream::from_iter(items.map(move |i| i * factor))
    }

    fn recall(&self, key: String) -> Result<u64, PluginError> {
        let notes = NotesClient::bound().map_err(host_error)?;
        match notes.lookup(&key) {
            Ok(v) => Ok(v),
            Err(fidius::HostCallError::Host(e)) => Err(e),
            Err(e) => Err(host_error(e)),
        }
    }

    fn noted(&self, text: String) -> bool {
        match NotesClient::bound() {
            Ok(notes) => notes.note(&text).is_ok(),
            Err(_) => false,
        }
    }

    fn add(&self, a: u64, b: u64) -> u64 {
        a + b
    }
}

fidius::fidius_plugin_registry!();

/// Host-side skewed versions of `Notes` (same name, another version or
/// shape) for tests of the per-call gates.
#[cfg(not(target_family = "wasm"))]
pub mod skew {
    use fidius::PluginError;

    /// `Notes` at version 2.
    #[fidius::host_interface(version = 2)]
    pub trait Notes: Send + Sync {
        /// Records a note.
        fn note(&self, text: String);
        /// Looks a key up.
        fn lookup(&self, key: String) -> Result<u64, PluginError>;
    }

    /// A version-2 host.
    pub struct V2;

    impl Notes for V2 {
        fn note(&self, _text: String) {}
        fn lookup(&self, _key: String) -> Result<u64, PluginError> {
            Ok(2)
        }
    }

    /// `Notes` at version 1 with another shape (so another hash).
    pub mod reshaped {
        use fidius::PluginError;

        /// `Notes`, reshaped.
        #[fidius::host_interface(version = 1)]
        pub trait Notes: Send + Sync {
            /// Looks a key up, with a default.
            fn lookup(&self, key: String, default: u64) -> Result<u64, PluginError>;
        }

        /// A reshaped host.
        pub struct Other;

        impl Notes for Other {
            fn lookup(&self, _key: String, default: u64) -> Result<u64, PluginError> {
                Ok(default)
            }
        }
    }
}
