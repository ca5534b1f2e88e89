//! fidius-bus example: plugins receive every message in order on their own
//! worker; data flows back through a channel the host hands them; a slow
//! plugin with `DropOldest` does not slow the others; stop codes and panics
//! come back from `end`.

use fidius_bus::{from_fn, AttachOptions, Host, Message, Plugin, QueuePolicy};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::time::Duration;

#[derive(Debug)]
enum Event {
    Reading(f64),
    Shutdown,
}

/// Keeps a running mean and reports it back to the host through a channel.
struct Averager {
    n: u64,
    mean: f64,
    out: SyncSender<String>,
}

impl Plugin<Event> for Averager {
    fn handle_message(&mut self, message: Message<Event>) -> Option<u8> {
        match &*message {
            Event::Reading(v) => {
                self.n += 1;
                self.mean += (v - self.mean) / self.n as f64;
                let _ = self
                    .out
                    .send(format!("mean after {} readings: {:.2}", self.n, self.mean));
                None
            }
            Event::Shutdown => Some(0),
        }
    }
}

fn std_host() {
    println!("-- std host --");
    let (tx, rx) = sync_channel(64);
    let mut host = Host::new();
    host.on_event(|e| println!("  event: {e:?}"));
    host.attach_with(
        Averager {
            n: 0,
            mean: 0.0,
            out: tx,
        },
        AttachOptions::default().name("averager"),
    );
    host.attach_with(
        from_fn(|m: Message<Event>| {
            std::thread::sleep(Duration::from_millis(5)); // a slow dashboard
            if let Event::Reading(v) = &*m {
                println!("  dashboard shows {v}");
            }
            None
        }),
        AttachOptions::default()
            .name("dashboard")
            .capacity(2)
            .policy(QueuePolicy::DropOldest),
    );
    host.attach_with(
        from_fn(|m: Message<Event>| match &*m {
            Event::Reading(v) if *v < 0.0 => panic!("negative reading {v}"),
            _ => None,
        }),
        AttachOptions::default().name("validator"),
    );
    for v in [1.0, 2.0, 3.0, -1.0, 5.0] {
        let n = host.send(Event::Reading(v));
        println!("  sent {v} to {n} plugin(s)");
    }
    host.send(Event::Shutdown);
    for line in rx.try_iter() {
        println!("  from averager: {line}");
    }
    for report in host.end() {
        println!(
            "  {}: {:?} (handled {}, dropped {}, errors {})",
            report.name,
            report.result,
            report.metrics.handled,
            report.metrics.dropped,
            report.metrics.errors
        );
    }
}

async fn tokio_host() {
    println!("-- tokio host --");
    let mut host = fidius_bus::tokio_host::Host::new();
    host.attach(from_fn(|m: Message<u32>| {
        println!("  worker got {}", *m);
        (*m == 3).then_some(42)
    }));
    for i in 0..5 {
        host.send(i).await;
    }
    for report in host.end().await {
        println!("  {}: {:?}", report.name, report.result);
    }
}

#[tokio::main]
async fn main() {
    tokio::task::spawn_blocking(std_host)
        .await
        .expect("std host");
    tokio_host().await;
}
