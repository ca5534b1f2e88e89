//! WASM streams in three directions and host functions, end to end: the
//! `wasm-flow` fixture is built with `cargo build --target wasm32-wasip2`,
//! packaged, and called through `PluginHost` and the generated `FlowClient`
//! exactly as the cdylib build of the same source is.

#![cfg(feature = "wasm")]

use fidius_core::PluginError;
use fidius_host::{CallError, PluginHost};
use fidius_test::{wasm_fixture, wasm_package};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use wasm_flow::{FlowClient, Notes, NotesBinding, Point};

fn component() -> &'static Path {
    static C: OnceLock<PathBuf> = OnceLock::new();
    C.get_or_init(|| {
        wasm_fixture(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/wasm-flow"
        ))
        .build()
        .into_path()
    })
}

fn plugin_with(caps: &[&str], extra: &str) -> (tempfile::TempDir, FlowClient) {
    let dir = tempfile::tempdir().unwrap();
    wasm_package(dir.path(), "flow", component(), caps, extra);
    let host = PluginHost::builder()
        .search_path(dir.path())
        .wasm_cache_dir(None)
        .build()
        .unwrap();
    let client = FlowClient::load(&host, "flow").expect("load the wasm flow plugin");
    assert!(client.handle().info().is_wasm());
    (dir, client)
}

fn plugin() -> (tempfile::TempDir, FlowClient) {
    plugin_with(&[], "")
}

#[test]
fn server_streams_yield_every_item_then_end() {
    let (_d, flow) = plugin();
    let items: Vec<u64> = flow.count(&5).unwrap().map(Result::unwrap).collect();
    assert_eq!(items, vec![0, 1, 2, 3, 4]);
    assert_eq!(flow.count(&0).unwrap().count(), 0);
    let points: Vec<Point> = flow.points(&3).unwrap().map(Result::unwrap).collect();
    assert_eq!(points[2], Point { x: 2, y: -2 });
    assert_eq!(points.len(), 3);
    // Streams are independent instances: interleaving them is fine.
    let mut a = flow.count(&3).unwrap();
    let mut b = flow.count(&3).unwrap();
    assert_eq!(a.next().unwrap().unwrap(), 0);
    assert_eq!(b.next().unwrap().unwrap(), 0);
    assert_eq!(a.next().unwrap().unwrap(), 1);
    assert_eq!(flow.add(&2, &3).unwrap(), 5);
}

#[test]
fn a_mid_stream_plugin_error_is_one_typed_item_and_the_end() {
    let (_d, flow) = plugin();
    let items: Vec<Result<u64, CallError>> = flow.fail_after(&2).unwrap().collect();
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(*items[0].as_ref().unwrap(), 0);
    match &items[2] {
        Err(CallError::Plugin(e)) => {
            assert_eq!(
                (e.code.as_str(), e.message.as_str()),
                ("ENOUGH", "stopped after 2")
            )
        }
        other => panic!("expected a plugin error item, got {other:?}"),
    }
}

#[test]
fn a_trap_mid_stream_is_a_typed_error_never_a_hang() {
    let (_d, flow) = plugin();
    let items: Vec<Result<u64, CallError>> = flow.trap_after(&1).unwrap().collect();
    assert_eq!(items.len(), 2, "{items:?}");
    match &items[1] {
        Err(CallError::Panic(m)) => assert!(m.contains("trap after 1"), "{m}"),
        other => panic!("expected the guest's panic, got {other:?}"),
    }
    assert_eq!(flow.add(&1, &1).unwrap(), 2, "the handle keeps working");
}

#[test]
fn a_guest_that_stalls_inside_next_is_stopped_by_its_deadline() {
    let (_d, flow) = plugin_with(&[], "[wasm.limits]\ndeadline_ms = 100\n");
    let mut s = flow.stall_after(&2).unwrap();
    assert_eq!(s.next().unwrap().unwrap(), 0);
    assert_eq!(s.next().unwrap().unwrap(), 1);
    let t = Instant::now();
    match s.next() {
        Some(Err(CallError::Timeout { deadline })) => {
            assert_eq!(deadline, Duration::from_millis(100))
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(s.next().is_none(), "a stream ends after its error");
}

#[test]
fn dropping_a_stream_runs_the_guests_destructor() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().canonicalize().unwrap();
    let cap = format!("fs:rw:{}", out.display());
    let (_d, flow) = plugin_with(&[cap.as_str()], "");
    let marker = out.join("dropped");
    let mut s = flow.tracked(&marker.display().to_string()).unwrap();
    for want in 0..3 {
        assert_eq!(s.next().unwrap().unwrap(), want);
    }
    assert!(!marker.exists(), "still streaming");
    drop(s);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "dropped after 3");
}

#[test]
fn an_endless_server_stream_runs_in_bounded_memory() {
    let (_d, flow) = plugin();
    let mut s = flow.tracked("/nowhere/marker").unwrap();
    for want in 0..20_000u64 {
        assert_eq!(s.next().unwrap().unwrap(), want);
    }
}

