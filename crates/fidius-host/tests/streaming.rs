//! Streaming over a real cdylib (and in process): server, client and
//! bidirectional streams; bounded memory, backpressure, cancellation with
//! observable cleanup, mid-stream errors and panics, async consumption,
//! configured instances and async methods alongside.

use fidius_host::{CallError, PluginHandle, PluginHost};
use std::future::poll_fn;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, Instant};
use test_plugin_smoke::*;

fn library_dir() -> (tempfile::TempDir, PluginHost) {
    let lib = fidius_test::dylib_fixture(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/test-plugin-smoke"),
    )
    .build()
    .into_path();
    let (dir, host) = fidius_test::temp_host(&[&lib]);
    (dir, host)
}

fn works(host: &PluginHost, step: u64) -> StreamWorksClient {
    let handle = PluginHandle::configure_from_loaded(
        host.load("StreamWorksImpl").unwrap(),
        &StreamConfig { step },
    )
    .unwrap();
    StreamWorksClient::try_from_handle(handle).unwrap()
}

fn marker(dir: &Path, name: &str) -> (PathBuf, String) {
    let p = dir.join(name);
    (p.clone(), p.to_string_lossy().into_owned())
}

fn wait_for(path: &Path) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

async fn next<S: futures_core::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

#[test]
fn ticker_golden_hash_and_items() {
    assert_eq!(__fidius_Ticker::Ticker_INTERFACE_HASH, 0xFD152C8AA1112FC3);
    let (_dir, host) = library_dir();
    let t = TickerClient::load(&host, "TickerImpl").unwrap();
    let items: Vec<u64> = t.tick(&5).unwrap().map(Result::unwrap).collect();
    assert_eq!(items, [0, 1, 2, 3, 4]);
    assert_eq!(t.tick(&0).unwrap().count(), 0);
    // A stream slot called as a unary method is a typed error, not UB.
    assert!(matches!(
        t.handle().call_method::<_, u64>(0, &(1u32,)),
        Err(CallError::CallKindMismatch { index: 0, .. })
    ));
}

#[test]
fn unbounded_server_stream_drop_cancels() {
    let (dir, host) = library_dir();
    let w = works(&host, 3);
    let (path, m) = marker(dir.path(), "count.dropped");
    let mut s = w.count(&0, &m).unwrap();
    for i in 0..10_000u64 {
        assert_eq!(s.next().unwrap().unwrap(), i * 3);
    }
    assert!(!path.exists());
    drop(s);
    assert!(path.exists(), "dropping the stream must drop the producer");
}

#[test]
fn errors_and_panics_mid_stream_are_typed_items() {
    let (_dir, host) = library_dir();
    let w = works(&host, 1);
    let items: Vec<_> = w.fail_at(&3).unwrap().collect();
    assert_eq!(items.len(), 4);
    assert_eq!(items[2].as_ref().unwrap(), &2);
    match &items[3] {
        Err(CallError::Plugin(e)) => assert_eq!(e.code, "FAILED_AT"),
        other => panic!("expected a plugin error item, got {other:?}"),
    }
    let items: Vec<_> = w.panic_at(&2).unwrap().collect();
    assert_eq!(items.len(), 3);
    match &items[2] {
        Err(CallError::Panic(msg)) => assert!(msg.contains("exploded at 2"), "{msg}"),
        other => panic!("expected a panic item, got {other:?}"),
    }
    // Large items grow the buffer.
    let blobs: Vec<Vec<u8>> = w.blobs(&4, &300_000).unwrap().map(Result::unwrap).collect();
    assert_eq!(blobs.len(), 4);
    assert!(blobs
        .iter()
        .enumerate()
        .all(|(i, b)| b.len() == 300_000 && b.iter().all(|x| *x == i as u8)));
}

#[test]
fn client_streams_pull_lazily() {
    let (_dir, host) = library_dir();
    let w = works(&host, 1);
    assert_eq!(w.sum(0..1000u64).unwrap(), 499_500);
    assert_eq!(w.sum(Vec::<u64>::new()).unwrap(), 0);
    // An unbounded host iterator: the plugin stops pulling at `stop`.
    assert_eq!(w.weigh(&100, 0u64.., &9).unwrap(), (10, 145));
    assert_eq!(w.checked_sum(vec![1u64, 2, 3]).unwrap(), 6);
    let chunks: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 5000 + i as usize]).collect();
    let expected: u64 = chunks.iter().map(|c| c.len() as u64).sum();
    assert_eq!(w.total_len(chunks.clone()).unwrap(), expected);
    let back: Vec<Vec<u8>> = w
        .reverse_each(chunks.clone())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(back.len(), 20);
    assert!(back
        .iter()
        .zip(&chunks)
        .all(|(b, c)| b.iter().rev().eq(c.iter())));
    match w.checked_sum(vec![1u64, 2000, 3]) {
        Err(CallError::Plugin(e)) => assert_eq!(e.code, "TOO_BIG"),
        other => panic!("expected a plugin error, got {other:?}"),
    }
}

