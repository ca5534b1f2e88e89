//! The tokio host: same contract as the std host, async where waiting is
//! involved, and a full queue under `Block` never blocks the runtime thread.
#![cfg(feature = "tokio")]

use fidius_bus::tokio_host::Host;
use fidius_bus::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_stop_codes_panics_and_drain() {
    let mut host = Host::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    host.attach(from_fn(move |m: Message<u32>| {
        s.lock().unwrap().push(*m);
        None
    }));
    host.attach(from_fn(|m: Message<u32>| (*m == 10).then_some(3)));
    host.attach(from_fn(|m: Message<u32>| {
        if *m == 20 {
            panic!("tokio plugin failed")
        } else {
            None
        }
    }));
    for i in 0..500 {
        host.send(i).await;
    }
    let reports = host.end().await;
    assert_eq!(*seen.lock().unwrap(), (0..500).collect::<Vec<_>>());
    assert_eq!(reports[0].result, Ok(None));
    assert_eq!(reports[1].result, Ok(Some(3)));
    assert_eq!(
        reports[2].result,
        Err(PluginFailure::Panicked("tokio plugin failed".into()))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_blocking_queue_does_not_block_the_runtime() {
    let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let mut host = Host::new();
    host.attach_with(
        from_fn(move |m: Message<u32>| {
            gate_rx.recv().unwrap();
            s.lock().unwrap().push(*m);
            None
        }),
        AttachOptions::default()
            .capacity(1)
            .policy(QueuePolicy::Block),
    );
    // On this single runtime thread, the gate can only open if `send` awaits
    // instead of blocking the thread.
    let opener = tokio::spawn(async move {
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(2)).await;
            gate_tx.send(()).unwrap();
        }
    });
    let sent = tokio::time::timeout(Duration::from_secs(20), async {
        for i in 0..6 {
            host.send(i).await;
        }
        host
    })
    .await
    .expect("send blocked the runtime");
    opener.await.unwrap();
    let reports = sent.end().await;
    assert_eq!(reports[0].result, Ok(None));
    assert_eq!(*seen.lock().unwrap(), (0..6).collect::<Vec<_>>());
}

#[derive(Debug)]
struct Ping(Replier<u32>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_and_deadline() {
    let mut host = Host::new();
    for n in [1u32, 2] {
        host.attach(from_fn(move |m: Message<Ping>| {
            m.0.reply(n);
            None
        }));
    }
    let mut replies = host.request(Ping, Duration::from_secs(10)).await;
    replies.sort();
    assert_eq!(replies, [1, 2]);
    let reports = host.end_with_deadline(Duration::from_secs(10)).await;
    assert!(reports.iter().all(|r| r.result == Ok(None)));
}

#[derive(Debug)]
enum Job {
    Fill,
    Ping(Replier<u32>),
}

#[tokio::test(flavor = "current_thread")]
async fn request_timeout_bounds_the_send_to_a_full_blocking_queue() {
    let mut host = Host::new();
    // Declared after the host, so a failed assertion releases the stuck
    // handler before anything waits for it.
    let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
    let (start_tx, start_rx) = std::sync::mpsc::channel::<()>();
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
            r.reply(7);
        }
        None
    }));
    host.send(Job::Fill).await;
    tokio::task::spawn_blocking(move || start_rx.recv().unwrap())
        .await
        .unwrap();
    host.send(Job::Fill).await; // the stuck plugin's queue is now full
    let replies = host.request(Job::Ping, Duration::from_millis(300)).await;
    assert_eq!(replies, [7]);
    assert_eq!(host.metrics(stuck).unwrap().dropped, 1);
    drop(gate_tx);
    let reports = host.end_with_deadline(Duration::from_secs(10)).await;
    assert!(reports.iter().all(|r| r.result == Ok(None)));
}

/// Plugins never hold the runtime's blocking pool: with a pool of one
/// thread and more plugins than that, a request still gets every reply, and
/// one to a plugin that never answers returns at its timeout.
#[test]
fn requests_complete_with_a_tiny_blocking_pool() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut host: Host<Replier<u32>> = Host::new();
        for i in 0..4u32 {
            host.attach(from_fn(move |m: Message<Replier<u32>>| {
                m.reply(i);
                None
            }));
        }
        // A hang guard, not a timing check: a wedged request fails here.
        let guard = Duration::from_secs(30);
        let mut replies = tokio::time::timeout(guard, host.request(|r| r, Duration::from_secs(20)))
            .await
            .expect("request never returned");
        replies.sort();
        assert_eq!(replies, [0, 1, 2, 3]);
        // Plugins run inside the runtime's context.
        host.attach(from_fn(|m: Message<Replier<u32>>| {
            m.reply(u32::from(tokio::runtime::Handle::try_current().is_ok()) + 100);
            None
        }));
        let replies = tokio::time::timeout(guard, host.request(|r| r, Duration::from_secs(20)))
            .await
            .expect("request never returned");
        assert!(replies.contains(&101), "{replies:?}");

        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = Mutex::new(wait);
        host.attach(from_fn(move |_m: Message<Replier<u32>>| {
            // Never replies while the request is open.
            let _ = wait.lock().unwrap().recv();
            None
        }));
        let replies = tokio::time::timeout(guard, host.request(|r| r, Duration::from_millis(300)))
            .await
            .expect("request past its timeout never returned");
        assert_eq!(replies.len(), 5, "{replies:?}");
        drop(release);
        let reports = tokio::time::timeout(guard, host.end())
            .await
            .expect("end never returned");
        assert_eq!(reports.len(), 6);
        assert!(reports.iter().all(|r| r.result == Ok(None)), "{reports:?}");
    });
}
