//! `package …`: validate, build, inspect, sign, verify, pack and unpack
//! packages (a directory with `package.toml`) and `.fid` archives.

use crate::keys::{read_public, read_secret};
use crate::CmdResult;
use clap::Subcommand;
use fidius_host::signing::key_fingerprint;
use fidius_package::{
    load_manifest_untyped, pack_package, sign_package, unpack_package_with_options, verify_package,
    UnpackOptions,
};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum PackageCommand {
    /// Check package.toml (schema, runtime sections).
    #[command(after_help = "Example:\n  fidius package validate my-plugin")]
    Validate {
        /// Package directory.
        dir: PathBuf,
    },
    /// Build a Rust source package with cargo.
    #[command(after_help = "Example:\n  fidius package build my-plugin")]
    Build {
        /// Package directory.
        dir: PathBuf,
        /// Debug build (default: release).
        #[arg(long)]
        debug: bool,
    },
    /// Show a package's manifest.
    #[command(after_help = "Example:\n  fidius package inspect my-plugin")]
    Inspect {
        /// Package directory.
        dir: PathBuf,
    },
    /// Sign a package (package.sig over the directory digest, which covers package.toml).
    #[command(after_help = "Example:\n  fidius package sign --key mykey.secret my-plugin")]
    Sign {
        /// Secret key file.
        #[arg(long)]
        key: PathBuf,
        /// Package directory.
        dir: PathBuf,
    },
    /// Verify a package signature.
    #[command(after_help = "Example:\n  fidius package verify --key mykey.public my-plugin")]
    Verify {
        /// Public key file.
        #[arg(long)]
        key: PathBuf,
        /// Package directory.
        dir: PathBuf,
    },
    /// Pack a package into a .fid archive (tar + bzip2, reproducible).
    #[command(after_help = "Example:\n  fidius package pack my-plugin --output my-plugin.fid")]
    Pack {
        /// Package directory.
        dir: PathBuf,
        /// Output archive (default ./{name}-{version}.{extension}).
        #[arg(long)]
        output: Option<PathBuf>,
        /// WASM packages: compile the component for this host first
        /// (`<component>.cwasm`, recorded as `[wasm] precompiled`). Sign after.
        #[arg(long)]
        precompile: bool,
    },
    /// Unpack a .fid archive safely (no links or escaping paths, size/ratio/entry limits).
    #[command(
        after_help = "Example:\n  fidius package unpack my-plugin-0.1.0.fid --dest ./packages"
    )]
    Unpack {
        /// Archive.
        archive: PathBuf,
        /// Destination directory.
        #[arg(long, default_value = ".")]
        dest: PathBuf,
        /// Replace an existing package directory (atomically).
        #[arg(long)]
        force: bool,
        /// Most decompressed bytes.
        #[arg(long, default_value_t = 500 << 20)]
        max_size: u64,
    },
}

pub fn run(cmd: PackageCommand) -> CmdResult {
    match cmd {
        PackageCommand::Validate { dir } => validate(&dir),
        PackageCommand::Build { dir, debug } => {
            let m = load_manifest_untyped(&dir).map_err(|e| e.to_string())?;
            println!(
                "Building package: {} v{}",
                m.package.name, m.package.version
            );
            let lib = crate::smoke::build_cdylib(&dir, !debug)?;
            println!("Build successful: {}", lib.display());
            Ok(())
        }
        PackageCommand::Inspect { dir } => inspect(&dir),
        PackageCommand::Sign { key, dir } => {
            let key = read_secret(&key)?;
            let sig = sign_package(&dir, &key).map_err(|e| e.to_string())?;
            println!("Signed package: {} -> {}", dir.display(), sig.display());
            println!(
                "  Key fingerprint: {}",
                key_fingerprint(&key.verifying_key())
            );
            Ok(())
        }
        PackageCommand::Verify { key, dir } => {
            let key = read_public(&key)?;
            match verify_package(&dir, &[key]) {
                Ok(()) => {
                    println!("Package signature valid: {}", dir.display());
                    println!("  Key fingerprint: {}", key_fingerprint(&key));
                    Ok(())
                }
                Err(fidius_package::PackageError::SignatureInvalid { .. }) => Err(format!(
                    "Package signature INVALID: {} (not signed by key {}, or the package changed after signing)",
                    dir.display(),
                    key_fingerprint(&key)
                )),
                Err(e) => Err(e.to_string()),
            }
        }
        PackageCommand::Pack {
            dir,
            output,
            precompile,
        } => {
            prepare_wasm(&dir, precompile)?;
            eprintln!("Packing {} ...", dir.display());
            let r = pack_package(&dir, output.as_deref()).map_err(|e| e.to_string())?;
            if r.unsigned {
                eprintln!("warning: package is unsigned (no package.sig found); sign it with `fidius package sign`");
            }
            let size = std::fs::metadata(&r.path).map(|m| m.len()).unwrap_or(0);
            println!("Packed: {} ({})", r.path.display(), human(size));
            Ok(())
        }
        PackageCommand::Unpack {
            archive,
            dest,
            force,
            max_size,
        } => {
            let opts = UnpackOptions {
                overwrite: force,
                max_decompressed: max_size,
                ..Default::default()
            };
            let dir =
                unpack_package_with_options(&archive, &dest, &opts).map_err(|e| e.to_string())?;
            if !dir.join(fidius_package::PACKAGE_SIG_FILE).exists() {
                eprintln!("warning: the unpacked package is unsigned");
            }
            println!("Unpacked: {}", dir.display());
            Ok(())
        }
    }
}

