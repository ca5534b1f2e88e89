//! `fidius`: the plugin author's tool. Scaffolds interface, plugin and host
//! crates; generates keys, signs and verifies libraries and packages;
//! inspects a library's registry; smoke-tests a plugin; packs and unpacks
//! `.fid` archives.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod inspect;
mod keys;
mod package;
mod scaffold;
mod smoke;

/// Result of a command: `Err` is printed as `error: …` and exits with 1.
pub type CmdResult = Result<(), String>;

const EXIT_CODES: &str = "Exit codes: 0 success; 1 the command failed (the message says why and what to do); 2 invalid usage.";

#[derive(Parser)]
#[command(name = "fidius", version, about = "Build, sign, inspect and package fidius plugins", after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where generated crates get fidius from.
#[derive(clap::Args, Clone, Debug)]
pub struct DepArgs {
    /// Version requirement for fidius crates (default: this CLI's version).
    #[arg(long)]
    pub version: Option<String>,
    /// A local checkout of fidius to depend on by path (also `FIDIUS_PATH`;
    /// detected automatically when this CLI was built from a checkout).
    #[arg(long, env = "FIDIUS_PATH")]
    pub fidius_path: Option<PathBuf>,
    /// Parent directory for the new crate (default: current directory).
    #[arg(long)]
    pub path: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Create an interface crate (the trait plugins implement).
    #[command(after_help = "Example:\n  fidius init-interface my-api --trait ImageFilter")]
    InitInterface {
        /// Crate name.
        name: String,
        /// Trait name.
        #[arg(long = "trait")]
        trait_name: String,
        /// Archive extension recorded in fidius.toml for plugins of this interface.
        #[arg(long)]
        extension: Option<String>,
        #[command(flatten)]
        deps: DepArgs,
    },
    /// Create a plugin crate (a cdylib implementing an interface).
    #[command(
        after_help = "Example:\n  fidius init-plugin my-plugin --interface my-api --trait ImageFilter"
    )]
    InitPlugin {
        /// Crate name.
        name: String,
        /// Interface crate: a directory (path dependency) or a crate name (version dependency).
        #[arg(long)]
        interface: String,
        /// Trait name.
        #[arg(long = "trait")]
        trait_name: String,
        #[command(flatten)]
        deps: DepArgs,
    },
    /// Create a host crate that discovers and calls plugins.
    #[command(
        after_help = "Example:\n  fidius init-host my-host --interface my-api --trait ImageFilter"
    )]
    InitHost {
        /// Crate name.
        name: String,
        /// Interface crate: a directory or a crate name.
        #[arg(long)]
        interface: String,
        /// Trait name.
        #[arg(long = "trait")]
        trait_name: String,
        #[command(flatten)]
        deps: DepArgs,
    },
    /// Generate an Ed25519 key pair: <OUT>.secret (32 bytes, mode 0600) and <OUT>.public.
    #[command(after_help = "Example:\n  fidius keygen --out mykey")]
    Keygen {
        /// Base path of the key files.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a plugin library: writes <DYLIB>.sig over the whole file.
    #[command(
        after_help = "Example:\n  fidius sign --key mykey.secret target/debug/libmy_plugin.so"
    )]
    Sign {
        /// Secret key file (32 bytes).
        #[arg(long)]
        key: PathBuf,
        /// Library to sign.
        dylib: PathBuf,
    },
    /// Verify a plugin library's signature.
    #[command(
        after_help = "Example:\n  fidius verify --key mykey.public target/debug/libmy_plugin.so"
    )]
    Verify {
        /// Public key file (32 bytes).
        #[arg(long)]
        key: PathBuf,
        /// Library to verify.
        dylib: PathBuf,
    },
    /// Show a library's plugins: interface, hash, version, strategy, capabilities, methods, metadata.
    #[command(
        after_help = "Loads the library (its initialisers and registry run) but constructs no plugin instance.\n\nExample:\n  fidius inspect target/debug/libmy_plugin.so --json"
    )]
    Inspect {
        /// Library to inspect.
        dylib: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Build a plugin crate and call each method in the way its kind requires.
    #[command(after_help = "Example:\n  fidius test my-plugin")]
    Test {
        /// Plugin crate directory.
        dir: PathBuf,
        /// Build in debug mode (default: release).
        #[arg(long)]
        debug: bool,
    },
    /// Work with packages (a directory with package.toml) and .fid archives.
    #[command(subcommand)]
    Package(package::PackageCommand),
    /// Write the WIT world of a crate's #[plugin_interface] trait to <dir>/wit/<iface>.wit.
    #[command(
        after_help = "The world has fidius 0.5's shape (package fidius:<iface>@0.1.0, world <iface>-plugin);\nuser types are read from the crate's source.\n\nExample:\n  fidius wit my-api"
    )]
    Wit {
        /// Crate directory (default: the current directory).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The trait, when the crate declares several interfaces.
        #[arg(long = "trait")]
        trait_name: Option<String>,
    },
    /// Write a Python module skeleton for a #[plugin_interface] trait.
    #[command(
        name = "python-stub",
        after_help = "The stub carries the exact __interface_hash__ the macro computes (streaming and\noptional methods included), TypedDict hints for records and a stub for every method.\n\nExample:\n  fidius python-stub --interface my-api/src/lib.rs --out plugin.py"
    )]
    PythonStub {
        /// The interface's source: a `.rs` file, or a crate directory.
        #[arg(long)]
        interface: PathBuf,
        /// Where to write the stub (`-` for standard output).
        #[arg(long)]
        out: PathBuf,
        /// The trait, when the source declares several interfaces.
        #[arg(long = "trait-name", alias = "trait")]
        trait_name: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::InitInterface {
            name,
            trait_name,
            extension,
            deps,
        } => scaffold::init_interface(&name, &trait_name, extension.as_deref(), &deps),
        Command::InitPlugin {
            name,
            interface,
            trait_name,
            deps,
        } => scaffold::init_plugin(&name, &interface, &trait_name, &deps),
        Command::InitHost {
            name,
            interface,
            trait_name,
            deps,
        } => scaffold::init_host(&name, &interface, &trait_name, &deps),
        Command::Keygen { out } => keys::keygen(&out),
        Command::Sign { key, dylib } => keys::sign(&key, &dylib),
        Command::Verify { key, dylib } => keys::verify(&key, &dylib),
        Command::Inspect { dylib, json } => inspect::inspect(&dylib, json),
        Command::Test { dir, debug } => smoke::test(&dir, !debug),
        Command::Package(cmd) => package::run(cmd),
        Command::Wit { dir, trait_name } => wit(&dir, trait_name.as_deref()),
        Command::PythonStub {
            interface,
            out,
            trait_name,
        } => python_stub(&interface, &out, trait_name.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}

fn wit(dir: &std::path::Path, trait_name: Option<&str>) -> Result<(), String> {
    let world = fidius_interface::source::world_from_crate(dir, trait_name)?;
    let out_dir = dir.join("wit");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let path = out_dir.join(format!("{}.wit", world.iface));
    std::fs::write(&path, world.render()).map_err(|e| format!("{}: {e}", path.display()))?;
    println!(
        "Wrote {} (interface {}, {} user type(s))",
        path.display(),
        world.trait_name,
        world.types.len()
    );
    Ok(())
}

fn python_stub(
    interface: &std::path::Path,
    out: &std::path::Path,
    trait_name: Option<&str>,
) -> Result<(), String> {
    let root = if interface.is_dir() {
        fidius_interface::source::crate_root(interface)
            .ok_or_else(|| format!("no src/lib.rs or src/main.rs in {}", interface.display()))?
    } else if interface.is_file() {
        interface.to_path_buf()
    } else {
        return Err(format!(
            "{}: no such file or directory",
            interface.display()
        ));
    };
    let (iface, src) = fidius_interface::source::interface_from_source(&root, trait_name)?;
    let stub = fidius_interface::python::python_stub(&iface, Some(&src));
    if out.as_os_str() == "-" {
        println!("{stub}");
        return Ok(());
    }
    std::fs::write(out, format!("{stub}\n")).map_err(|e| format!("{}: {e}", out.display()))?;
    println!(
        "Wrote Python stub for {} to {} ({} bytes, __interface_hash__ = {:#x})",
        iface.ident,
        out.display(),
        stub.len() + 1,
        iface.hash
    );
    Ok(())
}