#[test]
fn client_streams_are_pulled_lazily_at_the_declared_position() {
    let (_d, flow) = plugin();
    assert_eq!(flow.sum(1..=100u64).unwrap(), 5050);
    assert_eq!(flow.sum(Vec::<u64>::new()).unwrap(), 0);
    let points = vec![Point { x: 2, y: 4 }, Point { x: 4, y: 8 }];
    assert_eq!(flow.centroid("c", points).unwrap(), "c: (3, 6) of 2");
    // Unbounded input: items are produced only as the guest pulls them.
    let produced = Arc::new(Mutex::new(0u64));
    let p = produced.clone();
    let items = (0..1_000_000u64).inspect(move |_| *p.lock().unwrap() += 1);
    assert_eq!(flow.sum(items).unwrap(), 499_999_500_000);
    assert_eq!(*produced.lock().unwrap(), 1_000_000);
}

#[test]
fn bidirectional_streams_pull_input_as_output_is_pulled() {
    let (_d, flow) = plugin();
    let produced = Arc::new(Mutex::new(0u64));
    let p = produced.clone();
    let input = (1..).inspect(move |_| *p.lock().unwrap() += 1);
    let mut out = flow.scale(&10, input).unwrap();
    assert_eq!(out.next().unwrap().unwrap(), 10);
    assert_eq!(out.next().unwrap().unwrap(), 20);
    assert_eq!(*produced.lock().unwrap(), 2, "one input per output");
    drop(out);
    let all: Vec<u64> = flow
        .scale(&3, vec![1u64, 2, 3])
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(all, vec![3, 6, 9]);
}

#[cfg(feature = "streaming")]
#[test]
fn async_consumers_get_the_same_items() {
    let (_d, flow) = plugin();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut s = flow.count(&4).unwrap();
        let mut got = Vec::new();
        while let Some(item) = s.next_async().await {
            got.push(item.unwrap());
        }
        assert_eq!(got, vec![0, 1, 2, 3]);
        // Calls made on a runtime thread work too.
        assert_eq!(flow.sum(vec![1u64, 2]).unwrap(), 3);
    });
}

#[test]
fn calling_a_stream_method_the_wrong_way_is_a_typed_error() {
    let (_d, flow) = plugin();
    let h = flow.handle();
    let r: Result<u64, CallError> = h.call_method(wasm_flow::__fidius_Flow::METHOD_COUNT, &(3u64,));
    assert!(
        matches!(r, Err(CallError::CallKindMismatch { .. })),
        "{r:?}"
    );
    let r = h.call_server_stream::<_, u64>(wasm_flow::__fidius_Flow::METHOD_ADD, &(1u64, 2u64));
    assert!(
        matches!(r, Err(CallError::CallKindMismatch { .. })),
        "{r:?}"
    );
}

/// The host side of `Notes`.
#[derive(Default)]
struct Book {
    notes: Mutex<Vec<String>>,
}

impl Notes for Book {
    fn note(&self, text: String) {
        self.notes.lock().unwrap().push(text);
    }
    fn lookup(&self, key: String) -> Result<u64, PluginError> {
        match key.as_str() {
            "answer" => Ok(42),
            _ => Err(PluginError::new("MISSING", format!("no key {key}"))),
        }
    }
}

#[test]
fn wasm_guests_call_host_functions_through_the_bound_interface() {
    let (_d, flow) = plugin();
    // Not bound yet: the guest's client says so.
    assert!(!flow.noted("early").unwrap());
    match flow.recall("answer") {
        Err(CallError::Plugin(e)) => {
            assert_eq!(e.code, "HOST_CALL");
            assert!(e.message.contains("not bound"), "{}", e.message);
        }
        other => panic!("expected not bound, got {other:?}"),
    }
    let book = Arc::new(Book::default());
    assert!(NotesBinding::bind_handle(flow.handle(), book.clone()).unwrap());
    assert!(flow.noted("hello").unwrap());
    assert_eq!(flow.recall("answer").unwrap(), 42);
    match flow.recall("other") {
        Err(CallError::Plugin(e)) => {
            assert_eq!(
                (e.code.as_str(), e.message.as_str()),
                ("MISSING", "no key other")
            )
        }
        other => panic!("expected the host's error, got {other:?}"),
    }
    assert_eq!(*book.notes.lock().unwrap(), vec!["hello".to_string()]);
    // One binding per interface name (fidius 0.5 semantics).
    let again = NotesBinding::bind_wasm(flow.handle(), Arc::new(Book::default()));
    assert!(
        matches!(again, Err(fidius_host::LoadError::HostBindFailed { code, .. }) if code == fidius_core::host_ffi::BIND_ERR_ALREADY_BOUND),
        "{again:?}"
    );
}

#[test]
fn host_call_gates_refuse_version_and_hash_skew() {
    use wasm_flow::skew;
    let (_d, flow) = plugin();
    skew::NotesBinding::bind_handle(flow.handle(), Arc::new(skew::V2)).unwrap();
    match flow.recall("answer") {
        Err(CallError::Plugin(e)) => {
            assert!(e.message.contains("version mismatch"), "{}", e.message);
            assert!(
                e.message.contains("expects 1, host provides 2"),
                "{}",
                e.message
            );
        }
        other => panic!("expected a version mismatch, got {other:?}"),
    }
    let (_d2, flow2) = plugin();
    skew::reshaped::NotesBinding::bind_handle(flow2.handle(), Arc::new(skew::reshaped::Other))
        .unwrap();
    match flow2.recall("answer") {
        Err(CallError::Plugin(e)) => assert!(e.message.contains("hash mismatch"), "{}", e.message),
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
}
