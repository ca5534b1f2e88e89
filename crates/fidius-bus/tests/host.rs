//! The std host's contract: per-plugin order, cross-plugin concurrency,
//! every queue policy, panic isolation, stop codes, drain on end, filters,
//! request/reply, metrics and deadlines. No test depends on timing for
//! correctness; sleeps only give a violation the chance to show.

use fidius_bus::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A plugin that records what it sees; it waits for `gate` before each
/// message when given one, and tells `started` when it begins a message.
struct Recorder {
    seen: Arc<Mutex<Vec<u32>>>,
    gate: Option<Receiver<()>>,
    started: Option<Sender<u32>>,
}

impl Plugin<u32> for Recorder {
    fn handle_message(&mut self, m: Message<u32>) -> Option<u8> {
        if let Some(s) = &self.started {
            let _ = s.send(*m);
        }
        if let Some(g) = &self.gate {
            let _ = g.recv();
        }
        self.seen.lock().unwrap().push(*m);
        None
    }
}

type Seen = Arc<Mutex<Vec<u32>>>;

fn recorder() -> (Recorder, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    (
        Recorder {
            seen: seen.clone(),
            gate: None,
            started: None,
        },
        seen,
    )
}

/// A recorder that blocks on every message until the gate is fed, and reports starts.
fn gated() -> (Recorder, Seen, Sender<()>, Receiver<u32>) {
    let (gate_tx, gate_rx) = channel();
    let (start_tx, start_rx) = channel();
    let seen = Arc::new(Mutex::new(Vec::new()));
    (
        Recorder {
            seen: seen.clone(),
            gate: Some(gate_rx),
            started: Some(start_tx),
        },
        seen,
        gate_tx,
        start_rx,
    )
}

#[test]
fn each_plugin_sees_every_message_in_send_order() {
    let mut host = Host::new();
    let (a, seen_a) = recorder();
    let (b, seen_b) = recorder();
    host.attach(a);
    host.attach_with_capacity(b, 1);
    for i in 0..2000 {
        assert_eq!(host.send(i), 2);
    }
    let reports = host.end();
    assert!(reports.iter().all(|r| r.result == Ok(None)));
    let expected: Vec<u32> = (0..2000).collect();
    assert_eq!(*seen_a.lock().unwrap(), expected);
    assert_eq!(*seen_b.lock().unwrap(), expected);
    assert!(reports
        .iter()
        .all(|r| r.metrics.handled == 2000 && r.metrics.dropped == 0));
}

#[test]
fn plugins_run_concurrently() {
    // Each plugin waits for the other to have started: only concurrent workers can both finish.
    let (tx_a, rx_a) = channel::<()>();
    let (tx_b, rx_b) = channel::<()>();
    let ok = Arc::new(AtomicUsize::new(0));
    let mut host = Host::new();
    for (tell, wait) in [(tx_a, rx_b), (tx_b, rx_a)] {
        let ok = ok.clone();
        host.attach(from_fn(move |_m: Message<u32>| {
            tell.send(()).unwrap();
            if wait.recv_timeout(Duration::from_secs(20)).is_ok() {
                ok.fetch_add(1, Ordering::SeqCst);
            }
            None
        }));
    }
    host.send(1);
    host.end();
    assert_eq!(
        ok.load(Ordering::SeqCst),
        2,
        "both plugins must have run at the same time"
    );
}

#[test]
fn block_policy_makes_the_sender_wait() {
    let (p, seen, gate, started) = gated();
    let mut host = Host::new();
    host.attach_with(
        p,
        AttachOptions::default()
            .capacity(2)
            .policy(QueuePolicy::Block),
    );
    host.send(0);
    started.recv().unwrap(); // message 0 is in the plugin's hand; the queue is empty
    let progress = Arc::new(AtomicUsize::new(0));
    let pr = progress.clone();
    let sender = std::thread::spawn(move || {
        for i in 1..10 {
            host.send(i);
            pr.fetch_add(1, Ordering::SeqCst);
        }
        host
    });
    std::thread::sleep(Duration::from_millis(100));
    // Two messages fill the queue; the third send waits for room.
    assert_eq!(
        progress.load(Ordering::SeqCst),
        2,
        "the sender got past a full queue"
    );
    for _ in 0..10 {
        gate.send(()).unwrap();
    }
    let host = sender.join().unwrap();
    host.end();
    assert_eq!(*seen.lock().unwrap(), (0..10).collect::<Vec<_>>());
}

