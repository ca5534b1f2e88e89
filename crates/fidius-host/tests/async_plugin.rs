//! The async-methods how-to end to end: a cdylib whose `async fn` awaits a
//! tokio timer and a spawned task, called from plain threads and from inside
//! a host tokio runtime.

use async_api::AsyncProcessorClient;
use std::path::Path;

fn client() -> (tempfile::TempDir, AsyncProcessorClient) {
    let lib = fidius_test::dylib_fixture(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/async-plugin"),
    )
    .build()
    .into_path();
    let (dir, host) = fidius_test::temp_host(&[&lib]);
    let c = AsyncProcessorClient::load(&host, "MyProcessor").unwrap();
    (dir, c)
}

#[test]
fn async_methods_await_timers_and_tasks() {
    let (_dir, c) = client();
    assert_eq!(c.process("abc").unwrap(), "processed: ABC");
    assert_eq!(c.sync_len("abcd").unwrap(), 4);
    let c = std::sync::Arc::new(c);
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let c = c.clone();
            std::thread::spawn(move || c.process(&format!("t{i}")).unwrap())
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        assert_eq!(t.join().unwrap(), format!("processed: T{i}"));
    }
}

#[test]
fn async_method_called_from_a_host_runtime() {
    let (_dir, c) = client();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // The plugin's shim blocks this thread but never nests a runtime.
    let out = rt.block_on(async { c.process("rt").unwrap() });
    assert_eq!(out, "processed: RT");
}
