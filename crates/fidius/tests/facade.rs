//! The facade's public surface: an interface and an in-process plugin defined
//! through `fidius` alone (the seed snippets' imports), and the re-exports
//! hosts and tools rely on.

#![allow(unexpected_cfgs)]

pub use fidius::{plugin_impl, PluginError};

#[fidius::plugin_interface(version = 2, buffer = PluginAllocated)]
#[fidius::trait_meta("owner", "facade-test")]
pub trait MyPlugin: Send + Sync {
    #[fidius::method_meta("doc", "processes input")]
    fn process(&self, input: String) -> String;
    fn fail(&self) -> Result<u8, PluginError>;
}

mod plugin_crate {
    // What a plugin crate writes: the trait, `plugin_impl`, `PluginError`.
    use super::{plugin_impl, MyPlugin, PluginError};

    pub struct MyImpl;

    #[plugin_impl(MyPlugin)]
    impl MyPlugin for MyImpl {
        fn process(&self, input: String) -> String {
            format!("processed: {input}")
        }
        fn fail(&self) -> Result<u8, PluginError> {
            Err(PluginError::new("NOPE", "always fails"))
        }
    }
}

/// Appendix A of the fidius 0.5 reference: its hash was measured with fidius 0.5.
#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]
pub trait Tup: Send + Sync {
    fn t(
        &self,
        m: std::collections::HashMap<String, (i32, u64)>,
        a: [u8; 4],
    ) -> Result<(), PluginError>;
}

#[test]
fn hash_matches_fidius_05_golden_values() {
    // The compiler's token printer, as fidius 0.5's macro used it.
    assert_eq!(__fidius_Tup::Tup_INTERFACE_HASH, 0xf0947ebf8d0f16b0);
}

/// White-labelling: an interface crate that re-exports fidius under its own
/// path and points the macros at it with `crate = "…"`.
pub mod brand {
    pub use fidius::*;
}

#[fidius::plugin_interface(version = 1, buffer = Arena, crate = "crate::brand")]
pub trait Branded: Send + Sync {
    fn shout(&self, s: String) -> String;
}

pub struct Loud;

#[fidius::plugin_impl(Branded, crate = "crate::brand")]
impl Branded for Loud {
    fn shout(&self, s: String) -> String {
        s.to_uppercase()
    }
}

#[test]
fn crate_path_white_labelling() {
    let d = fidius::registry::descriptors()
        .iter()
        // SAFETY: static names.
        .find(|d| unsafe { d.plugin_name_str() } == "Loud")
        .expect("Loud registered");
    assert_eq!(d.buffer_strategy, fidius::BufferStrategyKind::Arena as u8);
    assert!(d.free_buffer.is_none());
}

fidius::fidius_plugin_registry!();

#[test]
fn generated_items_and_registry() {
    use __fidius_MyPlugin::*;
    assert_eq!(METHOD_PROCESS, 0);
    assert_eq!(METHOD_FAIL, 1);
    assert_eq!(MyPlugin_INTERFACE_VERSION, 2);
    assert_eq!(
        MyPlugin_BUFFER_STRATEGY,
        fidius::BufferStrategyKind::PluginAllocated as u8
    );
    let expected = fidius::interface_hash(&[
        "process:String->String",
        "fail:->Result < u8, PluginError >",
    ]);
    assert_eq!(MyPlugin_INTERFACE_HASH, expected);
    assert_eq!(std::mem::size_of::<MyPlugin_VTable>(), 16);

    // The exported entry point returns the in-process registry.
    let reg = fidius_get_registry();
    // SAFETY: our own registry, valid for the whole process.
    let reg = unsafe { &*reg };
    assert_eq!(reg.magic, fidius::FIDIUS_MAGIC);
    assert_eq!(reg.registry_version, fidius::REGISTRY_VERSION);
    assert_eq!(reg.plugin_count, 2);
    let d = fidius::registry::descriptors()
        .iter()
        // SAFETY: static names.
        .find(|d| unsafe { d.plugin_name_str() } == "MyImpl")
        .expect("MyImpl registered");
    assert_eq!(d.abi_version, fidius::ABI_VERSION);
    assert_eq!(d.descriptor_size, 120);
    // SAFETY: static names.
    assert_eq!(unsafe { d.plugin_name_str() }, "MyImpl");
    // SAFETY: static names.
    assert_eq!(unsafe { d.interface_name_str() }, "MyPlugin");
    assert_eq!(d.interface_hash, expected);

    // Drive the vtable directly, as a foreign host would.
    let construct = d.construct.unwrap();
    // SAFETY: zero-config construct with no bytes.
    let inst = unsafe { construct(std::ptr::null(), 0) };
    assert!(!inst.is_null());
    let vt = d.vtable as *const MyPlugin_VTable;
    let input = fidius::wire::serialize(&("hi".to_string(),)).unwrap();
    let mut out_ptr = std::ptr::null_mut();
    let mut out_len = 0u32;
    // SAFETY: the PluginAllocated slot contract with our own buffers.
    let status = unsafe {
        ((*vt).process)(
            inst,
            input.as_ptr(),
            input.len() as u32,
            &mut out_ptr,
            &mut out_len,
        )
    };
    assert_eq!(status, fidius::status::STATUS_OK);
    // SAFETY: the plugin handed us `out_len` bytes at `out_ptr`.
    let out: String =
        fidius::wire::deserialize(unsafe { std::slice::from_raw_parts(out_ptr, out_len as usize) })
            .unwrap();
    assert_eq!(out, "processed: hi");
    // SAFETY: return the buffer and the instance exactly once.
    unsafe {
        d.free_buffer.unwrap()(out_ptr, out_len as usize);
        d.destroy.unwrap()(inst);
    }
}

#[test]
fn value_model_round_trip() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct P {
        x: i32,
        tags: Vec<String>,
    }
    let v = fidius::to_value(&P {
        x: 3,
        tags: vec!["a".into()],
    })
    .unwrap();
    assert!(matches!(&v, fidius::Value::Record(fields) if fields[0].0 == "x"));
    let back: P = fidius::from_value(v).unwrap();
    assert_eq!(
        back,
        P {
            x: 3,
            tags: vec!["a".into()]
        }
    );
    let err: Result<u8, fidius::ValueError> = fidius::from_value(fidius::Value::String("x".into()));
    assert!(err.is_err());
}
