//! The Python backend: CPython embedded through pyo3, one interpreter per
//! process. Owns importing a plugin module, its contract checks and calls.
//!
//! A plugin is a module (or package) with `__interface_hash__` and one
//! callable per trait method, or `__fidius_configure__(config) -> instance`
//! whose attributes are the methods. Typed arguments cross as JSON-shaped
//! Python objects (`value.rs`); raw methods take and return `bytes`. Any
//! exception is a [`PluginError`]: `fidius.PluginError(code, message,
//! details)` keeps its fields, others carry their class name and traceback.
//! Calls hold the GIL, so calls into one interpreter run one at a time.

mod value;

use crate::error::{CallError, LoadError};
use crate::executor::{CallShape, OutputSink, PluginExecutor, ValueItems, ValueSink};
use crate::info::PluginInfo;
use crate::stream::{RawItem, RawSource, RawStream};
use fidius_core::python_descriptor::PythonInterfaceDescriptor;
use fidius_core::PluginError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyModule};
use std::ffi::CString;
use std::path::{Path, PathBuf};

const RUNTIME: &str = "python";

/// The interpreter-side helper module (imports and error descriptions).
fn shim(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    static SHIM: std::sync::OnceLock<Py<PyModule>> = std::sync::OnceLock::new();
    if let Some(m) = SHIM.get() {
        return Ok(m.bind(py).clone());
    }
    let code = CString::new(include_str!("shim.py")).expect("shim has no NUL");
    let m = PyModule::from_code(py, &code, c"<fidius-host>", c"_fidius_host")?;
    let _ = SHIM.set(m.clone().unbind());
    Ok(m)
}

/// A plugin error for the Python exception `err`.
pub(crate) fn plugin_error(py: Python<'_>, err: &PyErr) -> PluginError {
    let described = shim(py).and_then(|s| {
        s.getattr("describe")?
            .call1((err.value(py), err.traceback(py)))?
            .extract::<(String, String, Option<String>)>()
    });
    match described {
        Ok((code, message, details)) => PluginError {
            code,
            message,
            details,
        },
        Err(_) => PluginError::new("PYTHON_ERROR", err.to_string()),
    }
}

fn load_err(dir: &Path, msg: impl std::fmt::Display) -> LoadError {
    LoadError::PythonLoad(format!("{}: {msg}", dir.display()))
}

fn backend(message: impl Into<String>) -> CallError {
    CallError::Backend {
        runtime: RUNTIME.into(),
        message: message.into(),
    }
}

/// An imported Python plugin: the module (or configured instance) and its
/// methods resolved in descriptor order (fidius 0.5 name).
pub struct PythonPluginHandle {
    descriptor: &'static PythonInterfaceDescriptor,
    target: Py<PyAny>,
    methods: Vec<Py<PyAny>>,
    /// Per method: where its stream argument goes among the arguments (the
    /// trait's position; first when the interface registered none).
    stream_args: Vec<Option<u8>>,
    /// Keeps the private copy of the verified package alive.
    _files: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for PythonPluginHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonPluginHandle")
            .field("interface", &self.descriptor.interface_name)
            .field("methods", &self.methods.len())
            .finish()
    }
}

impl PythonPluginHandle {
    /// The interface this plugin was checked against.
    pub fn descriptor(&self) -> &'static PythonInterfaceDescriptor {
        self.descriptor
    }

    /// Number of methods.
    pub fn method_count(&self) -> u32 {
        self.methods.len() as u32
    }
}

/// Where each method of `desc` takes its stream argument: the positions
/// the interface registered, else none (the stream goes first, as in fidius 0.5).
pub(crate) fn stream_arg_positions(desc: &PythonInterfaceDescriptor) -> Vec<Option<u8>> {
    fidius_core::python_descriptor::stream_arg_positions(desc)
        .filter(|p| p.len() == desc.methods.len())
        .map(<[Option<u8>]>::to_vec)
        .unwrap_or_default()
}

