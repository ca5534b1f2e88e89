//! The bounded queue between the host and one plugin's worker, with a
//! [`QueuePolicy`] for when it is full, so one slow plugin need not stall
//! the others.

use crate::message::Message;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

/// What `send` does when a plugin's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueuePolicy {
    /// Wait for room (the original crate's only behaviour): the slowest
    /// plugin sets the pace. Capacity counts queued messages; the worker
    /// takes waiting messages in batches (up to 64), which no longer count.
    #[default]
    Block,
    /// Make room by dropping the oldest queued message (counted).
    DropOldest,
    /// Drop the new message for this plugin (counted).
    DropNewest,
    /// Detach the plugin: it stops receiving; its queue is dropped (counted).
    Detach,
}

/// Why a queue no longer accepts messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// The host is ending: the worker drains what is left.
    Draining,
    /// The plugin stopped or was detached: nothing more is handled.
    Gone,
}

pub(crate) struct State<T> {
    pub items: VecDeque<Message<T>>,
    pub closed: Option<Closed>,
    /// The worker is waiting for a message (only then is a wake-up needed).
    consumer_waiting: bool,
    /// Senders waiting for room.
    senders_waiting: usize,
}

/// Result of offering a message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Push {
    Queued,
    /// Queued after dropping the oldest message.
    QueuedDroppedOldest,
    Dropped,
    /// The queue was full under `QueuePolicy::Detach`.
    Detach,
    Gone,
}

pub(crate) struct Queue<T> {
    state: Mutex<State<T>>,
    not_empty: Condvar,
    not_full: Condvar,
    /// Wakes async senders waiting for room (tokio host).
    #[cfg(feature = "tokio")]
    room: tokio::sync::Notify,
    capacity: usize,
}

impl<T> Queue<T> {
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                items: VecDeque::with_capacity(capacity.min(1024)),
                closed: None,
                consumer_waiting: false,
                senders_waiting: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            #[cfg(feature = "tokio")]
            room: tokio::sync::Notify::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A worker never panics while holding the lock (plugin code runs unlocked).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// One attempt under the lock; `Err(msg)` means "full: wait for room" (Block).
    fn try_push(
        &self,
        s: &mut State<T>,
        msg: Message<T>,
        policy: QueuePolicy,
    ) -> Result<Push, Message<T>> {
        if s.closed.is_some() {
            return Ok(Push::Gone);
        }
        if s.items.len() < self.capacity {
            s.items.push_back(msg);
            return Ok(Push::Queued);
        }
        match policy {
            QueuePolicy::Block => Err(msg),
            QueuePolicy::DropNewest => Ok(Push::Dropped),
            QueuePolicy::DropOldest => {
                s.items.pop_front();
                s.items.push_back(msg);
                Ok(Push::QueuedDroppedOldest)
            }
            QueuePolicy::Detach => Ok(Push::Detach),
        }
    }

    /// One offer without waiting: `Err(msg)` if a `Block` queue is full.
    pub fn offer(&self, msg: Message<T>, policy: QueuePolicy) -> Result<Push, Message<T>> {
        let mut s = self.lock();
        let pushed = self.try_push(&mut s, msg, policy)?;
        Ok(self.release_after_push(s, pushed))
    }

    /// Unlocks after a successful offer and wakes the worker if it waits;
    /// woken outside the lock, so it does not wake only to block on the
    /// mutex we still hold.
    fn release_after_push(&self, s: MutexGuard<'_, State<T>>, pushed: Push) -> Push {
        let wake = s.consumer_waiting;
        drop(s);
        if wake {
            self.not_empty.notify_one();
        }
        pushed
    }

    /// Offers a message, waiting (blocking the thread) for room under `Block`.
    pub fn push(&self, msg: Message<T>, policy: QueuePolicy) -> Push {
        self.push_until(msg, policy, None)
    }

    /// [`Queue::push`], but under `Block` waits for room only until
    /// `deadline`; past it the message is dropped for this plugin
    /// (`Push::Dropped`, counted like any drop).
    pub fn push_until(
        &self,
        mut msg: Message<T>,
        policy: QueuePolicy,
        deadline: Option<std::time::Instant>,
    ) -> Push {
        let mut s = self.lock();
        loop {
            match self.try_push(&mut s, msg, policy) {
                Ok(p) => return self.release_after_push(s, p),
                Err(m) => {
                    msg = m;
                    s.senders_waiting += 1;
                    s = match deadline {
                        None => self.not_full.wait(s).unwrap_or_else(|p| p.into_inner()),
                        Some(at) => {
                            let left = at.saturating_duration_since(std::time::Instant::now());
                            if left.is_zero() {
                                s.senders_waiting -= 1;
                                return Push::Dropped;
                            }
                            self.not_full
                                .wait_timeout(s, left)
                                .unwrap_or_else(|p| p.into_inner())
                                .0
                        }
                    };
                    s.senders_waiting -= 1;
                }
            }
        }
    }

    /// Moves up to `max` waiting messages into `out` (one lock for many);
    /// `false` once closed (and drained, when draining).
    pub fn pop_batch(&self, out: &mut VecDeque<Message<T>>, max: usize) -> bool {
        let mut s = self.lock();
        let mut yields = 0;
        loop {
            match s.closed {
                Some(Closed::Gone) => return false,
                Some(Closed::Draining) if s.items.is_empty() => return false,
                _ => {}
            }
            if !s.items.is_empty() {
                let n = s.items.len().min(max.max(1));
                out.extend(s.items.drain(..n));
                if s.senders_waiting > 0 {
                    self.not_full.notify_all();
                }
                #[cfg(feature = "tokio")]
                self.room.notify_waiters();
                return true;
            }
            // Before parking, give the sender a few chances to fill the
            // queue: a yield is far cheaper than a park/wake round trip, and
            // it lets the worker take messages in batches.
            if yields < 4 {
                yields += 1;
                drop(s);
                std::thread::yield_now();
                s = self.lock();
                continue;
            }
            s.consumer_waiting = true;
            s = self.not_empty.wait(s).unwrap_or_else(|p| p.into_inner());
            s.consumer_waiting = false;
        }
    }

    /// Whether the plugin stopped or was detached (its in-hand messages are void).
    pub fn is_gone(&self) -> bool {
        self.lock().closed == Some(Closed::Gone)
    }

    /// Closes the queue; returns how many queued messages were discarded.
    pub fn close(&self, how: Closed) -> usize {
        let mut s = self.lock();
        if s.closed == Some(Closed::Gone) {
            return 0;
        }
        s.closed = Some(how);
        let discarded = if how == Closed::Gone {
            let n = s.items.len();
            s.items.clear();
            n
        } else {
            0
        };
        self.not_empty.notify_all();
        self.not_full.notify_all();
        #[cfg(feature = "tokio")]
        self.room.notify_waiters();
        discarded
    }

    /// [`Queue::push`] for async senders: waits for room without blocking a thread.
    #[cfg(feature = "tokio")]
    pub async fn push_async(&self, mut msg: Message<T>, policy: QueuePolicy) -> Push {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            // Registered before the check, so a pop between the check and
            // the await is not missed.
            notified.as_mut().enable();
            {
                let mut s = self.lock();
                match self.try_push(&mut s, msg, policy) {
                    Ok(p) => return self.release_after_push(s, p),
                    Err(m) => msg = m,
                }
            }
            notified.await;
        }
    }
}
