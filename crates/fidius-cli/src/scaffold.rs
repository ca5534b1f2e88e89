//! `init-interface`, `init-plugin`, `init-host`: crates that build, and
//! whose tests pass, with no edits. fidius dependencies resolve to a local
//! checkout when one is given or detected, else to a version (no network).

use crate::{CmdResult, DepArgs};
use std::path::{Path, PathBuf};

fn to_snake(name: &str) -> String {
    name.replace('-', "_")
}

/// The checkout to depend on by path, if any.
fn checkout(deps: &DepArgs) -> Result<Option<PathBuf>, String> {
    let valid = |p: &Path| p.join("crates/fidius/Cargo.toml").is_file();
    if let Some(p) = &deps.fidius_path {
        let p =
            std::fs::canonicalize(p).map_err(|e| format!("--fidius-path {}: {e}", p.display()))?;
        return if valid(&p) {
            Ok(Some(p))
        } else {
            Err(format!(
                "{} is not a fidius checkout (no crates/fidius/Cargo.toml)",
                p.display()
            ))
        };
    }
    if deps.version.is_some() {
        return Ok(None);
    }
    // Built from a checkout that still exists: use it.
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Ok(std::fs::canonicalize(&built_from).ok().filter(|p| valid(p)))
}

fn toml_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "/")
}

fn fidius_dep(deps: &DepArgs, krate: &str, features: &[&str]) -> Result<String, String> {
    let feats = if features.is_empty() {
        String::new()
    } else {
        format!(
            ", features = [{}]",
            features
                .iter()
                .map(|f| format!("\"{f}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Ok(match checkout(deps)? {
        Some(root) => format!(
            "{{ path = \"{}\"{feats} }}",
            toml_path(&root.join("crates").join(krate))
        ),
        None => {
            let v = deps
                .version
                .clone()
                .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned());
            format!("{{ version = \"{v}\"{feats} }}")
        }
    })
}

/// The interface crate: (crate name, dependency spec without features, local dir if any).
fn interface_dep(
    interface: &str,
    deps: &DepArgs,
) -> Result<(String, String, Option<PathBuf>), String> {
    let dir = Path::new(interface);
    if dir.join("Cargo.toml").is_file() {
        let dir = std::fs::canonicalize(dir).map_err(|e| format!("{interface}: {e}"))?;
        let text = std::fs::read_to_string(dir.join("Cargo.toml")).map_err(|e| e.to_string())?;
        let doc: toml::Value =
            toml::from_str(&text).map_err(|e| format!("{}/Cargo.toml: {e}", dir.display()))?;
        let name = doc["package"]["name"]
            .as_str()
            .ok_or_else(|| format!("{}/Cargo.toml has no package name", dir.display()))?
            .to_owned();
        Ok((name, format!("path = \"{}\"", toml_path(&dir)), Some(dir)))
    } else {
        let v = deps.version.clone().unwrap_or_else(|| "*".to_owned());
        Ok((interface.to_owned(), format!("version = \"{v}\""), None))
    }
}

/// Creates `<parent>/<name>/`, refusing to touch an existing directory.
fn create_root(name: &str, deps: &DepArgs) -> Result<PathBuf, String> {
    let parent = deps.path.clone().unwrap_or_else(|| PathBuf::from("."));
    let dir = parent.join(name);
    if dir.exists() {
        return Err(format!(
            "directory '{}' already exists; choose another name or --path",
            dir.display()
        ));
    }
    std::fs::create_dir_all(dir.join("src"))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// A `[workspace]` table when the crate would otherwise join an enclosing workspace.
fn standalone_workspace(dir: &Path) -> &'static str {
    let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let nested = abs.ancestors().skip(1).any(|a| {
        std::fs::read_to_string(a.join("Cargo.toml"))
            .is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
    });
    if nested {
        "\n# Its own workspace (it sits inside another one); remove to join that workspace instead.\n[workspace]\n"
    } else {
        ""
    }
}

fn write(path: &Path, text: &str) -> CmdResult {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub fn init_interface(
    name: &str,
    trait_name: &str,
    extension: Option<&str>,
    deps: &DepArgs,
) -> CmdResult {
    let fidius = fidius_dep(deps, "fidius", &[])?;
    let dir = create_root(name, deps)?;
    write(
        &dir.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[features]\n# Hosts enable this to get the typed `{trait_name}Client`.\nhost = [\"fidius/host\"]\n\n[dependencies]\nfidius = {fidius}\nserde = {{ version = \"1\", features = [\"derive\"] }}\n{}",
            standalone_workspace(&dir)
        ),
    )?;
    write(
        &dir.join("src/lib.rs"),
        &format!(
            "//! The `{trait_name}` plugin interface.\n\n#![allow(unexpected_cfgs)]\n\npub use fidius::{{plugin_impl, PluginError}};\n\n#[fidius::plugin_interface(version = 1, buffer = PluginAllocated)]\npub trait {trait_name}: Send + Sync {{\n    fn process(&self, input: String) -> String;\n}}\n"
        ),
    )?;
    if let Some(ext) = extension {
        write(
            &dir.join("fidius.toml"),
            &format!("extension = \"{ext}\"\n"),
        )?;
    }
    println!("Created interface crate: {}", dir.display());
    Ok(())
}

pub fn init_plugin(name: &str, interface: &str, trait_name: &str, deps: &DepArgs) -> CmdResult {
    let fidius = fidius_dep(deps, "fidius", &[])?;
    let (iface, iface_spec, iface_dir) = interface_dep(interface, deps)?;
    let extension = iface_dir
        .as_ref()
        .and_then(|d| std::fs::read_to_string(d.join("fidius.toml")).ok())
        .and_then(|t| toml::from_str::<toml::Value>(&t).ok())
        .and_then(|v| {
            v.get("extension")
                .and_then(|e| e.as_str())
                .map(str::to_owned)
        });
    let dir = create_root(name, deps)?;
    let module = to_snake(&iface);
    let impl_name = format!("My{trait_name}");
    write(
        &dir.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\ncrate-type = [\"cdylib\", \"rlib\"]\n\n[dependencies]\n{iface} = {{ {iface_spec} }}\nfidius = {fidius}\n\n[dev-dependencies]\n{iface} = {{ {iface_spec}, features = [\"host\"] }}\n{}",
            standalone_workspace(&dir)
        ),
    )?;
    write(
        &dir.join("src/lib.rs"),
        &format!(
            "//! A `{trait_name}` plugin.\n\nuse {module}::{{plugin_impl, {trait_name}}};\n\npub struct {impl_name};\n\n#[plugin_impl({trait_name})]\nimpl {trait_name} for {impl_name} {{\n    fn process(&self, input: String) -> String {{\n        format!(\"processed: {{}}\", input)\n    }}\n}}\n\nfidius::fidius_plugin_registry!();\n\n#[cfg(test)]\nmod tests {{\n    use {module}::{trait_name}Client;\n\n    #[test]\n    fn process_in_process() {{\n        let client = {trait_name}Client::in_process(\"{impl_name}\").unwrap();\n        assert_eq!(client.process(\"x\").unwrap(), \"processed: x\");\n    }}\n}}\n"
        ),
    )?;
    let ext_line = extension
        .map(|e| format!("extension = \"{e}\"\n"))
        .unwrap_or_default();
    write(
        &dir.join("package.toml"),
        &format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\ninterface = \"{iface}\"\ninterface_version = 1\n{ext_line}\n[metadata]\n"
        ),
    )?;
    println!("Created plugin crate: {}", dir.display());
    Ok(())
}