/// Imports the module `entry` from `root` (with `root/vendor` on the path),
/// checks it against `desc` and, with `config`, makes the configured
/// instance. `files` is kept alive with the handle. `stream_args` are the
/// stream-argument positions (`None`: those `desc`'s interface registered).
pub(crate) fn import_plugin(
    root: &Path,
    entry: &str,
    desc: &'static PythonInterfaceDescriptor,
    config: Option<&serde_json::Value>,
    files: Option<tempfile::TempDir>,
    shown: &Path,
    stream_args: Option<Vec<Option<u8>>>,
) -> Result<PythonPluginHandle, LoadError> {
    let stream_args = stream_args.unwrap_or_else(|| stream_arg_positions(desc));
    // One import at a time: the shim renames modules in `sys.modules`, and
    // an import can release the GIL midway. Taken before the GIL, never inside.
    static IMPORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = IMPORTS.lock().unwrap_or_else(|p| p.into_inner());
    Python::attach(|py| {
        let err = |e: PyErr| {
            let pe = plugin_error(py, &e);
            load_err(
                shown,
                format!("importing `{entry}` failed: {}: {}", pe.code, pe.message),
            )
        };
        let module = shim(py)
            .and_then(|s| {
                s.getattr("load")?.call1((
                    root.to_string_lossy().into_owned(),
                    root.join("vendor").to_string_lossy().into_owned(),
                    entry,
                ))
            })
            .map_err(err)?;
        let hash = module.getattr("__interface_hash__").map_err(|_| {
            load_err(
                shown,
                format!(
                    "module `{entry}` has no `__interface_hash__` (expected {:#x}, the hash of {})",
                    desc.interface_hash, desc.interface_name
                ),
            )
        })?;
        let hash: u64 = hash.extract().map_err(|_| {
            load_err(
                shown,
                format!("`__interface_hash__` of `{entry}` must be an int in 0..2**64"),
            )
        })?;
        if hash != desc.interface_hash {
            return Err(LoadError::InterfaceHashMismatch {
                got: hash,
                expected: desc.interface_hash,
            });
        }
        let target = match config {
            None => module.into_any(),
            Some(cfg) => {
                let configure = module.getattr("__fidius_configure__").map_err(|_| {
                    load_err(
                        shown,
                        format!("module `{entry}` has no `__fidius_configure__(config)`, which a configured load needs"),
                    )
                })?;
                let arg = value::to_py(py, cfg).map_err(err)?;
                configure.call1((arg,)).map_err(|e| {
                    let pe = plugin_error(py, &e);
                    LoadError::ConstructFailed {
                        plugin: entry.to_owned(),
                        reason: format!("__fidius_configure__ raised {}: {}", pe.code, pe.message),
                    }
                })?
            }
        };
        let mut methods = Vec::with_capacity(desc.methods.len());
        for m in desc.methods {
            let f = target.getattr(m.name).map_err(|_| {
                load_err(
                    shown,
                    format!(
                        "`{entry}` does not define method `{}` of {}",
                        m.name, desc.interface_name
                    ),
                )
            })?;
            if !f.is_callable() {
                return Err(load_err(
                    shown,
                    format!("`{entry}.{}` is not callable", m.name),
                ));
            }
            methods.push(f.unbind());
        }
        Ok(PythonPluginHandle {
            descriptor: desc,
            target: target.unbind(),
            methods,
            stream_args,
            _files: files,
        })
    })
}

/// Runs Python plugins behind [`crate::PluginHandle`] (fidius 0.5 name).
pub struct Pyo3Executor {
    handle: PythonPluginHandle,
    info: PluginInfo,
}

impl std::fmt::Debug for Pyo3Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pyo3Executor")
            .field("info", &self.info)
            .finish()
    }
}

impl Pyo3Executor {
    /// An executor over an imported plugin.
    pub fn new(handle: PythonPluginHandle, info: PluginInfo) -> Self {
        Self { handle, info }
    }

    fn method(&self, method: usize, raw: bool) -> Result<&Py<PyAny>, CallError> {
        let count = self.handle.methods.len() as u32;
        let desc =
            self.handle
                .descriptor
                .methods
                .get(method)
                .ok_or(CallError::InvalidMethodIndex {
                    index: method,
                    count,
                })?;
        if desc.wire_raw != raw {
            return Err(CallError::WireModeMismatch {
                method: desc.name.to_owned(),
                declared: desc.wire_raw,
                attempted: raw,
            });
        }
        Ok(&self.handle.methods[method])
    }

    /// Where method `method` takes its stream argument.
    fn stream_position(&self, method: usize) -> usize {
        self.handle
            .stream_args
            .get(method)
            .copied()
            .flatten()
            .map_or(0, usize::from)
    }

    /// A typed method's callable and name, and its arguments as JSON.
    fn prepare(
        &self,
        method: usize,
        args: &dyn erased_serde::Serialize,
    ) -> Result<(&Py<PyAny>, &'static str, serde_json::Value), CallError> {
        let f = self.method(method, false)?;
        let name = self.handle.descriptor.methods[method].name;
        let args = erased_serde::serialize(args, serde_json::value::Serializer)
            .map_err(|e| CallError::Serialization(format!("method `{name}`: {e}")))?;
        Ok((f, name, args))
    }

    /// The module or configured instance the methods belong to.
    pub fn target(&self) -> &Py<PyAny> {
        &self.handle.target
    }
}

impl PluginExecutor for Pyo3Executor {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    fn method_count(&self) -> u32 {
        self.handle.method_count()
    }

