//! Values between Rust and Python: typed arguments become JSON-shaped
//! Python objects (dict, list, int, float, str, None) and results come back.

use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};
use pyo3::IntoPyObjectExt;
use serde_json::{Map, Number, Value};

/// Deepest nesting accepted from a plugin's return value.
const MAX_DEPTH: usize = 128;

/// A JSON value as a Python object.
pub(crate) fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_bound_py_any(py)?,
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_bound_py_any(py)?
            } else if let Some(u) = n.as_u64() {
                u.into_bound_py_any(py)?
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)?
            }
        }
        Value::String(s) => s.into_bound_py_any(py)?,
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(k, to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// The positional arguments for a call whose argument tuple serialized as `args`.
pub(crate) fn to_args<'py>(py: Python<'py>, args: &Value) -> PyResult<Bound<'py, PyTuple>> {
    match args {
        Value::Null => Ok(PyTuple::empty(py)),
        Value::Array(items) => {
            let objs = items
                .iter()
                .map(|i| to_py(py, i))
                .collect::<PyResult<Vec<_>>>()?;
            PyTuple::new(py, objs)
        }
        other => PyTuple::new(py, [to_py(py, other)?]),
    }
}

/// A Python result as a JSON value; what cannot be represented is an error
/// that names the Python type.
pub(crate) fn from_py(obj: &Bound<'_, PyAny>) -> Result<Value, String> {
    from_py_at(obj, 0)
}

fn from_py_at(obj: &Bound<'_, PyAny>, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("value nested deeper than {MAX_DEPTH} levels"));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(
            obj.extract::<bool>().map_err(|e| e.to_string())?,
        ));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(format!("integer {obj} does not fit in 64 bits"));
    }
    if obj.is_instance_of::<PyFloat>() {
        let f = obj.extract::<f64>().map_err(|e| e.to_string())?;
        return Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("float {f} is not finite"));
    }
    if obj.is_instance_of::<PyString>() {
        return Ok(Value::String(
            obj.extract::<String>().map_err(|e| e.to_string())?,
        ));
    }
    if let Some(bytes) = bytes_of(obj) {
        return Ok(Value::Array(bytes.into_iter().map(Value::from).collect()));
    }
    if obj.is_instance_of::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in obj.cast::<PyDict>().map_err(|e| e.to_string())?.iter() {
            let key = if k.is_instance_of::<PyString>() {
                k.extract::<String>().map_err(|e| e.to_string())?
            } else {
                k.str().map_err(|e| e.to_string())?.to_string()
            };
            map.insert(key, from_py_at(&v, depth + 1)?);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut out = Vec::new();
        for item in obj.try_iter().map_err(|e| e.to_string())? {
            out.push(from_py_at(&item.map_err(|e| e.to_string())?, depth + 1)?);
        }
        return Ok(Value::Array(out));
    }
    // Dataclasses and plain objects: their public attributes, as a record.
    if let Ok(fields) = obj.getattr("__dict__") {
        if fields.is_instance_of::<PyDict>() {
            let mut map = Map::new();
            for (k, v) in fields.cast::<PyDict>().map_err(|e| e.to_string())?.iter() {
                let key: String = k.extract().map_err(|e: PyErr| e.to_string())?;
                if !key.starts_with('_') {
                    map.insert(key, from_py_at(&v, depth + 1)?);
                }
            }
            return Ok(Value::Object(map));
        }
    }
    let ty = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    Err(format!(
        "a Python `{ty}` cannot cross to Rust (use None, bool, int, float, str, bytes, list, tuple, dict or a dataclass)"
    ))
}

/// The contents of a `bytes` or `bytearray` (copied once).
pub(crate) fn bytes_of(obj: &Bound<'_, PyAny>) -> Option<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Some(b.as_bytes().to_vec());
    }
    obj.cast::<PyByteArray>().ok().map(|b| b.to_vec())
}
