//! The std-thread [`Host`]: one worker thread and one bounded queue per
//! plugin; broadcast with per-plugin filters and queue policies; panics
//! isolated; stop codes, drops and failures counted and observable.

use crate::message::Message;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::queue::{Closed, Push, Queue, QueuePolicy};
use crate::Plugin;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Identifies an attached plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PluginId(pub u64);

/// Why a plugin ended other than by draining or asking to stop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginFailure {
    /// `handle_message` panicked; the plugin was detached.
    #[error("plugin panicked: {0}")]
    Panicked(String),
    /// The host detached it (queue policy or [`Host::detach`]).
    #[error("plugin detached: {0}")]
    Detached(String),
    /// It had not finished when [`Host::end_with_deadline`] gave up on it.
    #[error("plugin did not finish before the deadline")]
    TimedOut,
}

/// Something that happened to a plugin, reported as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    /// It returned `Some(code)` and was detached.
    Stopped {
        /// Plugin.
        id: PluginId,
        /// Its code.
        code: u8,
    },
    /// It panicked and was detached.
    Panicked {
        /// Plugin.
        id: PluginId,
        /// Panic message.
        message: String,
    },
    /// The host detached it.
    Detached {
        /// Plugin.
        id: PluginId,
        /// Why.
        reason: String,
    },
}

/// The outcome of one plugin, from [`Host::end`].
#[derive(Debug, Clone)]
pub struct PluginReport {
    /// Plugin.
    pub id: PluginId,
    /// Its name.
    pub name: String,
    /// `Ok(None)`: drained and stopped normally; `Ok(Some(code))`: asked to
    /// stop with `code`; `Err`: what ended it.
    pub result: Result<Option<u8>, PluginFailure>,
    /// Its final metrics.
    pub metrics: MetricsSnapshot,
}

type Filter<T> = Arc<dyn Fn(&T) -> bool + Send + Sync>;
type Observer = Arc<dyn Fn(&BusEvent) + Send + Sync>;

/// How a plugin is attached.
pub struct AttachOptions<T> {
    capacity: usize,
    policy: QueuePolicy,
    filter: Option<Filter<T>>,
    pub(crate) name: Option<String>,
}

impl<T> Default for AttachOptions<T> {
    fn default() -> Self {
        Self {
            capacity: Host::<T>::DEFAULT_CHANNEL_CAPACITY,
            policy: QueuePolicy::Block,
            filter: None,
            name: None,
        }
    }
}

impl<T> AttachOptions<T> {
    /// Queue capacity (at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }
    /// What to do when the queue is full.
    pub fn policy(mut self, policy: QueuePolicy) -> Self {
        self.policy = policy;
        self
    }
    /// Only messages for which `filter` is true reach this plugin (evaluated
    /// on the sending thread, before queueing).
    pub fn filter(mut self, filter: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Arc::new(filter));
        self
    }
    /// A name for reports and the worker thread.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

pub(crate) struct Slot<T, W> {
    pub(crate) id: PluginId,
    pub(crate) name: String,
    pub(crate) queue: Arc<Queue<T>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) policy: QueuePolicy,
    pub(crate) filter: Option<Filter<T>>,
    pub(crate) detached: Arc<Mutex<Option<String>>>,
    pub(crate) worker: Option<W>,
}

/// What both hosts share: the plugins' queues, metrics and accounting.
pub(crate) struct Core<T, W> {
    pub(crate) slots: Vec<Slot<T, W>>,
    next_id: u64,
    observer: Option<Observer>,
    undeliverable: AtomicU64,
}

/// What a new plugin's worker needs.
pub(crate) struct WorkerParts<T> {
    pub(crate) id: PluginId,
    pub(crate) queue: Arc<Queue<T>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) detached: Arc<Mutex<Option<String>>>,
    pub(crate) emit: Box<dyn Fn(BusEvent) + Send>,
}

