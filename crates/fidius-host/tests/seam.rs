//! The executor seam without any real backend: a test double implementing
//! `PluginExecutor` with typed values proves that `PluginHandle` and the
//! generated `<Trait>Client` never name a backend, and that a value-based
//! backend gets the caller's types directly (no bincode).

use fidius_core::{MethodKind, PluginError, Value};
use fidius_host::executor::{CallShape, OutputSink, ValueSink};
use fidius_host::{
    CallError, CallLimits, PluginExecutor, PluginHandle, PluginInfo, PluginRuntimeKind,
};
use std::sync::Mutex;
use test_plugin_smoke::CalculatorClient;

/// Records the arguments it receives (as neutral values) and answers
/// `add_direct` by summing them, without ever seeing bincode.
struct ValueDouble {
    info: PluginInfo,
    seen: Mutex<Vec<Value>>,
    limits: Mutex<CallLimits>,
}

impl ValueDouble {
    fn new() -> Self {
        ValueDouble {
            info: PluginInfo {
                name: "double".into(),
                interface_name: "Calculator".into(),
                interface_hash: CalculatorClient::INTERFACE_HASH,
                interface_version: 1,
                capabilities: 0,
                buffer_strategy: fidius_core::BufferStrategyKind::PluginAllocated,
                runtime: PluginRuntimeKind::Wasm,
            },
            seen: Mutex::new(Vec::new()),
            limits: Mutex::new(CallLimits::default()),
        }
    }
}

impl PluginExecutor for ValueDouble {
    fn info(&self) -> &PluginInfo {
        &self.info
    }
    fn method_count(&self) -> u32 {
        3
    }
    fn call_raw(&self, _method: usize, _input: &[u8]) -> Result<Vec<u8>, CallError> {
        Err(CallError::WireModeMismatch {
            method: "add".into(),
            declared: false,
            attempted: true,
        })
    }
    fn call_wire(&self, _m: usize, _i: &[u8], _o: OutputSink<'_>) -> Result<(), CallError> {
        panic!("a value-based backend must never be handed bincode");
    }
    fn call_shape(&self) -> CallShape {
        CallShape::Values
    }
    fn call_value(
        &self,
        method: usize,
        args: &dyn erased_serde::Serialize,
        output: ValueSink<'_>,
    ) -> Result<(), CallError> {
        let v =
            fidius_core::to_value(&args).map_err(|e| CallError::Serialization(e.to_string()))?;
        self.seen.lock().unwrap().push(v.clone());
        let out = match (method, v) {
            (1, Value::List(items)) => {
                let sum: i64 = items
                    .iter()
                    .map(|x| match x {
                        Value::S64(n) => *n,
                        _ => 0,
                    })
                    .sum();
                if sum < 0 {
                    return Err(CallError::Plugin(PluginError::new("NEG", "negative sum")));
                }
                Value::S64(sum)
            }
            (m, _) => return Err(CallError::InvalidMethodIndex { index: m, count: 3 }),
        };
        output(&mut <dyn erased_serde::Deserializer>::erase(out))
    }
    fn method_kind(&self, method: usize) -> Option<MethodKind> {
        (method < 3).then_some(MethodKind::Unary)
    }
    fn set_limits(&self, limits: CallLimits) -> Result<(), CallError> {
        *self.limits.lock().unwrap() = limits;
        Ok(())
    }
    fn limits(&self) -> Option<CallLimits> {
        Some(*self.limits.lock().unwrap())
    }
}

#[test]
fn a_generated_client_calls_a_value_backend_through_the_seam() {
    let handle = PluginHandle::new(ValueDouble::new());
    let client = CalculatorClient::try_from_handle(handle)
        .expect("hash checked, strategy ignored for non-cdylib");
    assert_eq!(client.add_direct(&2, &3).unwrap(), 5);
    assert!(matches!(client.add_direct(&-5, &1), Err(CallError::Plugin(e)) if e.code == "NEG"));
    // The double saw the caller's typed argument tuple.
    let exec = client.handle().executor();
    assert_eq!(exec.call_shape(), CallShape::Values);
    let limits = CallLimits {
        deadline: Some(std::time::Duration::from_millis(5)),
        ..CallLimits::default()
    };
    client.handle().set_limits(limits).unwrap();
    assert_eq!(client.handle().limits(), Some(limits));
}

#[test]
fn the_default_value_path_of_a_wire_backend_goes_through_bincode() {
    // A cdylib executor (in process) reached through the trait object gets
    // typed calls via the default `call_value`, i.e. bincode.
    let desc = PluginHandle::find_in_process_descriptor("BasicCalculator").unwrap();
    let handle = PluginHandle::from_descriptor(desc).unwrap();
    let exec = handle.executor();
    assert_eq!(exec.call_shape(), CallShape::Wire);
    let mut out: Option<i64> = None;
    exec.call_value(1, &(20i64, 22i64), &mut |de| {
        out = Some(erased_serde::deserialize(de).unwrap());
        Ok(())
    })
    .unwrap();
    assert_eq!(out, Some(42));
    assert!(
        handle.set_limits(CallLimits::default()).is_err(),
        "cdylib plugins have no limits"
    );
}
