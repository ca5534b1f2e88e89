//! WASM streams: a server (or bidirectional) stream is the component's
//! `<m>-stream` resource, advanced by `[method]<m>-stream.next` on an
//! instance the stream owns; a client stream's items are pulled by the
//! guest through `fidius:stream-pull` (see `host_call.rs`).
//!
//! Every `next` runs under the executor's limits (deadline, fuel, memory), so
//! a guest that stalls mid-stream is stopped. Dropping the stream drops the
//! resource first (the guest's destructor runs), then the instance; an
//! instance that trapped is discarded, a healthy one of a reusing executor
//! goes back to its pool.

use super::engine::Runtime;
use super::value::ValDeserializer;
use super::{backend, limited, lower, off_runtime, run_limited, Live, Pool, WasmComponentExecutor};
use crate::error::CallError;
use crate::executor::{CallLimits, ValueItems};
use crate::stream::{RawItem, RawSource, RawStream};
use fidius_core::{MethodKind, PluginError};
use std::sync::Arc;
use wasmtime::component::{Func, ResourceAny, Val};

impl WasmComponentExecutor {
    /// An instance for one call or stream: from the pool when reusing,
    /// else fresh (configured first, for configured plugins).
    fn take_instance(&self) -> Result<Live, CallError> {
        let pooled = if self.reuse {
            self.idle.lock().ok().and_then(|mut v| v.pop())
        } else {
            None
        };
        match pooled {
            Some(l) => Ok(l),
            None => self.instantiate(),
        }
    }

    /// Starts a server or bidirectional stream (`items`: the input of a
    /// bidirectional one).
    pub(super) fn start_stream(
        &self,
        method: usize,
        kind: MethodKind,
        items: Option<ValueItems>,
        args: &dyn erased_serde::Serialize,
    ) -> Result<RawStream, CallError> {
        let slot = self.slot(method, kind)?;
        let func = slot
            .func
            .ok_or(CallError::NotImplemented { bit: method as u32 })?;
        let next = slot.next_func.ok_or_else(|| {
            backend(format!(
                "the component does not export `[method]{}-stream.next`",
                slot.name
            ))
        })?;
        let vals = lower(slot, args)?;
        off_runtime(move || {
            let limits = self.limits();
            let mut live = self.take_instance()?;
            live.store.data_mut().client = items;
            let out = run_limited(&self.rt, &mut live, func, limits, |store, f| {
                let mut results = [Val::Bool(false)];
                f.call(&mut *store, &vals, &mut results)?;
                let [r] = results;
                Ok(r)
            })?;
            // `-> m-stream`, or a `result<m-stream, plugin-error>` that succeeded.
            let out = match out {
                Val::Result(Ok(Some(r))) => *r,
                Val::Result(Err(Some(e))) => return Err(CallError::Plugin(plugin_error(*e))),
                other => other,
            };
            let Val::Resource(resource) = out else {
                return Err(backend(format!(
                    "`{}` returned {out:?}, expected a stream resource",
                    slot.name
                )));
            };
            // Resolved once: `next` runs per item.
            let next = live
                .instance
                .get_func(&mut live.store, next)
                .ok_or_else(|| backend("the stream's `next` export is not a function"))?;
            let pool = self.reuse.then(|| (self.idle.clone(), self.max_idle));
            Ok(Box::new(WasmStream {
                rt: self.rt.clone(),
                live: Some(live),
                next,
                resource: Some(resource),
                limits,
                pool,
                buf: Vec::new(),
            }) as RawStream)
        })
    }

    /// Calls a client-streaming method: the guest pulls `items` while it runs.
    pub(super) fn call_client(
        &self,
        method: usize,
        items: ValueItems,
        args: &dyn erased_serde::Serialize,
    ) -> Result<Val, CallError> {
        let slot = self.slot(method, MethodKind::ClientStream)?;
        let func = slot
            .func
            .ok_or(CallError::NotImplemented { bit: method as u32 })?;
        let vals = lower(slot, args)?;
        let has_result = slot.has_result;
        let out = self.on_instance(func, move |exec, live, func, limits| {
            live.store.data_mut().client = Some(items);
            let r = exec.run(live, func, &vals, has_result, limits);
            live.store.data_mut().client = None;
            r
        })?;
        Self::finish(slot, out)
    }
}

