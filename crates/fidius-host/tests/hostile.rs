//! A broken or hostile library never crashes the host: every way of breaking
//! the registry, the descriptors or the call protocol is a typed error.

use fidius_core::descriptor::*;
use fidius_host::loader::{load_library, read_registry};
use fidius_host::{CallError, LoadError, PluginHandle, PluginHost};
use std::ffi::c_void;
use std::path::{Path, PathBuf};

fn hostile_lib() -> PathBuf {
    fidius_test::dylib_fixture(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/hostile-plugin"),
    )
    .build()
    .into_path()
}

fn smoke_lib() -> PathBuf {
    fidius_test::dylib_fixture(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/test-plugin-smoke"),
    )
    .build()
    .into_path()
}

fn handle(name: &str) -> Result<PluginHandle, LoadError> {
    let lib = load_library(&hostile_lib()).unwrap();
    let plugin = lib
        .plugins
        .into_iter()
        .find(|p| p.info.name == name)
        .unwrap();
    PluginHandle::try_from_loaded(plugin)
}

fn call(name: &str) -> CallError {
    handle(name)
        .unwrap()
        .call_method::<_, u64>(0, &())
        .unwrap_err()
}

#[test]
fn protocol_violations_are_typed_errors() {
    assert!(matches!(call("NullOutput"), CallError::Serialization(m) if m.contains("null output")));
    assert!(matches!(
        call("UnknownStatus"),
        CallError::UnknownStatus { code: 42 }
    ));
    assert!(matches!(call("GarbagePanic"), CallError::Panic(m) if m == "unknown panic"));
    assert!(matches!(
        call("GarbageError"),
        CallError::Deserialization(_)
    ));
    assert!(matches!(call("ShortOutput"), CallError::Deserialization(_)));
    assert!(
        matches!(call("ArenaOutOfRange"), CallError::Serialization(m) if m.contains("outside"))
    );
    assert!(matches!(call("ArenaNeverFits"), CallError::BufferTooSmall));
    assert!(matches!(
        call("ArenaHugeRequest"),
        CallError::BufferTooSmall
    ));
    assert!(
        matches!(call("ArenaOffsetOverflow"), CallError::Serialization(m) if m.contains("outside"))
    );
    // The interface version is checked apart from the hash.
    let versioned = handle("Versioned").unwrap();
    assert!(matches!(
        versioned.check_interface_version(1),
        Err(LoadError::InterfaceVersionMismatch {
            got: 2,
            expected: 1
        })
    ));
    versioned.check_interface_version(2).unwrap();
    // An arena past the cap is refused before anything is allocated.
    assert!(matches!(call("ArenaBigRequest"), CallError::BufferTooSmall));
    assert!(matches!(
        handle("NullConstruct"),
        Err(LoadError::ConstructFailed { .. })
    ));
    // The handle stays usable after a failed call.
    let h = handle("UnknownStatus").unwrap();
    for _ in 0..3 {
        assert!(matches!(
            h.call_method_raw(0, b"x"),
            Err(CallError::UnknownStatus { code: 42 })
        ));
    }
    assert!(matches!(
        h.call_method_raw(1, b"x"),
        Err(CallError::InvalidMethodIndex { index: 1, count: 1 })
    ));
}

/// A registry we can break in memory, to drive the validator directly.
struct Fixture {
    desc: Box<PluginDescriptor>,
    ptrs: Box<[*const PluginDescriptor; 1]>,
    reg: Box<PluginRegistry>,
}

unsafe extern "C" fn slot(
    _: *mut c_void,
    _: *const u8,
    _: u32,
    _: *mut *mut u8,
    _: *mut u32,
) -> i32 {
    0
}
unsafe extern "C" fn free(_: *mut u8, _: usize) {}
unsafe extern "C" fn ctor(_: *const u8, _: u32) -> *mut c_void {
    std::ptr::null_mut()
}
unsafe extern "C" fn dtor(_: *mut c_void) {}

static VTABLE: [PluginAllocatedFn; 1] = [slot];

impl Fixture {
    fn new() -> Self {
        let desc = Box::new(PluginDescriptor {
            descriptor_size: 120,
            abi_version: ABI_VERSION,
            interface_name: c"I".as_ptr(),
            interface_hash: 1,
            interface_version: 1,
            capabilities: 0,
            buffer_strategy: 1,
            plugin_name: c"P".as_ptr(),
            vtable: VTABLE.as_ptr() as *const c_void,
            free_buffer: Some(free),
            method_count: 1,
            method_metadata: std::ptr::null(),
            trait_metadata: std::ptr::null(),
            trait_metadata_count: 0,
            construct: Some(ctor),
            destroy: Some(dtor),
        });
        let ptrs = Box::new([&*desc as *const PluginDescriptor]);
        let reg = Box::new(PluginRegistry {
            magic: FIDIUS_MAGIC,
            registry_version: REGISTRY_VERSION,
            plugin_count: 1,
            descriptors: ptrs.as_ptr(),
        });
        Self { desc, ptrs, reg }
    }