#[test]
fn bidirectional_streams_compose_lazily_and_cancel() {
    let (dir, host) = library_dir();
    let w = works(&host, 10);
    let out: Vec<u64> = w.scale(0..5u64, "").unwrap().map(Result::unwrap).collect();
    assert_eq!(out, [0, 10, 20, 30, 40]);
    let (path, m) = marker(dir.path(), "scale.dropped");
    let mut s = w.scale(0u64.., &m).unwrap();
    let first: Vec<u64> = (&mut s).take(5).map(Result::unwrap).collect();
    assert_eq!(first, [0, 10, 20, 30, 40]);
    drop(s);
    assert!(path.exists());
}

#[test]
fn configured_instances_stream_independently_and_async_methods_work() {
    let (_dir, host) = library_dir();
    let a = works(&host, 2);
    let b = works(&host, 5);
    assert_eq!(a.step().unwrap(), 2);
    assert_eq!(b.step().unwrap(), 5);
    let sa: Vec<u64> = a.async_count(&3).unwrap().map(Result::unwrap).collect();
    let sb: Vec<u64> = b.count(&3, "").unwrap().map(Result::unwrap).collect();
    assert_eq!(sa, [0, 2, 4]);
    assert_eq!(sb, [0, 5, 10]);
}

#[test]
fn async_host_consumes_a_stream_pumped_on_another_thread() {
    let (dir, host) = library_dir();
    let w = works(&host, 1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (path, m) = marker(dir.path(), "async.dropped");
    let w2 = &w;
    rt.block_on(async move {
        let mut s = w2.count(&0, &m).unwrap();
        for i in 0..10_000u64 {
            assert_eq!(next(&mut s).await.unwrap().unwrap(), i);
            if i % 1000 == 0 {
                // Async methods on the same instance while a stream is pumped.
                assert_eq!(w2.step().unwrap(), 1);
            }
        }
        drop(s);
    });
    assert!(
        wait_for(&path),
        "the pump must drop the producer after the consumer goes away"
    );
    // The fidius 0.5 API: `call_streaming` → ChunkStream of Values.
    rt.block_on(async {
        let mut chunks = w
            .handle()
            .call_streaming::<_, u64>(__fidius_StreamWorks::METHOD_COUNT, &(4u64, String::new()))
            .await
            .unwrap();
        let mut got = Vec::new();
        while let Some(v) = next(&mut chunks).await {
            got.push(fidius_core::from_value::<u64>(v.unwrap()).unwrap());
        }
        assert_eq!(got, [0, 1, 2, 3]);
    });
}

#[test]
fn a_slow_async_consumer_slows_the_producer() {
    // In process: the fixture's PRODUCED counter is visible to this test.
    let desc = PluginHandle::find_in_process_descriptor("StreamWorksImpl").unwrap();
    let w = StreamWorksClient::from_handle(
        PluginHandle::configure_in_process(desc, &StreamConfig { step: 1 }).unwrap(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let start = PRODUCED.load(std::sync::atomic::Ordering::SeqCst);
        let mut s = w.count(&0, "").unwrap();
        for _ in 0..20 {
            next(&mut s).await.unwrap().unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let produced = PRODUCED.load(std::sync::atomic::Ordering::SeqCst) - start;
        // The pump may run ahead by at most one full queue, the consumer's
        // unread part of a drained queue and the item in its hand.
        use fidius_host::stream::ASYNC_MAX_QUEUED_ITEMS as Q;
        let bound = 20 + 2 * Q + 1;
        assert!(
            (produced as usize) <= bound,
            "producer ran ahead: {produced} items for 20 consumed (bound {bound})"
        );
    });
}

/// A source that yields two items, then blocks until released: the second
/// item must reach an async consumer while the producer is still blocked.
struct StallAfterTwo {
    sent: u32,
    release: std::sync::mpsc::Receiver<()>,
    buf: Vec<u8>,
}

impl fidius_host::stream::RawSource for StallAfterTwo {
    fn pull(&mut self) -> fidius_host::stream::RawItem<'_> {
        use fidius_host::stream::RawItem;
        if self.sent == 2 {
            let _ = self.release.recv();
            return RawItem::End;
        }
        self.sent += 1;
        self.buf = fidius_core::wire::serialize(&self.sent).unwrap();
        RawItem::Item(&self.buf)
    }
}

#[test]
fn an_async_consumer_gets_every_item_while_the_producer_is_blocked() {
    let (release, rx) = std::sync::mpsc::channel();
    let src = StallAfterTwo {
        sent: 0,
        release: rx,
        buf: Vec::new(),
    };
    let mut s = fidius_host::stream::ItemStream::<u32>::new(Box::new(src));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        for want in 1..=2u32 {
            let got = tokio::time::timeout(Duration::from_secs(20), next(&mut s))
                .await
                .unwrap_or_else(|_| panic!("item {want} held back while the producer is blocked"));
            assert_eq!(got.unwrap().unwrap(), want);
        }
        release.send(()).unwrap();
        assert!(next(&mut s).await.is_none());
    });
}
