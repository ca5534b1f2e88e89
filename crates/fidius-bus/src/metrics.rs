//! Per-plugin counters and a handling-time histogram, updated lock-free by
//! the worker and the senders and read at any time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Histogram buckets: bucket `i` counts handling times below `2^i` µs
/// (the last bucket counts everything slower).
pub const HISTOGRAM_BUCKETS: usize = 24;

/// Live counters of one plugin.
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) delivered: AtomicU64,
    pub(crate) handled: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) histogram: [AtomicU64; HISTOGRAM_BUCKETS],
}

impl Metrics {
    pub(crate) fn record_handled(&self, took: Duration) {
        self.handled.fetch_add(1, Ordering::Relaxed);
        let micros = took.as_micros().max(1) as u64;
        let bucket = (64 - micros.leading_zeros() as usize).min(HISTOGRAM_BUCKETS - 1);
        self.histogram[bucket].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, queue_depth: usize) -> MetricsSnapshot {
        MetricsSnapshot {
            queue_depth,
            delivered: self.delivered.load(Ordering::Relaxed),
            handled: self.handled.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            histogram: std::array::from_fn(|i| self.histogram[i].load(Ordering::Relaxed)),
        }
    }
}

/// A point-in-time copy of a plugin's metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Messages waiting in its queue.
    pub queue_depth: usize,
    /// Messages accepted into its queue.
    pub delivered: u64,
    /// Messages it finished handling.
    pub handled: u64,
    /// Messages dropped for it (queue policy, or left over when it stopped).
    pub dropped: u64,
    /// Handling attempts that failed (panics).
    pub errors: u64,
    /// Handling times: bucket `i` counts times below `2^i` µs.
    pub histogram: [u64; HISTOGRAM_BUCKETS],
}