/// A `plugin-error` record as a [`PluginError`].
pub(super) fn plugin_error(v: Val) -> PluginError {
    serde::Deserialize::deserialize(ValDeserializer(v))
        .unwrap_or_else(|e| PluginError::new("WASM_ERROR", e.to_string()))
}

/// A plugin-produced stream of a WASM component.
struct WasmStream {
    rt: Arc<Runtime>,
    /// `None` once the stream has ended (the instance is gone or pooled).
    live: Option<Live>,
    /// `[method]<m>-stream.next` of the stream's own instance.
    next: Func,
    resource: Option<ResourceAny>,
    limits: CallLimits,
    pool: Option<(Pool, usize)>,
    /// The current item, JSON-encoded.
    buf: Vec<u8>,
}

impl WasmStream {
    /// Ends the stream: a healthy instance drops the resource (running the
    /// guest's destructor, under the limits) and may go back to the pool.
    fn close(&mut self, healthy: bool) {
        let (Some(mut live), Some(resource)) = (self.live.take(), self.resource.take()) else {
            return;
        };
        if !healthy {
            return;
        }
        let (rt, limits) = (&self.rt, self.limits);
        let dropped = off_runtime(|| {
            limited(rt, &mut live.store, limits, |store| {
                resource.resource_drop(&mut *store)
            })
        });
        if let (Ok(()), Some((pool, max))) = (dropped, &self.pool) {
            live.store.data_mut().client = None;
            if let Ok(mut idle) = pool.lock() {
                if idle.len() < *max {
                    idle.push(live);
                }
            }
        }
    }

    fn step(&mut self) -> Result<Option<()>, CallError> {
        let (Some(live), Some(resource)) = (self.live.as_mut(), self.resource) else {
            return Ok(None);
        };
        let (rt, next, limits) = (&self.rt, self.next, self.limits);
        let out = off_runtime(|| {
            limited(rt, &mut live.store, limits, |store| {
                let mut results = [Val::Bool(false)];
                next.call(&mut *store, &[Val::Resource(resource)], &mut results)?;
                let [r] = results;
                Ok(r)
            })
        });
        let out = match out {
            Ok(v) => v,
            Err(e) => {
                self.close(false);
                return Err(e);
            }
        };
        match out {
            Val::Result(Ok(Some(v))) => match *v {
                Val::Option(Some(item)) => {
                    let value: serde_json::Value =
                        serde::Deserialize::deserialize(ValDeserializer(*item))
                            .map_err(|e| CallError::Deserialization(e.to_string()))?;
                    self.buf.clear();
                    serde_json::to_writer(&mut self.buf, &value)
                        .map_err(|e| CallError::Deserialization(e.to_string()))?;
                    Ok(Some(()))
                }
                Val::Option(None) => {
                    self.close(true);
                    Ok(None)
                }
                other => {
                    self.close(false);
                    Err(backend(format!(
                        "a stream's `next` returned {other:?}, expected an option"
                    )))
                }
            },
            Val::Result(Err(Some(e))) => {
                self.close(true);
                Err(CallError::Plugin(plugin_error(*e)))
            }
            other => {
                self.close(false);
                Err(backend(format!(
                    "a stream's `next` returned {other:?}, expected result<option<T>, plugin-error>"
                )))
            }
        }
    }
}

impl RawSource for WasmStream {
    fn pull(&mut self) -> RawItem<'_> {
        match self.step() {
            Ok(Some(())) => RawItem::Item(&self.buf),
            Ok(None) => RawItem::End,
            Err(e) => {
                self.close(true);
                RawItem::Error(e)
            }
        }
    }
}

impl Drop for WasmStream {
    fn drop(&mut self) {
        self.close(true);
    }
}