#[test]
fn drop_newest_and_drop_oldest_policies() {
    for (policy, expected) in [
        (QueuePolicy::DropNewest, vec![0, 1, 2]),
        (QueuePolicy::DropOldest, vec![0, 8, 9]),
    ] {
        let (p, seen, gate, started) = gated();
        let mut host = Host::new();
        let id = host.attach_with(p, AttachOptions::default().capacity(2).policy(policy));
        host.send(0);
        started.recv().unwrap(); // message 0 is in the plugin's hand
        for i in 1..10 {
            host.send(i);
        }
        let m = host.metrics(id).unwrap();
        assert_eq!((m.queue_depth, m.dropped), (2, 7), "{policy:?}");
        for _ in 0..3 {
            gate.send(()).unwrap();
        }
        let reports = host.end();
        assert_eq!(*seen.lock().unwrap(), expected, "{policy:?}");
        assert_eq!(reports[0].metrics.dropped, 7);
        assert_eq!(reports[0].result, Ok(None));
    }
}

#[test]
fn detach_policy_isolates_a_slow_plugin() {
    let (slow, seen_slow, gate, started) = gated();
    let (fast, seen_fast) = recorder();
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut host = Host::new();
    let ev = events.clone();
    host.on_event(move |e| ev.lock().unwrap().push(e.clone()));
    let slow_id = host.attach_with(
        slow,
        AttachOptions::default()
            .capacity(1)
            .policy(QueuePolicy::Detach)
            .name("slow"),
    );
    host.attach(fast);
    host.send(0);
    started.recv().unwrap();
    assert_eq!(host.send(1), 2);
    assert_eq!(
        host.send(2),
        1,
        "the slow plugin is detached, the fast one still receives"
    );
    assert_eq!(host.send(3), 1);
    assert_eq!(host.undeliverable(), 1);
    gate.send(()).unwrap();
    let reports = host.end();
    assert_eq!(reports[0].name, "slow");
    assert!(matches!(&reports[0].result, Err(PluginFailure::Detached(r)) if r.contains("Detach")));
    assert_eq!(*seen_slow.lock().unwrap(), [0]);
    assert_eq!(*seen_fast.lock().unwrap(), [0, 1, 2, 3]);
    assert!(events.lock().unwrap().contains(&BusEvent::Detached {
        id: slow_id,
        reason: "its queue was full (QueuePolicy::Detach)".into()
    }));
}

#[test]
fn a_panicking_plugin_is_detached_and_the_others_keep_running() {
    let mut host = Host::new();
    let crashy = host.attach(from_fn(|m: Message<u32>| {
        if *m == 3 {
            panic!("cannot handle {}", *m);
        }
        None
    }));
    let (ok, seen) = recorder();
    host.attach(ok);
    for i in 0..10 {
        host.send(i);
    }
    let reports = host.end();
    assert_eq!(reports[0].id, crashy);
    assert_eq!(
        reports[0].result,
        Err(PluginFailure::Panicked("cannot handle 3".into()))
    );
    assert_eq!(reports[0].metrics.errors, 1);
    assert_eq!(*seen.lock().unwrap(), (0..10).collect::<Vec<_>>());
}

#[test]
fn stop_codes_are_reported_and_observed() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut host = Host::new();
    let ev = events.clone();
    host.on_event(move |e| ev.lock().unwrap().push(e.clone()));
    let quitter = host.attach(from_fn(|m: Message<u32>| (*m == 5).then_some(7)));
    let (ok, seen) = recorder();
    host.attach(ok);
    for i in 0..10 {
        host.send(i);
    }
    let reports = host.end();
    assert_eq!(reports[0].result, Ok(Some(7)));
    assert_eq!(reports[1].result, Ok(None));
    assert_eq!(seen.lock().unwrap().len(), 10);
    assert!(events.lock().unwrap().contains(&BusEvent::Stopped {
        id: quitter,
        code: 7
    }));
}

