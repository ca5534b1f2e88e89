//! `build.rs` helper for WASM guests, kept for fidius 0.5 source
//! compatibility: writes the interface's WIT world to `wit/<iface>.wit`.
//!
//! A guest does not need it: `#[plugin_impl]` generates the component glue
//! and the type conversions itself, from the same interface model. The
//! written WIT is for tools and for guests in other languages.

#![warn(missing_docs)]

use std::path::{Path, PathBuf};

/// Writes `wit/<iface>.wit` for the crate being built (run from `build.rs`)
/// and prints `cargo:rerun-if-changed=src`.
///
/// # Panics
/// If the crate's interface cannot be read or mapped to WIT: a build script
/// reports errors by failing.
pub fn emit_wit() {
    let manifest =
        std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR (run from build.rs)");
    let out = std::env::var_os("OUT_DIR").expect("OUT_DIR (run from build.rs)");
    println!("cargo:rerun-if-changed=src");
    if let Err(e) = run(Path::new(&manifest), Path::new(&out)) {
        panic!("fidius-build: {e}");
    }
}

/// Writes `<manifest_dir>/wit/<iface>.wit` and
/// `<out_dir>/fidius_wit_conversions.rs` (empty: the macro generates the
/// conversions); returns the WIT file's path.
pub fn run(manifest_dir: &Path, out_dir: &Path) -> Result<PathBuf, String> {
    let world = fidius_interface::source::world_from_crate(manifest_dir, None)?;
    let dir = manifest_dir.join("wit");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("{}.wit", world.iface));
    let text = world.render();
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let conv = out_dir.join("fidius_wit_conversions.rs");
    std::fs::write(
        &conv,
        "// fidius generates WIT conversions inside #[plugin_impl]; nothing to include.\n",
    )
    .map_err(|e| format!("{}: {e}", conv.display()))?;
    Ok(path)
}
