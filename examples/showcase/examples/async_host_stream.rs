//! An async host consuming a plugin's stream (`futures::Stream`), while the
//! plugin's own `async fn` methods run on their runtime.

use fidius::{plugin_impl, Stream};

#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Feed: Send + Sync {
    fn events(&self, n: u32) -> Stream<String>;
    async fn describe(&self, event: String) -> String;
}

pub struct TickFeed;

#[plugin_impl(Feed)]
impl Feed for TickFeed {
    fn events(&self, n: u32) -> Stream<String> {
        Stream::from_iter((0..n).map(|i| format!("tick-{i}")))
    }
    async fn describe(&self, event: String) -> String {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        format!("{event} (described asynchronously)")
    }
}

fidius::fidius_plugin_registry!();

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let feed = FeedClient::in_process("TickFeed")?;
        let mut events = feed.events(&4)?;
        while let Some(event) = events.next_async().await {
            println!("{}", feed.describe(&event?)?);
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}
