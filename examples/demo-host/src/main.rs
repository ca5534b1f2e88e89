//! Example host used by `cargo xtask demo`: generates a key, signs the
//! example plugin libraries, loads them with signatures required, calls
//! them, and shows a tampered library being refused.
//!
//! Usage: `demo-host <plugin-dir> <library>...` (libraries are copied into `<plugin-dir>`).

use ed25519_dalek::SigningKey;
use fidius::{LoadError, PluginHost};
use fidius_host::signing;
use my_api::{ApplyInput, ImageFilterClient};
use std::path::PathBuf;
use std::time::Instant;
use telemetry_api::{Calibration, TelemetryClient};

fn step(n: u32, what: &str) {
    println!("\n[{n}] {what}");
}

/// `demo-host call-signed <plugin-dir> <public-key-file>`: load `Invert`
/// with signatures required (trusting only that key) and call it.
fn call_signed(dir: &str, key_file: &str) -> Result<(), Box<dyn std::error::Error>> {
    let bytes: [u8; 32] = std::fs::read(key_file)?.as_slice().try_into()?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)?;
    let host = PluginHost::builder()
        .search_path(dir)
        .require_signature(true)
        .trusted_keys(&[key])
        .build()?;
    match ImageFilterClient::load(&host, "Invert") {
        Ok(client) => {
            let out = client.apply(&ApplyInput {
                pixels: vec![0, 10, 128, 200, 255],
            })?;
            println!("    host (signatures required) called Invert.apply([0, 10, 128, 200, 255]) -> {:?}", out.pixels);
            Ok(())
        }
        Err(e) => {
            println!("    host refused the plugin: {e}");
            std::process::exit(1)
        }
    }
}

#[cfg(target_os = "linux")]
mod process;
mod python;
mod wasm;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let all: Vec<String> = std::env::args().skip(1).collect();
    if all.first().map(String::as_str) == Some("wasm") {
        let usage = "usage: demo-host wasm <dir> <invert.wasm> <lab.wasm>";
        return wasm::run(
            std::path::Path::new(all.get(1).ok_or(usage)?),
            std::path::Path::new(all.get(2).ok_or(usage)?),
            std::path::Path::new(all.get(3).ok_or(usage)?),
        );
    }
    #[cfg(target_os = "linux")]
    if all.first().map(String::as_str) == Some("process") {
        let usage = "usage: demo-host process <dir> <libunruly_plugin.so>";
        return process::run(
            std::path::Path::new(all.get(1).ok_or(usage)?),
            std::path::Path::new(all.get(2).ok_or(usage)?),
        );
    }
    if all.first().map(String::as_str) == Some("python") {
        let usage = "usage: demo-host python <dir>";
        return python::run(std::path::Path::new(all.get(1).ok_or(usage)?));
    }
    if all.first().map(String::as_str) == Some("call-signed") {
        return call_signed(
            all.get(1)
                .ok_or("usage: demo-host call-signed <dir> <public-key>")?,
            all.get(2)
                .ok_or("usage: demo-host call-signed <dir> <public-key>")?,
        );
    }
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: demo-host <plugin-dir> <library>...")?,
    );
    let libs: Vec<PathBuf> = args.map(PathBuf::from).collect();
    std::fs::create_dir_all(&dir)?;

    step(1, "generate an Ed25519 signing key");
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let public = key.verifying_key();
    println!(
        "    public key fingerprint: {}",
        signing::key_fingerprint(&public)
    );

    step(2, "copy and sign the plugin libraries");
    let mut copies = Vec::new();
    for lib in &libs {
        let dest = dir.join(lib.file_name().ok_or("library without a file name")?);
        std::fs::copy(lib, &dest)?;
        let sig = signing::sign_file(&dest, &key)?;
        println!("    signed {} -> {}", dest.display(), sig.display());
        copies.push(dest);
    }

    step(3, "discover plugins with signatures required");
    let host = PluginHost::builder()
        .search_path(&dir)
        .require_signature(true)
        .trusted_keys(&[public])
        .interface_hash(ImageFilterClient::INTERFACE_HASH)
        .build()?;
    for info in PluginHost::builder()
        .search_path(&dir)
        .require_signature(true)
        .trusted_keys(&[public])
        .build()?
        .discover()?
    {
        println!(
            "    found {} (interface {} v{}, hash {:#018x}, {})",
            info.name,
            info.interface_name,
            info.interface_version,
            info.interface_hash,
            info.buffer_strategy
        );
    }

    step(
        4,
        "load each plugin as a typed ImageFilterClient and call apply()",
    );
    let pixels = vec![0u8, 10, 128, 200, 255];
    println!("    input pixels: {pixels:?}");
    for name in ["Invert", "Brighten"] {
        let t = Instant::now();
        let client = ImageFilterClient::load(&host, name)?;
        let loaded = t.elapsed();
        let t = Instant::now();
        let out = client.apply(&ApplyInput {
            pixels: pixels.clone(),
        })?;
        println!(
            "    {name:<8} -> {:?}   (load {:.1?}, call {:.1?})",
            out.pixels,
            loaded,
            t.elapsed()
        );
    }

    step(5, "two configured instances of a streaming plugin");
    let telemetry = PluginHost::builder()
        .search_path(&dir)
        .require_signature(true)
        .trusted_keys(&[public])
        .build()?;
    let a = TelemetryClient::load_configured(
        &telemetry,
        "CalibratedSensor",
        &Calibration {
            gain: 1,
            sensor: "raw".into(),
        },
    )?;
    let b = TelemetryClient::load_configured(
        &telemetry,
        "CalibratedSensor",
        &Calibration {
            gain: 3,
            sensor: "x3".into(),
        },
    )?;
    for c in [&a, &b] {
        let sensor = c.sensor()?;
        let readings: Vec<u32> = c.readings(&6)?.collect::<Result<_, _>>()?;
        println!("    {sensor:<4} server stream (plugin produces): {readings:?}");
        println!(
            "    {sensor:<4} client stream total of 1..=100 (host produces): {}",
            c.total(1..=100u32)?
        );
        let calibrated: Vec<u32> = c.calibrate(0u32..)?.take(5).collect::<Result<_, _>>()?;
        println!("    {sensor:<4} bidirectional over an endless input, first 5: {calibrated:?}");
    }

    step(6, "tamper with a signed library and try again");
    let victim = copies
        .iter()
        .find(|p| p.to_string_lossy().contains("my_plugin"))
        .ok_or("the Invert library (my-plugin) was not given")?;
    let mut bytes = std::fs::read(victim)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    std::fs::write(victim, bytes)?;
    println!("    flipped one byte of {}", victim.display());
    match ImageFilterClient::load(&host, "Invert") {
        Err(e @ LoadError::SignatureInvalid { .. }) => {
            println!("    Invert refused before dlopen: {e}")
        }
        Err(e) => return Err(format!("expected a signature error, got: {e}").into()),
        Ok(_) => return Err("a tampered plugin was loaded".into()),
    }

    let still = ImageFilterClient::load(&host, "Brighten")?;
    println!(
        "    Brighten (untouched library) still loads: {:?}",
        still.apply(&ApplyInput { pixels: vec![1, 2] })?.pixels
    );

    println!("\ndemo finished: every step behaved as expected");
    Ok(())
}