pub fn init_host(name: &str, interface: &str, trait_name: &str, deps: &DepArgs) -> CmdResult {
    let fidius = fidius_dep(deps, "fidius", &["host"])?;
    let (iface, iface_spec, _) = interface_dep(interface, deps)?;
    let dir = create_root(name, deps)?;
    let module = to_snake(&iface);
    write(
        &dir.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n{iface} = {{ {iface_spec}, features = [\"host\"] }}\nfidius = {fidius}\n{}",
            standalone_workspace(&dir)
        ),
    )?;
    write(
        &dir.join("src/main.rs"),
        &format!(
            "//! Loads every `{trait_name}` plugin in a directory and calls it.\n//!\n//! Usage: {name} [PLUGIN_DIR]   (default ./plugins)\n\nuse fidius::PluginHost;\nuse {module}::{trait_name}Client;\n\nfn main() -> Result<(), Box<dyn std::error::Error>> {{\n    let dir = std::env::args().nth(1).unwrap_or_else(|| \"./plugins\".to_string());\n    let host = PluginHost::builder()\n        .search_path(&dir)\n        .interface_hash({trait_name}Client::INTERFACE_HASH)\n        .build()?;\n    let plugins = host.discover()?;\n    if plugins.is_empty() {{\n        println!(\"no {trait_name} plugins in {{dir}}\");\n    }}\n    for info in plugins {{\n        let client = {trait_name}Client::load(&host, &info.name)?;\n        println!(\"{{}}: {{}}\", info.name, client.process(\"hello\")?);\n    }}\n    Ok(())\n}}\n"
        ),
    )?;
    println!("Created host crate: {}", dir.display());
    println!("Next steps:");
    println!("  1. build a plugin (fidius init-plugin …; cargo build) and copy its library into ./plugins");
    println!("  2. cd {} && cargo run -- ./plugins", dir.display());
    println!("  3. require signatures with PluginHost::builder().require_signature(true).trusted_keys(..)");
    Ok(())
}
