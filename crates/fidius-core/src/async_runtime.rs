//! The per-library tokio runtime on which the shims of `async fn` plugin
//! methods run their futures (one per copy of fidius-core, i.e. per dylib).

use std::sync::LazyLock;

/// The runtime; built on first use, lives until process exit.
pub static FIDIUS_RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("fidius-plugin-rt")
        .build()
        .expect("fidius: failed to build the plugin tokio runtime")
});