    fn check(&mut self) -> Result<(), LoadError> {
        self.ptrs[0] = &*self.desc;
        self.reg.descriptors = self.ptrs.as_ptr();
        // SAFETY: every pointer in the fixture is valid (or deliberately null).
        unsafe { read_registry(&*self.reg, "<fixture>") }.map(|_| ())
    }
}

#[test]
fn registry_and_descriptor_gates() {
    Fixture::new().check().unwrap();
    type Case = (&'static str, fn(&mut Fixture), fn(&LoadError) -> bool);
    let cases: Vec<Case> = vec![
        (
            "bad magic",
            |f| f.reg.magic = *b"NOTFIDUS",
            |e| matches!(e, LoadError::InvalidMagic),
        ),
        (
            "registry version",
            |f| f.reg.registry_version = 2,
            |e| {
                matches!(
                    e,
                    LoadError::IncompatibleRegistryVersion {
                        got: 2,
                        expected: 1
                    }
                )
            },
        ),
        (
            "huge count",
            |f| f.reg.plugin_count = u32::MAX,
            |e| matches!(e, LoadError::InvalidDescriptor { .. }),
        ),
        (
            "abi version",
            |f| f.desc.abi_version = 400,
            |e| {
                matches!(
                    e,
                    LoadError::IncompatibleAbiVersion {
                        got: 400,
                        expected: 500
                    }
                )
            },
        ),
        (
            "short descriptor",
            |f| f.desc.descriptor_size = 104,
            |e| matches!(e, LoadError::InvalidDescriptor { .. }),
        ),
        (
            "null name",
            |f| f.desc.plugin_name = std::ptr::null(),
            |e| matches!(e, LoadError::InvalidDescriptor { reason, .. } if reason.contains("plugin_name")),
        ),
        (
            "non-utf8 name",
            |f| f.desc.interface_name = c"\xff\xfe".as_ptr(),
            |e| matches!(e, LoadError::InvalidDescriptor { reason, .. } if reason.contains("UTF-8")),
        ),
        (
            "unknown strategy",
            |f| f.desc.buffer_strategy = 0,
            |e| matches!(e, LoadError::UnknownBufferStrategy { value: 0 }),
        ),
        (
            "null vtable",
            |f| f.desc.vtable = std::ptr::null(),
            |e| matches!(e, LoadError::InvalidDescriptor { .. }),
        ),
        (
            "no free_buffer",
            |f| f.desc.free_buffer = None,
            |e| matches!(e, LoadError::InvalidDescriptor { reason, .. } if reason.contains("free_buffer")),
        ),
        (
            "no construct",
            |f| f.desc.construct = None,
            |e| matches!(e, LoadError::InvalidDescriptor { .. }),
        ),
        (
            "null trait metadata",
            |f| f.desc.trait_metadata_count = 3,
            |e| matches!(e, LoadError::InvalidDescriptor { .. }),
        ),
        (
            "method count",
            |f| f.desc.method_count = 1_000_000,
            |e| matches!(e, LoadError::InvalidDescriptor { .. }),
        ),
    ];
    for (what, breakit, expect) in cases {
        let mut f = Fixture::new();
        breakit(&mut f);
        let err = f.check().expect_err(what);
        assert!(expect(&err), "{what}: unexpected {err:?}");
    }
    // A name with no NUL, running up to a page that cannot be read: refused
    // after a bounded scan, never read up to the fault.
    let page = 4096usize;
    // SAFETY: an anonymous private mapping of three pages, owned by this test.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            3 * page,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED);
    // SAFETY: the first two pages are ours to write; the third becomes a guard.
    unsafe {
        std::ptr::write_bytes(base.cast::<u8>(), b'a', 2 * page);
        assert_eq!(
            libc::mprotect(
                base.cast::<u8>().add(2 * page).cast(),
                page,
                libc::PROT_NONE
            ),
            0
        );
    }
    let mut f = Fixture::new();
    f.desc.plugin_name = base.cast::<std::ffi::c_char>();
    let err = f.check().expect_err("an unterminated name");
    assert!(
        matches!(&err, LoadError::InvalidDescriptor { reason, .. } if reason.contains("no terminating NUL")),
        "{err:?}"
    );
    // SAFETY: unmapping the test's own mapping, no longer referenced.
    unsafe { libc::munmap(base, 3 * page) };

    // A descriptor built in safe code is not a registered plugin: refused
    // before any of its pointers is used.
    let forged: &'static PluginDescriptor = Box::leak(Fixture::new().desc);
    match PluginHandle::from_descriptor(forged) {
        Err(LoadError::InvalidDescriptor { reason, .. }) => {
            assert!(reason.contains("registry"), "{reason}")
        }
        other => panic!("a forged descriptor was accepted: {:?}", other.map(|_| ())),
    }
    assert!(PluginHandle::configure_in_process(forged, &()).is_err());

    // A null descriptor pointer and a null array.
    let mut f = Fixture::new();
    f.check().unwrap();
    f.ptrs[0] = std::ptr::null();
    // SAFETY: fixture pointers are valid; the descriptor pointer is null on purpose.
    let read = unsafe { read_registry(&*f.reg, "x") };
    assert!(matches!(read, Err(LoadError::InvalidDescriptor { .. })));
    f.reg.descriptors = std::ptr::null();
    // SAFETY: as above.
    let read = unsafe { read_registry(&*f.reg, "x") };
    assert!(matches!(read, Err(LoadError::InvalidDescriptor { .. })));
    // SAFETY: null is allowed and reported.
    let read = unsafe { read_registry(std::ptr::null(), "x") };
    assert!(matches!(read, Err(LoadError::InvalidDescriptor { .. })));
}

fn foreign_so() -> PathBuf {
    // The Rust standard library's own dylib: a real shared library that is not a fidius plugin.
    let out = std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .expect("rustc --print sysroot");
    let rustlib = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("lib/rustlib");
    std::fs::read_dir(&rustlib)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path().join("lib")))
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("libstd-")
                && n.ends_with(&format!(".{}", std::env::consts::DLL_EXTENSION))
        })
        .expect("libstd dylib in the sysroot")
}

