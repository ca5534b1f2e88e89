//! The tokio [`Host`]: the same semantics as the std host, with an async
//! API where waiting is involved (`send` under `Block`, `end`, `request`).
//! Each plugin runs on a thread of its own (not the runtime's blocking
//! pool, which plugins would exhaust), so a slow `handle_message` never
//! stalls the runtime's async workers; the host awaits replies and ends.

use crate::host::{
    panic_text, spawn_worker, AttachOptions, BusEvent, Core, PluginFailure, PluginId, PluginReport,
    Replier, ReplySender,
};
use crate::message::Message;
use crate::metrics::MetricsSnapshot;
use crate::Plugin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// A plugin's worker thread, awaited through the result it sends at its end.
type TokioWorker = oneshot::Receiver<Result<Option<u8>, PluginFailure>>;

/// A message-passing plugin host on tokio.
pub struct Host<T> {
    core: Core<T, TokioWorker>,
}

impl<T: Send + Sync + 'static> Default for Host<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + Sync + 'static> Host<T> {
    /// Default per-plugin queue capacity.
    pub const DEFAULT_CHANNEL_CAPACITY: usize = 4;

    /// An empty host (must be used inside a tokio runtime).
    pub fn new() -> Self {
        Self { core: Core::new() }
    }

    /// Reports [`BusEvent`]s as they happen; applies to plugins attached afterwards.
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

    /// Attaches a plugin with options; its worker runs on a thread of its own.
    pub fn attach_with(&mut self, mut plugin: impl Plugin<T>, opts: AttachOptions<T>) -> PluginId {
        let name = opts.name.clone();
        // The worker runs inside the runtime's context (as a blocking-pool
        // thread would), so a plugin may use `Handle::current()`.
        let runtime = tokio::runtime::Handle::try_current().ok();
        self.core.attach(opts, move |w| {
            let (done, worker) = oneshot::channel();
            spawn_worker(name.as_deref(), move || {
                let _context = runtime.as_ref().map(tokio::runtime::Handle::enter);
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.run(&mut plugin)))
                        .unwrap_or_else(|p| Err(PluginFailure::Panicked(panic_text(&*p))));
                let _ = done.send(result);
            });
            worker
        })
    }

    /// Detaches a plugin (see the std host).
    pub fn detach(&mut self, id: PluginId) -> bool {
        self.core.detach(id)
    }

    /// Sends `message` to every interested plugin; under `Block` it awaits
    /// room without blocking a thread. Returns how many queued it.
    pub async fn send(&mut self, message: impl Into<Message<T>>) -> usize {
        self.send_until(message.into(), None).await
    }

    /// [`Host::send`], awaiting room in a full `Block` queue only until
    /// `deadline` (past it, that plugin's copy is dropped and counted).
    async fn send_until(
        &mut self,
        message: Message<T>,
        deadline: Option<tokio::time::Instant>,
    ) -> usize {
        let Some(at) = deadline else {
            let mut delivered = 0;
            for slot in &self.core.slots {
                if Core::wants(slot, &message) {
                    let pushed = slot.queue.push_async(message.clone(), slot.policy).await;
                    delivered += self.core.account(slot, pushed);
                }
            }
            return delivered;
        };
        // Every plugin with room first, so one full queue does not hold back
        // the others; then the full ones, each until the deadline.
        let mut delivered = 0;
        let mut full = Vec::new();
        for (i, slot) in self.core.slots.iter().enumerate() {
            if Core::wants(slot, &message) {
                match slot.queue.offer(message.clone(), slot.policy) {
                    Ok(pushed) => delivered += self.core.account(slot, pushed),
                    Err(_) => full.push(i),
                }
            }
        }
        for i in full {
            let slot = &self.core.slots[i];
            let push = slot.queue.push_async(message.clone(), slot.policy);
            // Cancelling `push_async` only drops this plugin's copy.
            let pushed = tokio::time::timeout_at(at, push)
                .await
                .unwrap_or(crate::queue::Push::Dropped);
            delivered += self.core.account(slot, pushed);
        }
        delivered
    }

    /// Sends a request around a [`Replier`] and awaits every reply (or the
    /// timeout, which covers awaiting room in full queues too).
    pub async fn request<R: Send + 'static>(
        &mut self,
        build: impl FnOnce(Replier<R>) -> T,
        timeout: Duration,
    ) -> Vec<R> {
        let deadline = tokio::time::Instant::now() + timeout;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        self.send_until(
            build(Replier(ReplySender::Tokio(tx))).into(),
            Some(deadline),
        )
        .await;
        let mut replies = Vec::new();
        // The sender lives in the message: the channel closes when the last
        // recipient has dropped it.
        let _ = tokio::time::timeout_at(deadline, async {
            while let Some(r) = rx.recv().await {
                replies.push(r);
            }
        })
        .await;
        // Replies that arrived by the deadline count.
        while let Ok(r) = rx.try_recv() {
            replies.push(r);
        }
        replies
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

    /// Closes every queue, lets each plugin drain, awaits them all, and
    /// returns one report per plugin in attach order.
    pub async fn end(self) -> Vec<PluginReport> {
        self.finish(None).await
    }

    /// [`Host::end`], giving up on plugins still running after `deadline`.
    pub async fn end_with_deadline(self, deadline: Duration) -> Vec<PluginReport> {
        self.finish(Some(tokio::time::Instant::now() + deadline))
            .await
    }

    async fn finish(mut self, deadline: Option<tokio::time::Instant>) -> Vec<PluginReport> {
        self.core.close_all();
        let mut reports = Vec::with_capacity(self.core.slots.len());
        for mut slot in std::mem::take(&mut self.core.slots) {
            let mut worker = slot.worker.take().expect("joined once");
            let joined = match deadline {
                None => Some((&mut worker).await),
                Some(at) => tokio::time::timeout_at(at, &mut worker).await.ok(),
            };
            let result = match joined {
                Some(Ok(r)) => r,
                Some(Err(_)) => Err(PluginFailure::Panicked(
                    "the plugin's worker thread ended without a result".into(),
                )),
                None => Err(PluginFailure::TimedOut),
            };
            reports.push(Core::report(&slot, result));
        }
        reports
    }
}

impl<T> Drop for Host<T> {
    fn drop(&mut self) {
        // Close the queues so workers drain and finish on their own (no
        // blocking join inside an async context).
        for slot in &self.core.slots {
            slot.queue.close(crate::queue::Closed::Draining);
        }
    }
}