impl<T> WorkerParts<T> {
    /// Runs `plugin` until its queue ends, it stops or it panics ([`run_worker`]).
    pub(crate) fn run<P: Plugin<T> + ?Sized>(
        &self,
        plugin: &mut P,
    ) -> Result<Option<u8>, PluginFailure> {
        run_worker(
            self.id,
            plugin,
            &self.queue,
            &self.metrics,
            &self.detached,
            &*self.emit,
        )
    }
}

/// Starts the worker thread of the plugin named `name` (both hosts).
pub(crate) fn spawn_worker<R: Send + 'static>(
    name: Option<&str>,
    body: impl FnOnce() -> R + Send + 'static,
) -> std::thread::JoinHandle<R> {
    std::thread::Builder::new()
        .name(format!("fidius-bus-{}", name.unwrap_or_default()))
        .spawn(body)
        .expect("fidius-bus: could not spawn a plugin worker thread")
}

impl<T: Send + Sync + 'static, W> Core<T, W> {
    pub(crate) fn new() -> Self {
        Self {
            slots: Vec::new(),
            next_id: 0,
            observer: None,
            undeliverable: AtomicU64::new(0),
        }
    }

    pub(crate) fn set_observer(&mut self, observer: Observer) {
        self.observer = Some(observer);
    }

    /// Registers a plugin; `spawn` starts its worker from the parts.
    pub(crate) fn attach(
        &mut self,
        opts: AttachOptions<T>,
        spawn: impl FnOnce(WorkerParts<T>) -> W,
    ) -> PluginId {
        let id = PluginId(self.next_id);
        self.next_id += 1;
        let name = opts.name.unwrap_or_else(|| format!("plugin-{}", id.0));
        let queue = Arc::new(Queue::new(opts.capacity));
        let metrics = Arc::new(Metrics::default());
        let detached = Arc::new(Mutex::new(None::<String>));
        let observer = self.observer.clone();
        let emit = Box::new(move |e: BusEvent| {
            if let Some(o) = &observer {
                o(&e);
            }
        });
        let worker = spawn(WorkerParts {
            id,
            queue: queue.clone(),
            metrics: metrics.clone(),
            detached: detached.clone(),
            emit,
        });
        self.slots.push(Slot {
            id,
            name,
            queue,
            metrics,
            policy: opts.policy,
            filter: opts.filter,
            detached,
            worker: Some(worker),
        });
        id
    }

    pub(crate) fn wants(slot: &Slot<T, W>, message: &Message<T>) -> bool {
        slot.filter.as_ref().is_none_or(|f| f(message))
    }

    pub(crate) fn detach_slot(&self, slot: &Slot<T, W>, reason: &str) {
        *slot.detached.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.to_owned());
        let discarded = slot.queue.close(Closed::Gone);
        slot.metrics
            .dropped
            .fetch_add(discarded as u64, Ordering::Relaxed);
        if let Some(o) = &self.observer {
            o(&BusEvent::Detached {
                id: slot.id,
                reason: reason.to_owned(),
            });
        }
    }

    pub(crate) fn detach(&self, id: PluginId) -> bool {
        match self.slots.iter().find(|s| s.id == id) {
            Some(slot) => {
                self.detach_slot(slot, "detached by the host");
                true
            }
            None => false,
        }
    }

    /// Updates counters for one push; 1 if the plugin queued the message.
    pub(crate) fn account(&self, slot: &Slot<T, W>, pushed: Push) -> usize {
        match pushed {
            Push::Queued => {
                slot.metrics.delivered.fetch_add(1, Ordering::Relaxed);
                1
            }
            Push::QueuedDroppedOldest => {
                slot.metrics.delivered.fetch_add(1, Ordering::Relaxed);
                slot.metrics.dropped.fetch_add(1, Ordering::Relaxed);
                1
            }
            Push::Dropped => {
                slot.metrics.dropped.fetch_add(1, Ordering::Relaxed);
                0
            }
            Push::Detach => {
                slot.metrics.dropped.fetch_add(1, Ordering::Relaxed);
                self.detach_slot(slot, "its queue was full (QueuePolicy::Detach)");
                0
            }
            Push::Gone => {
                self.undeliverable.fetch_add(1, Ordering::Relaxed);
                0
            }
        }
    }

    pub(crate) fn undeliverable(&self) -> u64 {
        self.undeliverable.load(Ordering::Relaxed)
    }

    pub(crate) fn metrics(&self, id: PluginId) -> Option<MetricsSnapshot> {
        self.slots
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.metrics.snapshot(s.queue.len()))
    }

    pub(crate) fn plugins(&self) -> Vec<PluginId> {
        self.slots.iter().map(|s| s.id).collect()
    }

    pub(crate) fn close_all(&self) {
        for slot in &self.slots {
            slot.queue.close(Closed::Draining);
        }
    }

    pub(crate) fn report(
        slot: &Slot<T, W>,
        result: Result<Option<u8>, PluginFailure>,
    ) -> PluginReport {
        PluginReport {
            id: slot.id,
            name: slot.name.clone(),
            result,
            metrics: slot.metrics.snapshot(slot.queue.len()),
        }
    }
}

