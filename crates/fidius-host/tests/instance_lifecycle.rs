//! Configured instances are set up once and destroyed exactly once (own test
//! binary: it reads process-wide counters of the in-process fixture).

use fidius_host::PluginHandle;
use std::sync::atomic::Ordering;
use test_plugin_smoke::*;

#[test]
fn configure_runs_once_and_destroy_exactly_once_per_instance() {
    let desc = PluginHandle::find_in_process_descriptor("ConfiguredGreeter").unwrap();
    let configured = GREETERS_CONFIGURED.load(Ordering::SeqCst);
    let dropped = GREETERS_DROPPED.load(Ordering::SeqCst);
    let handles: Vec<GreeterClient> = (0..5)
        .map(|i| {
            let h = PluginHandle::configure_in_process(
                desc,
                &GreetConfig {
                    greeting: format!("G{i}"),
                },
            )
            .unwrap();
            GreeterClient::from_handle(h)
        })
        .collect();
    assert_eq!(GREETERS_CONFIGURED.load(Ordering::SeqCst) - configured, 5);
    for (i, h) in handles.iter().enumerate() {
        for _ in 0..3 {
            assert_eq!(h.greet("x").unwrap(), format!("G{i}, x!"));
        }
    }
    // Calls do not re-run setup.
    assert_eq!(GREETERS_CONFIGURED.load(Ordering::SeqCst) - configured, 5);
    assert_eq!(GREETERS_DROPPED.load(Ordering::SeqCst) - dropped, 0);
    drop(handles);
    assert_eq!(GREETERS_DROPPED.load(Ordering::SeqCst) - dropped, 5);
    // A failed configuration builds nothing and destroys nothing.
    assert!(PluginHandle::configure_in_process(desc, &1u8).is_err());
    assert_eq!(GREETERS_CONFIGURED.load(Ordering::SeqCst) - configured, 5);
    assert_eq!(GREETERS_DROPPED.load(Ordering::SeqCst) - dropped, 5);
}
