//! `test`: builds a plugin crate and calls every method in the way its
//! recorded kind requires — never a slot with the wrong signature — and
//! says which methods it could not exercise and why.

use crate::CmdResult;
use fidius_core::MethodKind;
use fidius_host::{CallError, LoadError, PluginHandle};
use std::path::{Path, PathBuf};

/// Builds the crate in `dir` and returns its cdylib.
pub fn build_cdylib(dir: &Path, release: bool) -> Result<PathBuf, String> {
    eprintln!(
        "Building {} ({}) ...",
        dir.display(),
        if release { "release" } else { "debug" }
    );
    fidius_host::package::build_package(dir, release).map_err(|e| e.to_string())
}

pub fn test(dir: &Path, release: bool) -> CmdResult {
    let lib_path = build_cdylib(dir, release)?;
    println!("Built: {}", lib_path.display());
    let lib = fidius_host::load_library(&lib_path)
        .map_err(|e| format!("failed to load {}: {e}", lib_path.display()))?;
    let mut failures = 0usize;
    let mut skipped = 0usize;
    for plugin in &lib.plugins {
        let info = &plugin.info;
        println!(
            "Plugin: {} (interface {} v{}, {} methods)",
            info.name, info.interface_name, info.interface_version, plugin.method_count
        );
        let kinds = plugin.method_kinds();
        let handle = match PluginHandle::try_from_loaded(plugin.clone()) {
            Ok(h) => h,
            Err(LoadError::ConstructFailed { reason, .. }) => {
                println!("  — not exercised: it needs a config to be instantiated ({reason})");
                skipped += plugin.method_count as usize;
                continue;
            }
            Err(e) => {
                println!("  ✗ could not instantiate: {e}");
                failures += 1;
                continue;
            }
        };
        for (i, kind) in kinds.iter().enumerate() {
            let outcome = exercise(&handle, i, *kind);
            match &outcome {
                Outcome::Ok(msg) => println!("  [{i}] ✓ {msg}"),
                Outcome::Skipped(msg) => {
                    skipped += 1;
                    println!("  [{i}] — {msg}")
                }
                Outcome::Failed(msg) => {
                    failures += 1;
                    println!("  [{i}] ✗ {msg}")
                }
            }
        }
        println!("  Capabilities: {:#018x}", info.capabilities);
    }
    println!();
    if failures > 0 {
        return Err(format!(
            "{failures} method(s) failed the smoke test ({skipped} not exercised)"
        ));
    }
    println!(
        "Smoke passed: {} plugin(s); {skipped} method(s) not exercised (reasons above)",
        lib.plugins.len()
    );
    Ok(())
}

enum Outcome {
    Ok(String),
    Skipped(String),
    Failed(String),
}

/// Calls method `i` with no arguments, the way its kind requires.
fn exercise(handle: &PluginHandle, i: usize, kind: Option<MethodKind>) -> Outcome {
    let classify = |r: Result<String, CallError>| match r {
        Ok(msg) => Outcome::Ok(msg),
        Err(CallError::Serialization(_)) => {
            Outcome::Skipped("needs input: it takes arguments the smoke test cannot invent".into())
        }
        Err(CallError::NotImplemented { .. }) => {
            Outcome::Skipped("optional, not implemented by this plugin".into())
        }
        Err(CallError::Plugin(e)) => Outcome::Ok(format!("invoked; returned a plugin error: {e}")),
        Err(e) => Outcome::Failed(e.to_string()),
    };
    match kind {
        None => Outcome::Skipped(
            "not exercised: the plugin records no call kinds (built by fidius 0.5), so calling it could use the wrong signature".into(),
        ),
        Some(MethodKind::Unary) => {
            let mut n = 0usize;
            classify(
                handle
                    .executor()
                    .call_wire(i, &[], &mut |b| {
                        n = b.len();
                        Ok(())
                    })
                    .map(|()| format!("invoked with no arguments ({n} bytes returned)")),
            )
        }
        Some(MethodKind::Raw) => classify(
            handle.call_method_raw(i, &[]).map(|out| format!("invoked (raw) with empty input ({} bytes returned)", out.len())),
        ),
        Some(MethodKind::ServerStream) => classify(handle.executor().call_server_stream(i, &[]).map(|mut src| {
            let mut items = 0;
            while items < 3 {
                match src.pull() {
                    fidius_host::RawItem::Item(_) => items += 1,
                    _ => break,
                }
            }
            format!("stream opened; pulled {items} item(s), then cancelled")
        })),
        Some(MethodKind::ClientStream) => {
            let empty = fidius_host::OwnedStreamHandle::from_items(std::iter::empty::<u8>());
            let mut n = 0usize;
            classify(
                handle
                    .executor()
                    .call_client_stream(i, empty, &[], &mut |b| {
                        n = b.len();
                        Ok(())
                    })
                    .map(|()| format!("invoked with an empty input stream ({n} bytes returned)")),
            )
        }
        Some(MethodKind::BidiStream) => {
            let empty = fidius_host::OwnedStreamHandle::from_items(std::iter::empty::<u8>());
            classify(handle.executor().call_bidi_stream(i, empty, &[]).map(|mut src| {
                let mut items = 0;
                while let fidius_host::RawItem::Item(_) = src.pull() {
                    items += 1;
                    if items == 3 {
                        break;
                    }
                }
                format!("invoked with an empty input stream; {items} output item(s)")
            }))
        }
    }
}