type StdWorker = JoinHandle<Result<Option<u8>, PluginFailure>>;

/// A message-passing plugin host on std threads.
pub struct Host<T> {
    core: Core<T, StdWorker>,
}

impl<T: Send + Sync + 'static> Default for Host<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Sends replies to a [`Host::request`]; put it in the message.
#[derive(Debug)]
pub struct Replier<R>(pub(crate) ReplySender<R>);

/// Where a [`Replier`]'s replies go: a channel the std host waits on, or
/// one the tokio host awaits (so a request never needs a pool thread).
pub(crate) enum ReplySender<R> {
    Std(mpsc::Sender<R>),
    #[cfg(feature = "tokio")]
    Tokio(tokio::sync::mpsc::UnboundedSender<R>),
}

impl<R> std::fmt::Debug for ReplySender<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReplySender::Std(_) => "ReplySender::Std",
            #[cfg(feature = "tokio")]
            ReplySender::Tokio(_) => "ReplySender::Tokio",
        })
    }
}

impl<R> Clone for Replier<R> {
    fn clone(&self) -> Self {
        Self(match &self.0 {
            ReplySender::Std(tx) => ReplySender::Std(tx.clone()),
            #[cfg(feature = "tokio")]
            ReplySender::Tokio(tx) => ReplySender::Tokio(tx.clone()),
        })
    }
}

impl<R> Replier<R> {
    /// Sends one reply (ignored once the request is over).
    pub fn reply(&self, value: R) {
        match &self.0 {
            ReplySender::Std(tx) => {
                let _ = tx.send(value);
            }
            #[cfg(feature = "tokio")]
            ReplySender::Tokio(tx) => {
                let _ = tx.send(value);
            }
        }
    }
}

pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

impl<T> Host<T> {
    /// Default per-plugin queue capacity (as in the original crate).
    pub const DEFAULT_CHANNEL_CAPACITY: usize = 4;
}

