//! Example plugin crate from the async-methods how-to: `async fn` methods
//! that really await (a tokio timer and a spawned task) inside the shim.

use async_api::{plugin_impl, AsyncProcessor};

pub struct MyProcessor;

#[plugin_impl(AsyncProcessor)]
impl AsyncProcessor for MyProcessor {
    async fn process(&self, input: String) -> String {
        // You can .await here freely: timers and spawned tasks run on the
        // library's own runtime.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let upper = tokio::spawn(async move { input.to_uppercase() })
            .await
            .expect("task");
        format!("processed: {}", upper)
    }

    fn sync_len(&self, input: String) -> u64 {
        input.len() as u64
    }
}

fidius_core::fidius_plugin_registry!();
