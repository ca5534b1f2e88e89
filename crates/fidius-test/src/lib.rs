//! Test helpers for fidius hosts and plugins: build a plugin crate as a real
//! cdylib or component once per process ([`dylib_fixture`]) and sign it with
//! deterministic keys ([`fixture_keypair`], [`sign_dylib`]).
//!
//! The module layout is fidius 0.5's (`dylib`, `signing`, and `stream` with
//! the `streaming` feature), so tests written for it compile unchanged.

#![warn(missing_docs)]

pub mod dylib;
pub mod signing;
#[cfg(feature = "streaming")]
pub mod stream;

pub use dylib::{
    dylib_fixture, fixture_target_dir, wasm_fixture, DylibFixture, DylibFixtureBuilder,
};
pub use signing::{fixture_keypair, fixture_keypair_with_seed, sign_dylib, sign_library};
/// Our earlier name of [`stream`].
#[cfg(feature = "streaming")]
pub use stream as streaming;
#[cfg(feature = "streaming")]
pub use stream::{collect, pump, stream_of, CollectSink, StreamSink};

use std::path::{Path, PathBuf};

/// Writes a WASM package `<parent>/<name>/` holding a copy of `component`
/// and a `package.toml` with these capabilities; `extra` is appended to the
/// manifest (e.g. a `[wasm.limits]` table). Returns the package directory.
pub fn wasm_package(
    parent: &Path,
    name: &str,
    component: &Path,
    capabilities: &[&str],
    extra: &str,
) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).expect("create package dir");
    std::fs::copy(component, dir.join("plugin.wasm")).expect("copy component");
    let caps: Vec<String> = capabilities.iter().map(|c| format!("{c:?}")).collect();
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\ninterface = \"test\"\ninterface_version = 1\nruntime = \"wasm\"\n\n[metadata]\n\n[wasm]\ncomponent = \"plugin.wasm\"\ncapabilities = [{}]\n{extra}",
        caps.join(", ")
    );
    std::fs::write(dir.join("package.toml"), manifest).expect("write package.toml");
    dir
}

/// Copies a built library into `dir` (e.g. a per-test search path) and returns the copy's path.
pub fn copy_into(lib: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create fixture dir");
    let dest = dir.join(lib.file_name().expect("library file name"));
    std::fs::copy(lib, &dest).unwrap_or_else(|e| panic!("copying {} failed: {e}", lib.display()));
    dest
}

/// A temporary plugin directory holding copies of `libs`, and a host over it
/// (no signature requirement). Keep the directory alive while the host is used.
pub fn temp_host(libs: &[&Path]) -> (tempfile::TempDir, fidius_host::PluginHost) {
    let dir = tempfile::tempdir().expect("temp dir");
    for lib in libs {
        copy_into(lib, dir.path());
    }
    let host = fidius_host::PluginHost::builder()
        .search_path(dir.path())
        .build()
        .expect("host");
    (dir, host)
}

/// The fidius Python SDK in this repository (`python/fidius`).
pub fn python_sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../python/fidius")
}

fn copy_tree(from: &Path, to: &Path, edit: &dyn Fn(&Path, Vec<u8>) -> Vec<u8>) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("creating {}: {e}", to.display()));
    for entry in
        std::fs::read_dir(from).unwrap_or_else(|e| panic!("reading {}: {e}", from.display()))
    {
        let entry = entry.expect("directory entry");
        let (src, dest) = (entry.path(), to.join(entry.file_name()));
        if entry.file_name() == "__pycache__" {
            continue;
        }
        if src.is_dir() {
            copy_tree(&src, &dest, edit);
        } else {
            let bytes =
                std::fs::read(&src).unwrap_or_else(|e| panic!("reading {}: {e}", src.display()));
            std::fs::write(&dest, edit(&src, bytes))
                .unwrap_or_else(|e| panic!("writing {}: {e}", dest.display()));
        }
    }
}

/// Copies the Python package fixture `fixture` to `parent/<its dir name>`,
/// writing `interface_hash` where its `.py` files say `__HASH__`, and
/// vendors the fidius SDK into `vendor/fidius`. Returns the package directory.
pub fn python_package(parent: &Path, fixture: &Path, interface_hash: u64) -> PathBuf {
    let dest = parent.join(fixture.file_name().expect("fixture directory name"));
    let hash = format!("{interface_hash:#x}");
    copy_tree(fixture, &dest, &|path, bytes| {
        if path.extension().is_some_and(|e| e == "py") {
            String::from_utf8_lossy(&bytes)
                .replace("__HASH__", &hash)
                .into_bytes()
        } else {
            bytes
        }
    });
    vendor_python_sdk(&dest);
    dest
}

/// Copies the fidius Python SDK into `package/vendor/fidius`.
pub fn vendor_python_sdk(package: &Path) {
    copy_tree(&python_sdk_dir(), &package.join("vendor/fidius"), &|_, b| b);
}