impl<T: Send + Sync + 'static> Host<T> {
    /// An empty host.
    pub fn new() -> Self {
        Self { core: Core::new() }
    }

    /// Reports [`BusEvent`]s as they happen (from worker or sending threads).
    /// Applies to plugins attached afterwards.
    pub fn on_event(&mut self, observer: impl Fn(&BusEvent) + Send + Sync + 'static) {
        self.core.set_observer(Arc::new(observer));
    }

    /// Attaches a plugin with the default queue capacity and blocking policy.
    pub fn attach(&mut self, plugin: impl Plugin<T>) -> PluginId {
        self.attach_with(plugin, AttachOptions::default())
    }

    /// Attaches a plugin with a queue of `capacity` messages.
    pub fn attach_with_capacity(&mut self, plugin: impl Plugin<T>, capacity: usize) -> PluginId {
        self.attach_with(plugin, AttachOptions::default().capacity(capacity))
    }

    /// Attaches a plugin with options; it starts on its own worker thread.
    pub fn attach_with(&mut self, mut plugin: impl Plugin<T>, opts: AttachOptions<T>) -> PluginId {
        let name = opts.name.clone();
        self.core.attach(opts, move |w| {
            spawn_worker(name.as_deref(), move || w.run(&mut plugin))
        })
    }

    /// Detaches a plugin: it finishes the message in hand (if any) and stops;
    /// its queued messages are dropped (counted). `false` if unknown.
    pub fn detach(&mut self, id: PluginId) -> bool {
        self.core.detach(id)
    }

    /// Sends `message` to every attached plugin whose filter accepts it;
    /// returns how many queued it. Plugins that have stopped count as
    /// undeliverable ([`Host::undeliverable`]).
    pub fn send(&mut self, message: impl Into<Message<T>>) -> usize {
        self.send_until(message.into(), None)
    }

    /// [`Host::send`], waiting for room in a full `Block` queue only until
    /// `deadline` (past it, that plugin's copy is dropped and counted). With
    /// a deadline every plugin with room gets the message first, so one full
    /// queue does not hold back the others.
    fn send_until(&mut self, message: Message<T>, deadline: Option<Instant>) -> usize {
        let mut delivered = 0;
        let mut full = Vec::new();
        for (i, slot) in self.core.slots.iter().enumerate() {
            if !Core::wants(slot, &message) {
                continue;
            }
            let pushed = if deadline.is_some() {
                match slot.queue.offer(message.clone(), slot.policy) {
                    Ok(pushed) => pushed,
                    Err(_) => {
                        full.push(i);
                        continue;
                    }
                }
            } else {
                slot.queue.push(message.clone(), slot.policy)
            };
            delivered += self.core.account(slot, pushed);
        }
        for i in full {
            let slot = &self.core.slots[i];
            let pushed = slot
                .queue
                .push_until(message.clone(), slot.policy, deadline);
            delivered += self.core.account(slot, pushed);
        }
        delivered
    }

    /// Sends a request built around a [`Replier`] and collects every reply,
    /// returning once each plugin that received it has handled it (or at
    /// `timeout`, with the replies so far). The timeout covers the send too:
    /// a plugin whose full `Block` queue has no room by then does not get
    /// the request (counted as dropped).
    pub fn request<R: Send + 'static>(
        &mut self,
        build: impl FnOnce(Replier<R>) -> T,
        timeout: Duration,
    ) -> Vec<R> {
        let deadline = Instant::now() + timeout;
        let (tx, rx) = mpsc::channel();
        self.send_until(build(Replier(ReplySender::Std(tx))).into(), Some(deadline));
        collect_replies(&rx, deadline.saturating_duration_since(Instant::now()))
    }

    /// Messages that found a plugin already stopped.
    pub fn undeliverable(&self) -> u64 {
        self.core.undeliverable()
    }

    /// Metrics of one plugin.
    pub fn metrics(&self, id: PluginId) -> Option<MetricsSnapshot> {
        self.core.metrics(id)
    }

    /// The attached plugins, in attach order.
    pub fn plugins(&self) -> Vec<PluginId> {
        self.core.plugins()
    }

    /// Closes every queue, lets each plugin drain what it has, waits for all
    /// of them, and returns one report per plugin in attach order.
    pub fn end(self) -> Vec<PluginReport> {
        self.finish(None)
    }

    /// [`Host::end`], but gives up on plugins still running at `deadline`
    /// (reported as [`PluginFailure::TimedOut`]; their threads are left to finish).
    pub fn end_with_deadline(self, deadline: Duration) -> Vec<PluginReport> {
        self.finish(Some(Instant::now() + deadline))
    }

    fn finish(mut self, deadline: Option<Instant>) -> Vec<PluginReport> {
        self.core.close_all();
        let mut reports = Vec::with_capacity(self.core.slots.len());
        for mut slot in std::mem::take(&mut self.core.slots) {
            let worker = slot.worker.take().expect("joined once");
            let result = match deadline {
                None => join(worker),
                Some(at) => {
                    while !worker.is_finished() && Instant::now() < at {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    if worker.is_finished() {
                        join(worker)
                    } else {
                        Err(PluginFailure::TimedOut)
                    }
                }
            };
            reports.push(Core::report(&slot, result));
        }
        reports
    }
}