#[test]
fn bad_files_are_typed_errors_and_never_stop_discovery() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let smoke = std::fs::read(smoke_lib()).unwrap();
    std::fs::write(d.join("libtruncated.so"), &smoke[..smoke.len().min(4096)]).unwrap();
    std::fs::write(d.join("libtext.so"), b"this is not a library").unwrap();
    std::fs::write(d.join("libempty.so"), b"").unwrap();
    let mut arm = smoke.clone();
    let machine: u16 = if cfg!(target_arch = "aarch64") {
        0x3E
    } else {
        0xB7
    };
    arm[18..20].copy_from_slice(&machine.to_le_bytes());
    std::fs::write(d.join("libotherarch.so"), &arm).unwrap();
    let foreign = fidius_test::copy_into(&foreign_so(), d);

    assert!(matches!(
        load_library(&d.join("libtruncated.so")),
        Err(LoadError::InvalidDescriptor { .. }) | Err(LoadError::LibLoading(_))
    ));
    assert!(matches!(
        load_library(&d.join("libtext.so")),
        Err(LoadError::InvalidDescriptor { .. })
    ));
    assert!(matches!(
        load_library(&d.join("libempty.so")),
        Err(LoadError::InvalidDescriptor { .. })
    ));
    if cfg!(target_os = "linux") {
        assert!(matches!(
            load_library(&d.join("libotherarch.so")),
            Err(LoadError::ArchitectureMismatch { .. })
        ));
    }
    assert!(matches!(
        load_library(&foreign),
        Err(LoadError::SymbolNotFound { .. })
    ));
    assert!(matches!(
        load_library(&d.join("libmissing.so")),
        Err(LoadError::LibraryNotFound { .. })
    ));

    // A FIFO (which would block a reader for ever), a directory and a
    // sparse file past the size cap: refused without being read.
    let fifo = d.join("libfifo.so");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    assert!(matches!(
        load_library(&fifo),
        Err(LoadError::InvalidDescriptor { reason, .. }) if reason.contains("not a regular file")
    ));
    std::fs::create_dir(d.join("libdir.so")).unwrap();
    assert!(matches!(
        load_library(&d.join("libdir.so")),
        Err(LoadError::InvalidDescriptor { .. })
    ));
    let huge = std::fs::File::create(d.join("libhuge.so")).unwrap();
    huge.set_len(fidius_host::arch::MAX_LIBRARY_BYTES + 1)
        .unwrap();
    assert!(matches!(
        load_library(&d.join("libhuge.so")),
        Err(LoadError::FileTooLarge { limit, .. }) if limit == fidius_host::arch::MAX_LIBRARY_BYTES
    ));
    // A signature that is a FIFO or too long is invalid, and never blocks.
    let smoke_copy = fidius_test::copy_into(&smoke_lib(), &d.join("signed"));
    let sig = fidius_host::signing::sig_path_for(&smoke_copy);
    let c = std::ffi::CString::new(sig.to_str().unwrap()).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    assert!(matches!(
        fidius_host::signing::verify_signature(&smoke_copy, &[key.verifying_key()]),
        Err(LoadError::SignatureInvalid { .. })
    ));
    std::fs::remove_file(&sig).unwrap();
    std::fs::write(&sig, vec![0u8; 1 << 20]).unwrap();
    assert!(matches!(
        fidius_host::signing::verify_signature(&smoke_copy, &[key.verifying_key()]),
        Err(LoadError::SignatureInvalid { .. })
    ));

    // With all of that in the search path, the real plugins are still found and loaded.
    fidius_test::copy_into(&smoke_lib(), d);
    let host = PluginHost::builder().search_path(d).build().unwrap();
    let names: Vec<String> = host
        .discover()
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert!(names.contains(&"BasicCalculator".to_string()), "{names:?}");
    let plugin = host.load("BasicCalculator").unwrap();
    let h = PluginHandle::try_from_loaded(plugin).unwrap();
    assert_eq!(h.call_method::<_, i64>(1, &(2i64, 3i64)).unwrap(), 5);
    assert!(matches!(
        host.load("Missing"),
        Err(LoadError::PluginNotFound { .. })
    ));
}
