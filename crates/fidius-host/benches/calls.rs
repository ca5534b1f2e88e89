//! Call cost of the cdylib tier against a direct `Box<dyn Trait>` call in the
//! same process: `add(i64, i64)` and `echo(Vec<u8>)` typed and raw at
//! 64 B / 4 KiB / 256 KiB, both buffer strategies. See docs/performance.md.
//!
//! Echo closures return the length, so every output is dropped inside the
//! timed region (as in real use) instead of piling up until the sample ends.

use bench_plugin::{Bench, BenchArenaClient, BenchClient, Bencher as Impl};
use divan::{black_box, Bencher};
use fidius_host::PluginHost;
use std::path::Path;
use std::sync::OnceLock;

const SIZES: [usize; 3] = [64, 4096, 256 * 1024];

struct Clients {
    /// Slot 0 (`add`) of the PluginAllocated plugin and an instance, for the FFI-floor bench.
    add_slot: (fidius_core::descriptor::PluginAllocatedFn, usize),
    pa: BenchClient,
    arena: BenchArenaClient,
    _dir: tempfile::TempDir,
}

fn clients() -> &'static Clients {
    static C: OnceLock<Clients> = OnceLock::new();
    C.get_or_init(|| {
        let lib = fidius_test::dylib_fixture(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/bench-plugin"),
        )
        .release()
        .build()
        .into_path();
        let dir = tempfile::tempdir().unwrap();
        fidius_test::copy_into(&lib, dir.path());
        let host = PluginHost::builder()
            .search_path(dir.path())
            .build()
            .unwrap();
        let loaded = host.load("Bencher").unwrap();
        // SAFETY: a validated descriptor of a library kept alive by `loaded`
        // (leaked below for the life of the benchmark process).
        let add_slot = unsafe {
            let d = &*loaded.descriptor;
            let inst = d.construct.unwrap()(std::ptr::null(), 0);
            let slot = *(d.vtable as *const fidius_core::descriptor::PluginAllocatedFn);
            (slot, inst as usize)
        };
        std::mem::forget(loaded);
        Clients {
            add_slot,
            pa: BenchClient::load(&host, "Bencher").unwrap(),
            arena: BenchArenaClient::load(&host, "ArenaBencher").unwrap(),
            _dir: dir,
        }
    })
}

/// The baseline: a `Box<dyn Bench>` the optimiser cannot see through, so
/// every call is a real dynamic dispatch (as across any plugin boundary).
fn direct() -> Box<dyn Bench> {
    black_box(Box::new(Impl) as Box<dyn Bench>)
}

fn main() {
    clients();
    divan::main();
}

mod add {
    use super::*;

    #[divan::bench(sample_size = 1000)]
    fn direct_dyn(b: Bencher) {
        let d = direct();
        b.bench_local(|| d.add(black_box(20), black_box(22)));
    }

    #[divan::bench(sample_size = 1000)]
    fn cdylib_typed(b: Bencher) {
        let c = &clients().pa;
        b.bench_local(|| c.add(black_box(&20), black_box(&22)).unwrap());
    }

    #[divan::bench(sample_size = 1000)]
    fn cdylib_arena_typed(b: Bencher) {
        let c = &clients().arena;
        b.bench_local(|| c.add(black_box(&20), black_box(&22)).unwrap());
    }

    /// `PluginHandle::call_method` without the generated client.
    #[divan::bench(sample_size = 1000)]
    fn handle_typed(b: Bencher) {
        let h = clients().pa.handle();
        b.bench_local(|| {
            h.call_method::<_, i64>(0, &(black_box(20i64), black_box(22i64)))
                .unwrap()
        });
    }

    /// Host dispatch without encode/decode: `call_wire` with pre-encoded arguments.
    #[divan::bench]
    fn call_wire_only(b: Bencher) {
        let h = clients().pa.handle();
        let input = fidius_core::wire::serialize(&(20i64, 22i64)).unwrap();
        b.bench_local(|| {
            let mut n = 0usize;
            h.executor()
                .call_wire(0, black_box(&input), &mut |bytes| {
                    n = bytes.len();
                    Ok(())
                })
                .unwrap();
            n
        });
    }

    /// Wire cost alone: encode `(a, b)` on the stack and decode an `i64`.
    #[divan::bench]
    fn wire_only(b: Bencher) {
        let out = fidius_core::wire::serialize(&42i64).unwrap();
        b.bench_local(|| {
            let args = (black_box(&20i64), black_box(&22i64));
            let size = fidius_core::wire::serialized_size(&args).unwrap() as usize;
            let mut stack = [0u8; 64];
            let mut w: &mut [u8] = &mut stack[..];
            fidius_core::wire::serialize_into(&mut w, &args).unwrap();
            let v: i64 = fidius_core::wire::deserialize(black_box(&out)).unwrap();
            (stack[size - 1], v)
        });
    }

    /// The plugin side alone: one FFI call of the `add` slot with
    /// pre-encoded arguments and a scratch offer (the floor under `cdylib_typed`).
    #[divan::bench]
    fn ffi_slot_only(b: Bencher) {
        let (slot, inst) = clients().add_slot;
        let input = fidius_core::wire::serialize(&(20i64, 22i64)).unwrap();
        b.bench_local(|| {
            let mut scratch = [0u8; 64];
            let mut out_ptr = scratch.as_mut_ptr();
            let mut out_len = fidius_core::rt::SCRATCH_OFFER_TAG | 64;
            // SAFETY: the slot contract: valid input, writable out pointers, 64-byte scratch.
            let status = unsafe {
                slot(
                    inst as *mut std::ffi::c_void,
                    input.as_ptr(),
                    input.len() as u32,
                    &mut out_ptr,
                    &mut out_len,
                )
            };
            black_box((status, scratch[0]))
        });
    }
}

mod echo {
    use super::*;

    #[divan::bench(args = SIZES, sample_size = 64)]
    fn direct_dyn_clone(b: Bencher, n: usize) {
        let d = direct();
        let data = vec![7u8; n];
        b.bench_local(|| d.echo(black_box(&data).clone()).len());
    }

    #[divan::bench(args = SIZES, sample_size = 64)]
    fn cdylib_typed(b: Bencher, n: usize) {
        let c = &clients().pa;
        let data = vec![7u8; n];
        b.bench_local(|| c.echo(black_box(&data)).unwrap().len());
    }

    #[divan::bench(args = SIZES, sample_size = 64)]
    fn cdylib_raw(b: Bencher, n: usize) {
        let c = &clients().pa;
        let data = vec![7u8; n];
        b.bench_local(|| c.echo_raw(black_box(&data)).unwrap().len());
    }

    #[divan::bench(args = SIZES, sample_size = 64)]
    fn cdylib_arena_typed(b: Bencher, n: usize) {
        let c = &clients().arena;
        let data = vec![7u8; n];
        b.bench_local(|| c.echo(black_box(&data)).unwrap().len());
    }

    #[divan::bench(args = SIZES, sample_size = 64)]
    fn cdylib_arena_raw(b: Bencher, n: usize) {
        let c = &clients().arena;
        let data = vec![7u8; n];
        b.bench_local(|| c.echo_raw(black_box(&data)).unwrap().len());
    }
}