    fn call_shape(&self) -> CallShape {
        CallShape::Values
    }

    /// A loaded module defines every method, so every optional one is there.
    fn has_capability(&self, bit: u32) -> bool {
        bit < 64
    }

    fn call_value(
        &self,
        method: usize,
        args: &dyn erased_serde::Serialize,
        output: ValueSink<'_>,
    ) -> Result<(), CallError> {
        let (f, name, args) = self.prepare(method, args)?;
        let result = Python::attach(|py| -> Result<serde_json::Value, CallError> {
            let tuple = value::to_args(py, &args)
                .map_err(|e| CallError::Serialization(format!("method `{name}`: {e}")))?;
            let out = invoke(py, f, tuple)?;
            value::from_py(&out)
                .map_err(|e| CallError::Serialization(format!("the result of `{name}`: {e}")))
        })?;
        output(&mut <dyn erased_serde::Deserializer>::erase(result)).map_err(|e| match e {
            CallError::Deserialization(m) => {
                CallError::Deserialization(format!("the result of `{name}`: {m}"))
            }
            other => other,
        })
    }

    /// Passes the host's items as an iterator (at the argument position the
    /// trait declares; first, fidius 0.5's convention, for an interface that
    /// registered none) and returns what the method returns.
    fn call_client_stream_value(
        &self,
        method: usize,
        items: ValueItems,
        args: &dyn erased_serde::Serialize,
        output: ValueSink<'_>,
    ) -> Result<(), CallError> {
        let (f, name, args) = self.prepare(method, args)?;
        let at = self.stream_position(method);
        let result = Python::attach(|py| -> Result<serde_json::Value, CallError> {
            let tuple = stream_args(py, items, &args, name, at)?;
            let out = invoke(py, f, tuple)?;
            value::from_py(&out)
                .map_err(|e| CallError::Serialization(format!("the result of `{name}`: {e}")))
        })?;
        output(&mut <dyn erased_serde::Deserializer>::erase(result))
    }

    /// Passes the host's items as an iterator and streams what the method
    /// yields (a generator pulling its input keeps the pipeline lazy).
    fn call_bidi_stream_value(
        &self,
        method: usize,
        items: ValueItems,
        args: &dyn erased_serde::Serialize,
    ) -> Result<RawStream, CallError> {
        let (f, name, args) = self.prepare(method, args)?;
        let at = self.stream_position(method);
        let iter = Python::attach(|py| -> Result<Py<PyAny>, CallError> {
            let tuple = stream_args(py, items, &args, name, at)?;
            let out = invoke(py, f, tuple)?;
            iterate(&out, name)
        })?;
        Ok(Box::new(PyItems {
            iter: Some(iter),
            name,
            buf: Vec::new(),
        }))
    }

    /// Calls the method and iterates what it returns (a generator, or any
    /// iterable) one step per pull, holding the GIL for that step only.
    fn call_server_stream_value(
        &self,
        method: usize,
        args: &dyn erased_serde::Serialize,
    ) -> Result<RawStream, CallError> {
        let (f, name, args) = self.prepare(method, args)?;
        let iter = Python::attach(|py| -> Result<Py<PyAny>, CallError> {
            let tuple = value::to_args(py, &args)
                .map_err(|e| CallError::Serialization(format!("method `{name}`: {e}")))?;
            let out = invoke(py, f, tuple)?;
            iterate(&out, name)
        })?;
        Ok(Box::new(PyItems {
            iter: Some(iter),
            name,
            buf: Vec::new(),
        }))
    }

    fn call_wire(
        &self,
        method: usize,
        _input: &[u8],
        _output: OutputSink<'_>,
    ) -> Result<(), CallError> {
        let _ = self.method(method, false)?;
        Err(backend(
            "Python plugins take typed values, not bincode: call through PluginHandle::call_method",
        ))
    }

    fn call_raw(&self, method: usize, input: &[u8]) -> Result<Vec<u8>, CallError> {
        let f = self.method(method, true)?;
        let name = self.handle.descriptor.methods[method].name;
        Python::attach(|py| {
            let out = f
                .bind(py)
                .call1((PyBytes::new(py, input),))
                .map_err(|e| CallError::Plugin(plugin_error(py, &e)))?;
            value::bytes_of(&out).ok_or_else(|| {
                CallError::Serialization(format!(
                    "raw method `{name}` must return bytes or bytearray"
                ))
            })
        })
    }
}

/// Calls `f`; an exception is the plugin's error.
fn invoke<'py>(
    py: Python<'py>,
    f: &Py<PyAny>,
    args: Bound<'py, pyo3::types::PyTuple>,
) -> Result<Bound<'py, PyAny>, CallError> {
    f.bind(py)
        .call1(args)
        .map_err(|e| CallError::Plugin(plugin_error(py, &e)))
}

