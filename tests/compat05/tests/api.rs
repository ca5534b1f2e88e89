//! The fidius 0.5 public API, used the way its users use it: every item of
//! issue 13's compatibility list at fidius 0.5's path and signature, with
//! assertions on what each does. If this file stops compiling, a user's
//! switch from fidius 0.5 breaks.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ed25519_dalek::{Signer, SigningKey};
use fidius_core::{PluginDescriptor, PluginRegistry, FIDIUS_MAGIC, STATUS_OK, STATUS_PANIC};
use fidius_host::arch::check_architecture;
use fidius_host::client_stream::{host_producer_handle, host_producer_handle_typed};
use fidius_host::package::unpack_fid;
use fidius_host::signing::verify_package_signature;
use fidius_host::types::{LoadPolicy, PluginInfo, PluginRuntimeKind};
use fidius_host::{CallError, CdylibExecutor, LoadError, PluginExecutor, PluginHandle, PluginHost};
use fidius_test::dylib::{dylib_fixture, DylibFixture, DylibFixtureBuilder};
use fidius_test::signing::{fixture_keypair, fixture_keypair_with_seed, sign_dylib};
use fidius_test::stream::{collect, pump, stream_of, CollectSink, StreamSink};

fn smoke_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-plugin-smoke")
}

fn fixture() -> DylibFixture {
    let builder: DylibFixtureBuilder = dylib_fixture(smoke_dir()).with_release(false);
    builder.build()
}

#[test]
fn fixtures_and_signing_have_the_05_shapes() {
    let built = fixture();
    let dir: &Path = built.dir();
    let lib: &Path = built.dylib_path();
    assert!(lib.starts_with(dir) && lib.is_file());

    // fidius 0.5: `sign_dylib(&Path, &SigningKey) -> std::io::Result<()>`.
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join(lib.file_name().unwrap());
    std::fs::copy(lib, &copy).unwrap();
    let (sk, vk) = fixture_keypair();
    sign_dylib(&copy, &sk).expect("signing a copy");
    let err: std::io::Result<()> = sign_dylib(&tmp.path().join("missing.so"), &sk);
    assert!(
        err.is_err(),
        "signing a missing file is an I/O error, not a panic"
    );

    let host = PluginHost::builder()
        .search_path(tmp.path())
        .require_signature(true)
        .trusted_keys(&[vk])
        .load_policy(LoadPolicy::Strict)
        .build()
        .unwrap();
    let plugins: Vec<PluginInfo> = host.discover().unwrap();
    assert!(plugins.iter().any(|p| p.name == "BasicCalculator"));
    assert!(plugins
        .iter()
        .all(|p| p.runtime == PluginRuntimeKind::Cdylib));

    // `signed_with` signs the fixture's own copy.
    let (sk2, vk2) = fixture_keypair_with_seed(9);
    let signed = dylib_fixture(smoke_dir()).signed_with(&sk2).build();
    let strict = PluginHost::builder()
        .search_path(signed.dir())
        .require_signature(true)
        .trusted_keys(&[vk2])
        .build()
        .unwrap();
    assert!(strict.load("BasicCalculator").is_ok());
}

#[test]
fn architecture_check_returns_unit() {
    let ok: Result<(), LoadError> = check_architecture(fixture().dylib_path());
    ok.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let foreign = tmp.path().join("foreign.so");
    // A minimal 64-bit little-endian ELF shared object for the other CPU.
    let other = if cfg!(target_arch = "aarch64") {
        0x3Eu16
    } else {
        0xB7
    };
    let mut elf = vec![0u8; 64];
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[4] = 2;
    elf[5] = 1;
    elf[6] = 1;
    elf[16..18].copy_from_slice(&3u16.to_le_bytes());
    elf[18..20].copy_from_slice(&other.to_le_bytes());
    elf[20..24].copy_from_slice(&1u32.to_le_bytes());
    elf[52..54].copy_from_slice(&64u16.to_le_bytes());
    std::fs::write(&foreign, &elf).unwrap();
    assert!(matches!(
        check_architecture(&foreign),
        Err(LoadError::ArchitectureMismatch { .. })
    ));
}

#[test]
fn packages_unpack_with_two_arguments_and_verify_to_load_errors() {
    let src = tempfile::tempdir().unwrap();
    let pkg = src.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(
        pkg.join("package.toml"),
        "[package]\nname = \"demo\"\nversion = \"1.0.0\"\ninterface = \"demo-api\"\ninterface_version = 1\n\n[metadata]\n",
    )
    .unwrap();
    std::fs::write(pkg.join("lib.rs"), "// source").unwrap();

    // Sign the directory digest, as `fidius package sign` does.
    let (sk, vk) = fixture_keypair();
    let digest = fidius_core::package::package_digest(&pkg).unwrap();
    std::fs::write(pkg.join("package.sig"), sk.sign(&digest).to_bytes()).unwrap();
    let checked: Result<(), LoadError> = verify_package_signature(&pkg, &[vk]);
    checked.unwrap();
    let wrong = SigningKey::from_bytes(&[3; 32]).verifying_key();
    assert!(matches!(
        verify_package_signature(&pkg, &[wrong]),
        Err(LoadError::SignatureInvalid { .. })
    ));

    let archive = fidius_core::package::pack_package(&pkg, Some(&src.path().join("demo.fid")))
        .unwrap()
        .path;
    let dest = tempfile::tempdir().unwrap();
    let unpacked = unpack_fid(&archive, dest.path()).unwrap();
    assert!(unpacked.join("package.toml").is_file());
    verify_package_signature(&unpacked, &[vk]).unwrap();
    let manifest = fidius_core::package::load_manifest_untyped(&unpacked).unwrap();
    assert_eq!(manifest.package.name, "demo");
}

