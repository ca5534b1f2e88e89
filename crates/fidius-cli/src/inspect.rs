//! `inspect`: a library's registry — plugins, interface, hash, version,
//! strategy, capabilities, per-method kinds and metadata, host imports —
//! as text or JSON. No plugin instance is constructed.

use crate::CmdResult;
use fidius_host::loader::{load_library, LoadedPlugin};
use serde_json::{json, Value};
use std::path::Path;

fn plugin_json(p: &LoadedPlugin) -> Value {
    let methods: Vec<Value> = p
        .method_kinds()
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let meta: serde_json::Map<String, Value> = p
                .method_metadata(i as u32)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), json!(v)))
                .collect();
            json!({ "index": i, "kind": kind.map(|k| k.as_str()), "metadata": meta })
        })
        .collect();
    let trait_meta: serde_json::Map<String, Value> = p
        .trait_metadata()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect();
    json!({
        "name": p.info.name,
        "interface": p.info.interface_name,
        "interface_hash": format!("{:#018x}", p.info.interface_hash),
        "interface_version": p.info.interface_version,
        "buffer_strategy": p.info.buffer_strategy.to_string(),
        "capabilities": format!("{:#018x}", p.info.capabilities),
        "method_count": p.method_count,
        "methods": methods,
        "trait_metadata": trait_meta,
    })
}

pub fn inspect(path: &Path, as_json: bool) -> CmdResult {
    let lib = load_library(path).map_err(|e| format!("failed to load {}: {e}", path.display()))?;
    let imports = lib
        .host_imports()
        .map_err(|e| format!("failed to read host imports of {}: {e}", path.display()))?;
    if as_json {
        let doc = json!({
            "path": path.display().to_string(),
            "plugins": lib.plugins.iter().map(plugin_json).collect::<Vec<_>>(),
            "host_imports": imports.iter().map(|i| json!({
                "interface": i.interface_name,
                "interface_hash": format!("{:#018x}", i.interface_hash),
                "interface_version": i.interface_version,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc).expect("JSON"));
        return Ok(());
    }
    println!("Plugin Registry: {}", path.display());
    println!("  Plugins: {}", lib.plugins.len());
    for (i, p) in lib.plugins.iter().enumerate() {
        println!("  [{i}] {}", p.info.name);
        println!("      Interface: {}", p.info.interface_name);
        println!("      Interface hash: {:#018x}", p.info.interface_hash);
        println!("      Interface version: {}", p.info.interface_version);
        println!("      Buffer strategy: {}", p.info.buffer_strategy);
        println!("      Capabilities: {:#018x}", p.info.capabilities);
        let tm = p.trait_metadata();
        if !tm.is_empty() {
            println!("      Trait metadata:");
            for (k, v) in tm {
                println!("        {k} = {v}");
            }
        }
        println!("      Methods: {}", p.method_count);
        for (m, kind) in p.method_kinds().into_iter().enumerate() {
            let kind = kind.map_or("unknown (built by fidius 0.5)", |k| k.as_str());
            println!("        [{m}] {kind}");
            for (k, v) in p.method_metadata(m as u32) {
                println!("            {k} = {v}");
            }
        }
    }
    if !imports.is_empty() {
        println!("  Host imports:");
        for i in imports {
            println!(
                "    {} v{} ({:#018x})",
                i.interface_name, i.interface_version, i.interface_hash
            );
        }
    }
    Ok(())
}
