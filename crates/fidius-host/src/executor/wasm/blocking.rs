//! Host-side waits of a guest, bounded by the call's deadline: `wasi:io/poll`
//! (`poll` and `pollable.block`, what `sleep` and blocking sockets use).
//!
//! Epoch interruption stops guest code, not a guest parked inside a host
//! call; so these two imports are redefined to give up at the deadline and
//! stop the guest with [`DeadlineInHost`], which the executor reports as
//! `CallError::Timeout` like any other missed deadline.

use super::sandbox::HostState;
use std::time::Instant;
use wasmtime::component::{Linker, Resource};
use wasmtime::StoreContextMut;
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi_io::bindings::wasi::io::poll as async_poll;

/// A guest was still waiting in the host when its call's deadline passed.
#[derive(Debug)]
pub struct DeadlineInHost;

impl std::fmt::Display for DeadlineInHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the call's deadline passed while the guest waited in the host")
    }
}

impl std::error::Error for DeadlineInHost {}

/// Runs `wait` on WASI's runtime, giving up at `deadline`.
fn bounded<R>(
    deadline: Option<Instant>,
    wait: impl std::future::Future<Output = wasmtime::Result<R>>,
) -> wasmtime::Result<R> {
    wasmtime_wasi::runtime::in_tokio(async move {
        match deadline {
            Some(d) => tokio::time::timeout_at(tokio::time::Instant::from_std(d), wait)
                .await
                .unwrap_or_else(|_| Err(DeadlineInHost.into())),
            None => wait.await,
        }
    })
}

/// Redefines the waiting functions of `wasi:io/poll` (after WASI is linked).
pub(crate) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    {
        let mut poll = linker.instance("wasi:io/poll@0.2.12")?;
        poll.func_wrap(
            "poll",
            |mut store: StoreContextMut<'_, HostState>, (list,): (Vec<Resource<DynPollable>>,)| {
                let state = store.data_mut();
                let deadline = state.deadline;
                let table = state.table_mut();
                bounded(deadline, async_poll::Host::poll(table, list)).map(|r| (r,))
            },
        )?;
        poll.func_wrap(
            "[method]pollable.block",
            |mut store: StoreContextMut<'_, HostState>, (p,): (Resource<DynPollable>,)| {
                let state = store.data_mut();
                let deadline = state.deadline;
                let table = state.table_mut();
                bounded(deadline, async_poll::HostPollable::block(table, p))
            },
        )?;
    }
    linker.allow_shadowing(false);
    Ok(())
}