#[test]
fn core_root_and_module_paths() {
    // `descriptor::*` and `status::*` at the root.
    assert_eq!(STATUS_OK, 0);
    assert_eq!(STATUS_PANIC, -4);
    assert_eq!(&FIDIUS_MAGIC, b"FIDIUS\0\0");
    assert_eq!(std::mem::size_of::<PluginDescriptor>(), 120);
    assert_eq!(std::mem::size_of::<PluginRegistry>(), 24);
    assert_eq!(fidius_core::BufferStrategyKind::PluginAllocated as u8, 1);
    // `host_registry`: a host binary imports no host interfaces itself.
    let reg = fidius_core::host_registry::get_host_imports();
    assert_eq!(
        reg.registry_version,
        fidius_core::host_registry::HOST_IMPORTS_VERSION
    );
    assert_eq!(reg.magic, FIDIUS_MAGIC);
}

#[test]
fn cdylib_executor_from_loaded_returns_self() {
    let host = PluginHost::builder()
        .search_path(fixture().dir())
        .build()
        .unwrap();
    let exec: CdylibExecutor = CdylibExecutor::from_loaded(host.load("BasicCalculator").unwrap());
    assert_eq!(exec.info().name, "BasicCalculator");
    let fallible = CdylibExecutor::try_from_loaded(host.load("BasicCalculator").unwrap());
    assert!(fallible.is_ok());
}

/// A custom executor with only fidius 0.5's required methods.
struct Echo {
    info: PluginInfo,
}

impl PluginExecutor for Echo {
    fn info(&self) -> &PluginInfo {
        &self.info
    }
    fn method_count(&self) -> u32 {
        1
    }
    fn call_raw(&self, method: usize, input: &[u8]) -> Result<Vec<u8>, CallError> {
        if method != 0 {
            return Err(CallError::InvalidMethodIndex {
                index: method,
                count: 1,
            });
        }
        Ok(input.iter().rev().copied().collect())
    }
}

#[test]
fn a_custom_executor_needs_only_the_05_methods() {
    let host = PluginHost::builder()
        .search_path(fixture().dir())
        .build()
        .unwrap();
    let mut info = host.load("BasicCalculator").unwrap().info;
    info.name = "echo".into();
    let exec: Box<dyn PluginExecutor> = Box::new(Echo { info });
    assert_eq!(exec.call_raw(0, b"abc").unwrap(), b"cba");
    assert_eq!(exec.method_count(), 1);
    assert!(matches!(
        exec.call_raw(5, b""),
        Err(CallError::InvalidMethodIndex { index: 5, .. })
    ));
}

#[test]
fn low_level_client_streams() {
    use test_plugin_smoke::{__fidius_StreamWorks as sw, StreamConfig};
    let host = PluginHost::builder()
        .search_path(fixture().dir())
        .build()
        .unwrap();
    let handle = PluginHandle::configure_from_loaded(
        host.load("StreamWorksImpl").unwrap(),
        &StreamConfig { step: 1 },
    )
    .unwrap();
    let typed = host_producer_handle_typed((1u64..=4).map(|x| x * 10));
    // SAFETY: a fresh handle nobody else owns.
    let out = unsafe { handle.call_client_streaming_raw(sw::METHOD_SUM, typed, &[]) }.unwrap();
    assert_eq!(bincode::deserialize::<u64>(&out).unwrap(), 100);

    let encoded = host_producer_handle(
        [5u64, 6, 7]
            .map(|x| bincode::serialize(&x).unwrap())
            .into_iter(),
    );
    // SAFETY: as above.
    let out = unsafe { handle.call_client_streaming_raw(sw::METHOD_SUM, encoded, &[]) }.unwrap();
    assert_eq!(bincode::deserialize::<u64>(&out).unwrap(), 18);
}

/// A sink written with `#[async_trait]`, as fidius 0.5 users write them.
struct Summing(Mutex<i64>);

#[async_trait::async_trait]
impl StreamSink for Summing {
    async fn accept(&self, value: fidius::Value) -> Result<(), CallError> {
        let n: i64 =
            fidius::from_value(value).map_err(|e| CallError::Deserialization(e.to_string()))?;
        *self.0.lock().unwrap() += n;
        Ok(())
    }
}

#[tokio::test]
async fn stream_sinks_are_object_safe_and_async_trait_friendly() {
    let values = || {
        (1..=4i64)
            .map(|n| fidius::to_value(&n).unwrap())
            .collect::<Vec<_>>()
    };
    let sink = Summing(Mutex::new(0));
    let dyn_sink: &dyn StreamSink = &sink;
    pump(stream_of(values()), dyn_sink).await.unwrap();
    assert_eq!(*sink.0.lock().unwrap(), 10);

    let collected = CollectSink::new();
    pump(stream_of(values()), &collected).await.unwrap();
    assert_eq!(collected.take().len(), 4);
    assert_eq!(collect(stream_of(values())).await.unwrap().len(), 4);
}

#[test]
fn load_errors_of_other_backends_exist() {
    let e = LoadError::PythonLoad("no interpreter".into());
    assert!(e.to_string().contains("no interpreter"));
    let e = LoadError::WasmLoad("bad component".into());
    assert!(e.to_string().contains("bad component"));
}
