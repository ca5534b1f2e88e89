//! Project automation. `cargo xtask demo` builds, signs, loads and calls the
//! example plugins; `cargo xtask test` installs what the tests need and runs them all.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

type Result<T = ()> = std::result::Result<T, String>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("test") => test(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <demo|test> [--quick]\n\n  demo   build, sign, load and call the example plugins\n  test   install test prerequisites and run every check (--quick: tests only)");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("xtask: {e}");
        std::process::exit(1);
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(label: &str, mut cmd: Command) -> Result {
    println!("==> {label}");
    let t = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("{label}: could not start: {e}"))?;
    if !status.success() {
        return Err(format!("{label} failed ({status})"));
    }
    println!("    ok in {:.1?}", t.elapsed());
    Ok(())
}

/// Builds the given packages and returns the cdylibs they produced.
fn build_cdylibs(packages: &[&str]) -> Result<Vec<PathBuf>> {
    let mut cmd = cargo();
    cmd.args(["build", "--lib", "--message-format=json-render-diagnostics"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err("building the example plugins failed".into());
    }
    let mut libs = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_cdylib = msg["target"]["crate_types"]
            .as_array()
            .is_some_and(|t| t.iter().any(|k| k == "cdylib"));
        let ours = msg["target"]["name"]
            .as_str()
            .is_some_and(|n| packages.contains(&n.replace('_', "-").as_str()));
        if msg["reason"] == "compiler-artifact" && is_cdylib && ours {
            let ext = std::env::consts::DLL_EXTENSION;
            libs.extend(
                msg["filenames"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f.as_str())
                    .filter(|f| f.ends_with(&format!(".{ext}")))
                    .map(PathBuf::from),
            );
        }
    }
    if libs.len() != packages.len() {
        return Err(format!(
            "expected {} cdylibs, cargo reported {libs:?}",
            packages.len()
        ));
    }
    Ok(libs)
}

fn demo() -> Result {
    println!("fidius demo: interfaces `my-api` (ImageFilter) and `telemetry-api` (Telemetry); plugins `my-plugin` (Invert), `brighten-plugin` (Brighten), `telemetry-plugin` (CalibratedSensor)");
    let t = Instant::now();
    let libs = build_cdylibs(&["my-plugin", "brighten-plugin", "telemetry-plugin"])?;
    println!(
        "built {} plugin libraries in {:.1?}:",
        libs.len(),
        t.elapsed()
    );
    for l in &libs {
        println!("    {}", l.display());
    }
    let dir = std::env::temp_dir().join(format!("fidius-demo-{}", std::process::id()));
    let mut cmd = cargo();
    cmd.args(["run", "--quiet", "-p", "demo-host", "--"])
        .arg(&dir)
        .args(&libs);
    let result = run("demo host", cmd);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn test(args: &[String]) -> Result {
    let quick = args.iter().any(|a| a == "--quick");
    let t = Instant::now();
    if !quick {
        let mut rustup = Command::new("rustup");
        rustup.args(["target", "add", "wasm32-wasip2"]);
        run(
            "install the wasm32-wasip2 target (fidius-core must build for it)",
            rustup,
        )?;
        let mut fmt = cargo();
        fmt.args(["fmt", "--all", "--", "--check"]);
        run("cargo fmt --check", fmt)?;
        let mut clippy = cargo();
        clippy.args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]);
        run("cargo clippy -D warnings", clippy)?;
    }
    let mut tests = cargo();
    tests.args(["test", "--workspace"]);
    run("cargo test --workspace", tests)?;
    if !quick {
        let mut wasm = cargo();
        wasm.args(["build", "-p", "fidius-core", "--target", "wasm32-wasip2"]);
        run("fidius-core builds for wasm32-wasip2", wasm)?;
        for example in [
            "load_and_call",
            "configured",
            "server_stream",
            "client_stream",
            "bidi_stream",
            "host_functions",
            "async_host_stream",
        ] {
            let mut run_example = cargo();
            run_example.args(["run", "--quiet", "-p", "showcase", "--example", example]);
            run(&format!("example {example}"), run_example)?;
        }
        let mut doc = cargo();
        doc.args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings");
        run("cargo doc (warnings denied)", doc)?;
    }
    println!("all checks passed in {:.1?}", t.elapsed());
    Ok(())
}
