//! In-process plugins: the fixture crate linked as an rlib registers its
//! plugins in this test binary's own registry.

use fidius_host::{CallError, LoadError, PluginHandle};
use test_plugin_smoke::*;

#[test]
fn client_in_process_and_hash_check() {
    let calc = CalculatorClient::in_process("BasicCalculator").unwrap();
    assert_eq!(calc.add_direct(&1, &2).unwrap(), 3);
    assert_eq!(calc.version().unwrap(), "1.0.0");
    // Asking for a plugin of another interface through this client is refused.
    assert!(matches!(
        CalculatorClient::in_process("ReverseBytes"),
        Err(LoadError::InterfaceHashMismatch { .. })
    ));
    assert!(matches!(
        CalculatorClient::in_process("Nope"),
        Err(LoadError::PluginNotFound { .. })
    ));
    let registry = fidius_core::registry::get_registry();
    assert_eq!(registry.plugin_count, 8);
}

#[test]
fn configured_in_process_instances() {
    let desc = PluginHandle::find_in_process_descriptor("ConfiguredGreeter").unwrap();
    let a = GreeterClient::from_handle(
        PluginHandle::configure_in_process(
            desc,
            &GreetConfig {
                greeting: "Hey".into(),
            },
        )
        .unwrap(),
    );
    let b = GreeterClient::from_handle(
        PluginHandle::configure_in_process(
            desc,
            &GreetConfig {
                greeting: "Yo".into(),
            },
        )
        .unwrap(),
    );
    assert_eq!(a.greet("x").unwrap(), "Hey, x!");
    assert_eq!(b.greet("y").unwrap(), "Yo, y!");
    assert!(matches!(
        PluginHandle::configure_in_process(desc, &()),
        Err(LoadError::ConstructFailed { .. })
    ));
}

#[test]
fn async_method_called_from_inside_a_tokio_runtime() {
    // An in-process async plugin method must not try to nest a runtime.
    let f = FallibleClient::in_process("FallibleImpl").unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let doubled = rt.block_on(async move { f.slow_double(&5) }).unwrap();
    assert_eq!(doubled, 10);
    let f = FallibleClient::in_process("FallibleImpl").unwrap();
    assert!(matches!(f.boom("x"), Err(CallError::Panic(_))));
}
