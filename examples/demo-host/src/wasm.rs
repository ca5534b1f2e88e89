//! `demo-host wasm <dir> <invert.wasm> <lab.wasm>`: the README's `Invert`
//! plugin, built unchanged as a WASM component, packaged, signed, loaded
//! through the same `ImageFilterClient` and called; then the sandbox
//! refusing a file read and a deadline stopping a runaway guest.

use ed25519_dalek::SigningKey;
use fidius::{CallError, CallLimits, PluginHost};
use fidius_host::package::sign_package;
use my_api::{ApplyInput, ImageFilterClient};
use std::path::Path;
use std::time::{Duration, Instant};
use wasm_lab::LabClient;

fn package(
    dir: &Path,
    name: &str,
    component: &Path,
    extra: &str,
) -> std::io::Result<std::path::PathBuf> {
    let pkg = dir.join(name);
    std::fs::create_dir_all(&pkg)?;
    std::fs::copy(component, pkg.join("plugin.wasm"))?;
    std::fs::write(
        pkg.join("package.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\ninterface = \"demo\"\ninterface_version = 1\nruntime = \"wasm\"\n\n[metadata]\n\n[wasm]\ncomponent = \"plugin.wasm\"\ncapabilities = []\n{extra}"
        ),
    )?;
    Ok(pkg)
}

/// Runs the WASM part of the demo.
pub fn run(dir: &Path, invert: &Path, lab: &Path) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    println!(
        "\n[w1] package and sign the README's Invert plugin, built with --target wasm32-wasip2"
    );
    let key = SigningKey::generate(&mut rand_core::OsRng);
    // The plugin is looked up by its package name, "Invert", like the cdylib.
    let pkg = package(dir, "Invert", invert, "")?;
    let bytes = std::fs::read(pkg.join("plugin.wasm"))?;
    println!(
        "    component: {} ({} KiB)",
        invert.display(),
        bytes.len() / 1024
    );
    let t = Instant::now();
    let cwasm = fidius_host::executor::wasm::precompile_component(&bytes)?;
    std::fs::write(pkg.join("plugin.cwasm"), &cwasm)?;
    println!(
        "    precompiled for this host in {:.1?} -> plugin.cwasm ({} KiB)",
        t.elapsed(),
        cwasm.len() / 1024
    );
    sign_package(&pkg, &key)?;
    println!("    signed {}", pkg.join("package.sig").display());

    println!("\n[w2] load it with signatures required through ImageFilterClient::load (no backend named) and call it");
    let host = PluginHost::builder()
        .search_path(dir)
        .require_signature(true)
        .trusted_keys(&[key.verifying_key()])
        .wasm_cache_dir(None)
        .build()?;
    let t = Instant::now();
    let filter = ImageFilterClient::load(&host, "Invert")?;
    println!(
        "    loaded {} ({:?}) from the verified .cwasm in {:.1?}",
        filter.handle().info().name,
        filter.handle().info().runtime,
        t.elapsed()
    );
    let out = filter.apply(&ApplyInput {
        pixels: vec![0, 10, 128, 200, 255],
    })?;
    println!(
        "    Invert.apply([0, 10, 128, 200, 255]) -> {:?}",
        out.pixels
    );

    println!("\n[w3] the sandbox: a guest with no grants tries to read /etc/passwd and $HOME");
    package(dir, "lab", lab, "[wasm.limits]\ndeadline_ms = 50\n")?;
    let open = PluginHost::builder()
        .search_path(dir)
        .wasm_cache_dir(None)
        .build()?;
    let lab = LabClient::load(&open, "lab")?;
    match lab.read_file("/etc/passwd") {
        Err(CallError::Plugin(e)) => println!(
            "    read_file(/etc/passwd) refused inside the guest: [{}] {}",
            e.code, e.message
        ),
        other => println!("    read_file(/etc/passwd) -> {other:?}"),
    }
    println!("    env_var(HOME) -> {:?}", lab.env_var("HOME")?);

    println!("\n[w4] a runaway guest (an endless loop) is stopped by its 50 ms deadline");
    let t = Instant::now();
    match lab.spin(&u64::MAX) {
        Err(e @ CallError::Timeout { .. }) => {
            println!("    spin(u64::MAX) -> {e} after {:.1?}", t.elapsed())
        }
        other => println!("    spin(u64::MAX) -> {other:?}"),
    }
    println!(
        "    the next call on the same handle works: add(40, 2) = {}",
        lab.add(&40, &2)?
    );
    lab.handle().set_limits(CallLimits {
        fuel: Some(5_000_000),
        deadline: Some(Duration::from_secs(5)),
        ..CallLimits::default()
    })?;
    match lab.spin(&u64::MAX) {
        Err(e @ CallError::FuelExhausted { .. }) => println!("    with a fuel budget instead: {e}"),
        other => println!("    spin with fuel -> {other:?}"),
    }
    match lab.boom("a guest panic") {
        Err(e) => println!("    boom() -> {e}"),
        Ok(v) => println!("    boom() -> {v}"),
    }
    Ok(())
}