#[test]
fn end_drains_queued_messages() {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let mut host = Host::new();
    host.attach_with_capacity(
        from_fn(move |_m: Message<u32>| {
            std::thread::sleep(Duration::from_millis(1));
            c.fetch_add(1, Ordering::SeqCst);
            None
        }),
        100,
    );
    for i in 0..50 {
        host.send(i);
    }
    let reports = host.end();
    assert_eq!(count.load(Ordering::SeqCst), 50);
    assert_eq!(reports[0].metrics.handled, 50);
    let histogram_total: u64 = reports[0].metrics.histogram.iter().sum();
    assert_eq!(histogram_total, 50);
}

#[test]
fn filters_route_by_interest_and_messages_are_shared_not_copied() {
    let mut host = Host::new();
    let (even, seen_even) = recorder();
    host.attach_with(even, AttachOptions::default().filter(|v: &u32| v % 2 == 0));
    let got: Arc<Mutex<Vec<Message<u32>>>> = Arc::default();
    for _ in 0..2 {
        let g = got.clone();
        host.attach(from_fn(move |m: Message<u32>| {
            g.lock().unwrap().push(m);
            None
        }));
    }
    assert_eq!(host.send(2), 3);
    assert_eq!(host.send(3), 2);
    host.end();
    assert_eq!(*seen_even.lock().unwrap(), [2]);
    let got = got.lock().unwrap();
    let twos: Vec<&Message<u32>> = got.iter().filter(|m| ***m == 2).collect();
    assert!(
        Message::ptr_eq(twos[0], twos[1]),
        "in-process plugins share one allocation"
    );
}

#[derive(Debug)]
enum Ask {
    Ping(Replier<String>),
}

#[test]
fn request_collects_the_replies_of_plugins_that_answer() {
    let mut host = Host::new();
    for name in ["a", "b"] {
        host.attach(from_fn(move |m: Message<Ask>| {
            let Ask::Ping(r) = &*m;
            r.reply(format!("pong from {name}"));
            None
        }));
    }
    host.attach(from_fn(|_m: Message<Ask>| None)); // stays silent
    let mut replies = host.request(Ask::Ping, Duration::from_secs(10));
    replies.sort();
    assert_eq!(replies, ["pong from a", "pong from b"]);
    host.end();
}

#[test]
fn end_with_deadline_reports_stuck_plugins() {
    let (stuck, _seen, gate, started) = gated();
    let (ok, _) = recorder();
    let mut host = Host::new();
    host.attach(stuck);
    host.attach(ok);
    host.send(1);
    started.recv().unwrap();
    let reports = host.end_with_deadline(Duration::from_millis(200));
    assert_eq!(reports[0].result, Err(PluginFailure::TimedOut));
    assert_eq!(reports[1].result, Ok(None));
    gate.send(()).unwrap(); // let the stuck worker finish
}

#[derive(Debug)]
enum Job {
    Fill,
    Ping(Replier<String>),
}

#[test]
fn request_timeout_bounds_the_send_to_a_full_blocking_queue() {
    // A plugin stuck in a handler with its (Block, capacity 1) queue full:
    // the request must still return at its timeout, with the other reply.
    let mut host = Host::new();
    // Declared after the host: on a failed assertion the gate is dropped
    // first, releasing the stuck handler before the host's drop joins it.
    let (gate_tx, gate_rx) = channel::<()>();
    let (start_tx, start_rx) = channel::<()>();
    let stuck = host.attach_with_capacity(
        from_fn(move |_m: Message<Job>| {
            let _ = start_tx.send(());
            let _ = gate_rx.recv();
            None
        }),
        1,
    );
    host.attach(from_fn(|m: Message<Job>| {
        if let Job::Ping(r) = &*m {
            r.reply("pong".to_string());
        }
        None
    }));
    host.send(Job::Fill);
    start_rx.recv().unwrap(); // the stuck plugin holds the first message
    host.send(Job::Fill); // and its queue is now full
    let replies = host.request(Job::Ping, Duration::from_millis(300));
    assert_eq!(replies, ["pong"]);
    assert_eq!(host.metrics(stuck).unwrap().dropped, 1);
    drop(gate_tx); // release the stuck handler so `end` can drain
    host.end();
}