fn human(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn validate(dir: &Path) -> CmdResult {
    let m = load_manifest_untyped(dir).map_err(|e| e.to_string())?;
    println!("Package: {} v{}", m.package.name, m.package.version);
    println!(
        "  Interface: {} (version {})",
        m.package.interface, m.package.interface_version
    );
    println!("  Runtime: {}", m.package.runtime());
    let fields = m.metadata.as_table().map_or(0, |t| t.len());
    println!("  Metadata: {fields} field(s)");
    println!();
    println!("Manifest valid.");
    Ok(())
}

fn inspect(dir: &Path) -> CmdResult {
    let m = load_manifest_untyped(dir).map_err(|e| e.to_string())?;
    println!("Package: {}", dir.display());
    println!("  Name: {}", m.package.name);
    println!("  Version: {}", m.package.version);
    println!("  Interface: {}", m.package.interface);
    println!("  Interface version: {}", m.package.interface_version);
    println!("  Runtime: {}", m.package.runtime());
    println!("  Archive extension: {}", m.package.extension());
    println!(
        "  Signed: {}",
        if dir.join(fidius_package::PACKAGE_SIG_FILE).exists() {
            "yes"
        } else {
            "no"
        }
    );
    if let Some(py) = &m.python {
        println!("  Python:");
        println!("    Entry module: {}", py.entry_module);
        println!("    Requirements: {}", py.requirements_path());
    }
    if let Some(w) = &m.wasm {
        println!("  WASM:");
        println!("    Component: {}", w.component);
        match &w.precompiled {
            Some(p) => println!("    Precompiled (.cwasm): {p}"),
            None => println!("    Precompiled (.cwasm): (none — JIT at load)"),
        }
        if w.capabilities.is_empty() {
            println!("    Capabilities: (none — deny-all sandbox)");
        } else {
            println!("    Capabilities: {}", w.capabilities.join(", "));
        }
    }
    println!("  Metadata:");
    if let Some(t) = m.metadata.as_table() {
        for (k, v) in t {
            println!("    {k} = {v}");
        }
    }
    Ok(())
}

/// For a WASM package: validates the component and, with `precompile`,
/// writes `<stem>.cwasm` and records it in `package.toml`.
fn prepare_wasm(dir: &Path, precompile: bool) -> Result<(), String> {
    let manifest = fidius_package::load_manifest_untyped(dir).map_err(|e| e.to_string())?;
    let Some(wasm) = manifest.wasm.as_ref() else {
        if precompile {
            return Err("--precompile only applies to wasm packages".into());
        }
        return Ok(());
    };
    let component = dir.join(&wasm.component);
    let bytes = std::fs::read(&component).map_err(|_| {
        format!(
            "wasm component `{}` not found in package dir",
            wasm.component
        )
    })?;
    fidius_host::executor::wasm::validate_component(&bytes).map_err(|e| e.to_string())?;
    println!("Validated wasm component: {}", wasm.component);
    if precompile {
        let art =
            fidius_host::executor::wasm::precompile_component(&bytes).map_err(|e| e.to_string())?;
        let name = Path::new(&wasm.component)
            .with_extension("cwasm")
            .to_string_lossy()
            .into_owned();
        std::fs::write(dir.join(&name), &art).map_err(|e| e.to_string())?;
        let toml_path = dir.join(fidius_package::MANIFEST_FILE);
        let text = std::fs::read_to_string(&toml_path).map_err(|e| e.to_string())?;
        if !text.contains("precompiled") {
            let updated =
                text.replacen("[wasm]\n", &format!("[wasm]\nprecompiled = {name:?}\n"), 1);
            std::fs::write(&toml_path, updated).map_err(|e| e.to_string())?;
        }
        println!("Precompiled: {name} ({})", human(art.len() as u64));
    }
    Ok(())
}
