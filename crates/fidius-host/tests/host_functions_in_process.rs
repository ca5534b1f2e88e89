//! Host functions for plugins linked into the host binary (own test binary:
//! the in-process binding is process-wide and can happen once).

use std::sync::Arc;
use test_plugin_smoke::*;

struct Host;

impl TestHost for Host {
    fn get_value(&self, key: String) -> u64 {
        key.len() as u64
    }
    fn release_slot(&self, n: u32) -> Result<u32, fidius_core::PluginError> {
        Ok(n)
    }
    fn panicky(&self) -> u32 {
        panic!("in-process host panic")
    }
}

#[test]
fn in_process_binding() {
    let plugin = DeferrableClient::in_process("DeferrableImpl").unwrap();
    assert!(
        matches!(plugin.run_deferred("x"), Err(fidius_host::CallError::Plugin(e)) if e.code == "NOT_BOUND")
    );
    TestHostBinding::bind_in_process(Arc::new(Host)).unwrap();
    assert_eq!(plugin.run_deferred("four").unwrap(), 5);
    assert_eq!(plugin.try_release(&7).unwrap(), "ok:7");
    let err = TestHostBinding::bind_in_process(Arc::new(Host)).unwrap_err();
    assert_eq!(err.code, fidius_core::host_ffi::BIND_ERR_ALREADY_BOUND);
}