/// An iterator over what a streaming method returned.
fn iterate(out: &Bound<'_, PyAny>, name: &str) -> Result<Py<PyAny>, CallError> {
    let it = out.try_iter().map_err(|_| {
        CallError::Serialization(format!(
            "streaming method `{name}` must return an iterable (a generator, say)"
        ))
    })?;
    Ok(it.into_any().unbind())
}

/// The call's positional arguments with the host-fed stream inserted at `at`.
fn stream_args<'py>(
    py: Python<'py>,
    items: ValueItems,
    args: &serde_json::Value,
    name: &str,
    at: usize,
) -> Result<Bound<'py, pyo3::types::PyTuple>, CallError> {
    let rest = value::to_args(py, args)
        .map_err(|e| CallError::Serialization(format!("method `{name}`: {e}")))?;
    let stream = Bound::new(
        py,
        HostFedStream {
            items: std::sync::Mutex::new(Some(items)),
        },
    )
    .map_err(|e| backend(format!("making the stream argument: {e}")))?;
    let mut all: Vec<Bound<'py, PyAny>> = rest.iter().collect();
    all.insert(at.min(all.len()), stream.into_any());
    pyo3::types::PyTuple::new(py, all).map_err(|e| backend(e.to_string()))
}

/// The iterator a client-streaming Python method receives: each `next`
/// produces one host item (without the GIL while the host produces it).
#[pyclass(name = "HostFedStream", module = "fidius")]
struct HostFedStream {
    items: std::sync::Mutex<Option<ValueItems>>,
}

#[pymethods]
impl HostFedStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let next = py.detach(|| {
            let mut guard = self.items.lock().unwrap_or_else(|p| p.into_inner());
            let next = guard.as_mut().and_then(Iterator::next);
            if next.is_none() {
                *guard = None;
            }
            next
        });
        match next {
            None => Ok(None),
            Some(Ok(v)) => Ok(Some(value::to_py(py, &v)?.unbind())),
            Some(Err(e)) => Err(pyo3::exceptions::PyValueError::new_err(format!(
                "the host could not produce the next item: {e}"
            ))),
        }
    }
}

/// The items of a Python server stream, JSON-encoded one pull at a time.
struct PyItems {
    /// The iterator; `None` once it ended (or failed).
    iter: Option<Py<PyAny>>,
    name: &'static str,
    buf: Vec<u8>,
}

enum Step {
    Item(Vec<u8>),
    End,
    Error(CallError),
}

impl RawSource for PyItems {
    fn pull(&mut self) -> RawItem<'_> {
        let Some(iter) = &self.iter else {
            return RawItem::End;
        };
        let name = self.name;
        let step = Python::attach(|py| match iter.bind(py).call_method0("__next__") {
            Ok(item) => match value::from_py(&item) {
                Ok(v) => match serde_json::to_vec(&v) {
                    Ok(bytes) => Step::Item(bytes),
                    Err(e) => Step::Error(CallError::Serialization(e.to_string())),
                },
                Err(e) => Step::Error(CallError::Serialization(format!(
                    "an item of `{name}`: {e}"
                ))),
            },
            Err(e) if e.is_instance_of::<pyo3::exceptions::PyStopIteration>(py) => Step::End,
            Err(e) => Step::Error(CallError::Plugin(plugin_error(py, &e))),
        });
        match step {
            Step::Item(bytes) => {
                self.buf = bytes;
                RawItem::Item(&self.buf)
            }
            Step::End => {
                self.close();
                RawItem::End
            }
            Step::Error(e) => {
                self.close();
                RawItem::Error(e)
            }
        }
    }
}

impl PyItems {
    /// Closes a generator (its `finally` blocks run) and lets go of it.
    fn close(&mut self) {
        if let Some(iter) = self.iter.take() {
            Python::attach(|py| {
                let it = iter.bind(py);
                if let Ok(close) = it.getattr("close") {
                    if let Err(e) = close.call0() {
                        tracing::warn!(method = self.name, error = %e, "closing a Python stream raised");
                    }
                }
            });
        }
    }
}

impl Drop for PyItems {
    fn drop(&mut self) {
        self.close();
    }
}

/// The package files, copied to a private directory the host alone can
/// write: Python then imports exactly the verified bytes.
pub(crate) fn private_copy(
    files: &std::collections::BTreeMap<String, Vec<u8>>,
) -> std::io::Result<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::Builder::new().prefix("fidius-py-").tempdir()?;
    for (rel, bytes) in files {
        let dest = dir.path().join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&dest, bytes)?;
    }
    let root = dir.path().to_path_buf();
    Ok((dir, root))
}