/// Collects replies until every holder of the request has dropped it, or the timeout.
pub(crate) fn collect_replies<R>(rx: &mpsc::Receiver<R>, timeout: Duration) -> Vec<R> {
    let deadline = Instant::now() + timeout;
    let mut replies = Vec::new();
    // The sender lives in the message: the channel closes when the last
    // recipient has dropped it.
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(r) => replies.push(r),
            Err(mpsc::RecvTimeoutError::Disconnected) => return replies,
            Err(mpsc::RecvTimeoutError::Timeout) => break,
        }
    }
    // Replies that arrived by the deadline count, even if it has passed
    // (e.g. while the send waited for room in a full queue).
    replies.extend(rx.try_iter());
    replies
}

/// A plugin's worker loop: handle queued messages one at a time until the
/// queue closes, the plugin asks to stop, or it panics. Shared by both hosts.
pub(crate) fn run_worker<T, P: Plugin<T> + ?Sized>(
    id: PluginId,
    plugin: &mut P,
    q: &Queue<T>,
    m: &Metrics,
    detached: &Mutex<Option<String>>,
    emit: &dyn Fn(BusEvent),
) -> Result<Option<u8>, PluginFailure> {
    let mut batch = std::collections::VecDeque::new();
    while q.pop_batch(&mut batch, 64) {
        while let Some(msg) = batch.pop_front() {
            let start = Instant::now();
            match catch_unwind(AssertUnwindSafe(|| plugin.handle_message(msg))) {
                Ok(None) => m.record_handled(start.elapsed()),
                Ok(Some(code)) => {
                    m.record_handled(start.elapsed());
                    let left = q.close(Closed::Gone) + batch.len();
                    m.dropped.fetch_add(left as u64, Ordering::Relaxed);
                    emit(BusEvent::Stopped { id, code });
                    return Ok(Some(code));
                }
                Err(payload) => {
                    m.errors.fetch_add(1, Ordering::Relaxed);
                    let left = q.close(Closed::Gone) + batch.len();
                    m.dropped.fetch_add(left as u64, Ordering::Relaxed);
                    let message = panic_text(&*payload);
                    emit(BusEvent::Panicked {
                        id,
                        message: message.clone(),
                    });
                    return Err(PluginFailure::Panicked(message));
                }
            }
            // Detached while working through a batch: drop the rest (counted).
            if !batch.is_empty() && q.is_gone() {
                m.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
                batch.clear();
            }
        }
    }
    match detached.lock().unwrap_or_else(|p| p.into_inner()).clone() {
        Some(reason) => Err(PluginFailure::Detached(reason)),
        None => Ok(None),
    }
}

fn join(
    worker: JoinHandle<Result<Option<u8>, PluginFailure>>,
) -> Result<Option<u8>, PluginFailure> {
    worker
        .join()
        .unwrap_or_else(|p| Err(PluginFailure::Panicked(panic_text(&*p))))
}

/// Dropping a host closes every queue, lets each plugin drain what it has
/// and joins its thread (the original crate's contract): a plugin stuck in
/// a handler keeps the drop waiting. Use [`Host::end_with_deadline`] to
/// bound shutdown.
impl<T> Drop for Host<T> {
    fn drop(&mut self) {
        // Like `end`, without reports: close, drain, join.
        for slot in &self.core.slots {
            slot.queue.close(Closed::Draining);
        }
        for slot in &mut self.core.slots {
            if let Some(w) = slot.worker.take() {
                let _ = w.join();
            }
        }
    }
}
