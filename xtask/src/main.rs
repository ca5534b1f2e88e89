//! Project automation. `cargo xtask demo` builds, signs, loads and calls the
//! example plugins; `cargo xtask test` installs what the tests need and runs
//! them all; `cargo xtask fuzz` fuzzes every decoder of untrusted bytes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

type Result<T = ()> = std::result::Result<T, String>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("test") => test(&args[1..]),
        Some("fuzz") => fuzz(&args[1..]),
        Some("leaks") => leaks(),
        _ => {
            eprintln!("usage: cargo xtask <demo|test|fuzz> [options]\n\n  demo   build, sign, load and call the example plugins\n  test   install test prerequisites and run every check (--quick: tests only)\n  leaks  run load/call/stream/unload cycles under valgrind (calls must leak nothing)\n  fuzz   fuzz every decoder of untrusted bytes: [--seconds N] (per target, default 60)\n         [--runs N] (per target, instead of a time) [TARGET...] (default: all)");
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
    build_libs(packages, None)
}

/// Builds the given packages (for `target`, e.g. `wasm32-wasip2`, when given)
/// and returns their cdylibs (`.wasm` components for wasm targets), in order.
fn build_libs(packages: &[&str], target: Option<&str>) -> Result<Vec<PathBuf>> {
    let mut cmd = cargo();
    cmd.args(["build", "--lib", "--message-format=json-render-diagnostics"]);
    if let Some(t) = target {
        cmd.args(["--target", t]);
    }
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
            let ext = if target.is_some_and(|t| t.starts_with("wasm")) {
                "wasm"
            } else {
                std::env::consts::DLL_EXTENSION
            };
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

/// The README's two pieces of code, as the example crates hold them.
const SEED_INTERFACE: &str = include_str!("../../examples/my-api/src/lib.rs");
const SEED_PLUGIN: &str = include_str!("../../examples/my-plugin/src/lib.rs");

/// The README workflow with the real `fidius` binary, in a temporary directory.
fn newcomer_path(workspace_target: &Path) -> Result {
    println!("\n=== Part 1: the README workflow with the `fidius` CLI ===");
    let mut build = cargo();
    build.args(["build", "--quiet", "-p", "fidius-cli", "-p", "demo-host"]);
    run("build the fidius CLI", build)?;
    let bin = |name: &str| {
        workspace_target
            .join("debug")
            .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
    };
    // The scaffolded crates build in their own target dir (their library
    // names match the workspace examples').
    let target_dir = &workspace_target.join("newcomer");
    let work = std::env::temp_dir().join(format!("fidius-newcomer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let root = root();
    let step = |label: &str, args: &[&str]| -> Result {
        let mut c = Command::new(bin("fidius"));
        c.args(args)
            .current_dir(&work)
            .env("CARGO_TARGET_DIR", target_dir);
        run(&format!("{label}: fidius {}", args.join(" ")), c)
    };
    let ck = root.to_string_lossy().into_owned();
    step(
        "scaffold the interface",
        &[
            "init-interface",
            "my-api",
            "--trait",
            "ImageFilter",
            "--fidius-path",
            &ck,
        ],
    )?;
    step(
        "scaffold the plugin",
        &[
            "init-plugin",
            "my-plugin",
            "--interface",
            "my-api",
            "--trait",
            "ImageFilter",
            "--fidius-path",
            &ck,
        ],
    )?;
    println!("==> fill in the two pieces of code from the README");
    std::fs::write(work.join("my-api/src/lib.rs"), SEED_INTERFACE).map_err(|e| e.to_string())?;
    std::fs::write(work.join("my-plugin/src/lib.rs"), SEED_PLUGIN).map_err(|e| e.to_string())?;
    let mut b = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    b.args(["build", "--quiet"])
        .current_dir(work.join("my-plugin"))
        .env("CARGO_TARGET_DIR", target_dir);
    run("cd my-plugin && cargo build", b)?;
    let lib = target_dir
        .join("debug")
        .join(format!("libmy_plugin.{}", std::env::consts::DLL_EXTENSION));
    let plugins = work.join("plugins");
    std::fs::create_dir_all(&plugins).map_err(|e| e.to_string())?;
    let dest = plugins.join(lib.file_name().expect("file name"));
    std::fs::copy(&lib, &dest).map_err(|e| e.to_string())?;
    let dest_s = dest.to_string_lossy().into_owned();
    step("generate a key", &["keygen", "--out", "mykey"])?;
    step(
        "sign the library",
        &["sign", "--key", "mykey.secret", &dest_s],
    )?;
    step("inspect it", &["inspect", &dest_s])?;
    step(
        "sign the package",
        &["package", "sign", "--key", "mykey.secret", "my-plugin"],
    )?;
    step(
        "pack it",
        &["package", "pack", "my-plugin", "--output", "my-plugin.fid"],
    )?;
    step(
        "unpack it safely",
        &["package", "unpack", "my-plugin.fid", "--dest", "unpacked"],
    )?;
    step(
        "verify the unpacked package",
        &[
            "package",
            "verify",
            "--key",
            "mykey.public",
            "unpacked/my-plugin-0.1.0",
        ],
    )?;
    let mut host = Command::new(bin("demo-host"));
    host.arg("call-signed")
        .arg(&plugins)
        .arg(work.join("mykey.public"));
    run("load from a host with signatures required, and call", host)?;
    println!("==> tamper with the signed library (flip its last byte)");
    let mut bytes = std::fs::read(&dest).map_err(|e| e.to_string())?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    std::fs::write(&dest, bytes).map_err(|e| e.to_string())?;
    let mut v = Command::new(bin("fidius"));
    v.args(["verify", "--key", "mykey.public", &dest_s])
        .current_dir(&work);
    let status = v.status().map_err(|e| e.to_string())?;
    if status.success() {
        return Err("the CLI accepted a tampered library".into());
    }
    println!(
        "    fidius verify refused it (exit {})",
        status.code().unwrap_or(-1)
    );
    let mut h = Command::new(bin("demo-host"));
    h.arg("call-signed")
        .arg(&plugins)
        .arg(work.join("mykey.public"));
    if h.status().map_err(|e| e.to_string())?.success() {
        return Err("the host loaded a tampered library".into());
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn demo() -> Result {
    let t0 = Instant::now();
    newcomer_path(&target_dir())?;
    println!("\n=== Part 2: several plugins, streams and configured instances ===");
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
    result?;

    println!("\n=== Part 3: the same plugin source as a sandboxed WASM component ===");
    let t = Instant::now();
    let components = build_libs(&["my-plugin", "wasm-lab"], Some("wasm32-wasip2"))?;
    let find = |name: &str| {
        components
            .iter()
            .find(|c| c.file_stem().is_some_and(|s| s == name))
            .cloned()
            .ok_or_else(|| format!("no {name}.wasm in {components:?}"))
    };
    println!(
        "built 2 components with --target wasm32-wasip2 in {:.1?}",
        t.elapsed()
    );
    let dir = std::env::temp_dir().join(format!("fidius-demo-wasm-{}", std::process::id()));
    let mut cmd = cargo();
    cmd.args(["run", "--quiet", "-p", "demo-host", "--", "wasm"])
        .arg(&dir)
        .arg(find("my_plugin")?)
        .arg(find("wasm_lab")?);
    let result = run("demo host (wasm)", cmd);
    let _ = std::fs::remove_dir_all(&dir);
    result?;

    println!("\n=== Part 4: the same trait implemented in Python ===");
    let dir = std::env::temp_dir().join(format!("fidius-demo-py-{}", std::process::id()));
    let mut cmd = cargo();
    cmd.args(["run", "--quiet", "-p", "demo-host", "--", "python"])
        .arg(&dir);
    let result = run("demo host (python)", cmd);
    let _ = std::fs::remove_dir_all(&dir);
    result?;

    println!("\n=== Part 5: plugins in a killable process (deadlines, crashes, restarts) ===");
    let libs = build_cdylibs(&["unruly-plugin"])?;
    let dir = std::env::temp_dir().join(format!("fidius-demo-proc-{}", std::process::id()));
    let mut cmd = cargo();
    cmd.args(["run", "--quiet", "-p", "demo-host", "--", "process"])
        .arg(&dir)
        .args(&libs);
    let result = run("demo host (process tier)", cmd);
    let _ = std::fs::remove_dir_all(&dir);
    println!("\ndemo finished in {:.1?}", t0.elapsed());
    result
}

/// Features that turn every backend on, so one build serves clippy, tests and docs.
const BACKEND_FEATURES: &str = "fidius-host/wasm,fidius-host/python,fidius-host/remote-tls";

fn test(args: &[String]) -> Result {
    let quick = args.iter().any(|a| a == "--quick");
    let t = Instant::now();
    if !quick {
        let mut rustup = Command::new("rustup");
        rustup.args(["target", "add", "wasm32-wasip2"]);
        run(
            "install the wasm32-wasip2 target (WASM guests and fidius-core build for it)",
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
            "--features",
            BACKEND_FEATURES,
            "--",
            "-D",
            "warnings",
        ]);
        run("cargo clippy -D warnings", clippy)?;
    }
    let mut tests = cargo();
    tests.args(["test", "--workspace", "--features", BACKEND_FEATURES]);
    run("cargo test --workspace (every backend)", tests)?;
    let mut sdk = Command::new("python3");
    sdk.args(["-m", "unittest", "discover", "-s", "python/tests"])
        .current_dir(root());
    run("the Python SDK's own tests", sdk)?;
    if !quick {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target"))
            .join("python-sdk");
        let _ = std::fs::remove_dir_all(&target);
        let mut pip = Command::new("python3");
        pip.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(&target)
        .arg(root().join("python"))
        .current_dir(root());
        run("the Python SDK installs with pip", pip)?;
    }
    if !quick {
        let mut wasm = cargo();
        wasm.args([
            "build",
            "-p",
            "fidius-core",
            "-p",
            "fidius-guest",
            "-p",
            "my-plugin",
            "--target",
            "wasm32-wasip2",
        ]);
        run(
            "fidius-core, fidius-guest and the README plugin build for wasm32-wasip2",
            wasm,
        )?;
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
        doc.args([
            "doc",
            "--workspace",
            "--no-deps",
            "--features",
            BACKEND_FEATURES,
        ])
        .env("RUSTDOCFLAGS", "-D warnings");
        run("cargo doc (warnings denied)", doc)?;
    }
    if !quick {
        // A short, bounded pass of every fuzz target (the long runs are
        // `cargo xtask fuzz`).
        fuzz(&["--seconds".into(), "5".into()])?;
        leaks()?;
    }
    println!("all checks passed in {:.1?}", t.elapsed());
    Ok(())
}

/// Runs `leak_cycles` under valgrind: more calls and streams on one loaded
/// plugin must not lose more memory (fails otherwise); what each extra
/// load/unload of a library loses is reported.
fn leaks() -> Result {
    let has_valgrind = Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_valgrind {
        let mut apt = Command::new("apt-get");
        apt.args(["install", "-y", "valgrind"]);
        run("install valgrind (apt-get)", apt)?;
    }
    let mut build = cargo();
    build.args(["build", "-p", "fidius-host", "--example", "leak_cycles"]);
    run("build the leak_cycles example", build)?;
    let libs = build_cdylibs(&["test-plugin-smoke"])?;
    let dir = std::env::temp_dir().join(format!("fidius-leaks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    for lib in &libs {
        let name = lib.file_name().ok_or("library without a name")?;
        std::fs::copy(lib, dir.join(name)).map_err(|e| e.to_string())?;
    }
    let example = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("debug/examples/leak_cycles");
    let lost = |loads: u32, rounds: u32| -> Result<u64> {
        let out = Command::new("valgrind")
            .args(["--leak-check=full", "--errors-for-leak-kinds=definite"])
            .arg(&example)
            .arg(&dir)
            .arg(loads.to_string())
            .arg(rounds.to_string())
            .output()
            .map_err(|e| format!("valgrind: {e}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!("leak_cycles failed under valgrind:\n{log}"));
        }
        let field = |name: &str| -> u64 {
            log.lines()
                .find_map(|l| l.split(name).nth(1))
                .and_then(|r| r.split_whitespace().next())
                .map(|n| n.replace(',', ""))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        // Blocks only reachable through a lost one are lost with it.
        let bytes = field("definitely lost: ") + field("indirectly lost: ");
        println!(
            "    {loads} load(s) x {rounds} round(s): {bytes} bytes lost (definitely + indirectly)"
        );
        Ok(bytes)
    };
    println!("==> valgrind: calls and streams on one loaded plugin");
    let few = lost(1, 10)?;
    let many = lost(1, 40)?;
    println!("==> valgrind: library loads and unloads");
    let loads = lost(4, 1)?;
    let _ = std::fs::remove_dir_all(&dir);
    let per_load = loads.saturating_sub(few) / 3;
    println!(
        "    each further load/unload of a library loses {per_load} bytes (the plugin's own registry, kept in statics of the unmapped library)"
    );
    if many > few {
        return Err(format!(
            "30 more calls and streams lost {} more bytes: the call or stream path leaks",
            many - few
        ));
    }
    println!("    calls and streams leak nothing");
    Ok(())
}

/// The fuzz targets (`fuzz/fuzz_targets/<name>.rs`), one per decoder.
const FUZZ_TARGETS: &[&str] = &[
    "wire",
    "value",
    "manifest",
    "fid_unpack",
    "arch",
    "stream_item",
    "frame",
];

/// Runs the fuzz targets with cargo-fuzz (installed from crates.io if
/// missing; `RUSTC_BOOTSTRAP` lets the stable toolchain build the sanitizer
/// flags it needs) and prints executions per target. A crash fails.
fn fuzz(args: &[String]) -> Result {
    let mut seconds = 60u64;
    let mut runs: Option<u64> = None;
    let mut targets: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut number = |what: &str| -> Result<u64> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{what} needs a number"))
        };
        match a.as_str() {
            "--seconds" => seconds = number("--seconds")?,
            "--runs" => runs = Some(number("--runs")?),
            t if FUZZ_TARGETS.contains(&t) => targets.push(t.to_owned()),
            other => {
                return Err(format!(
                    "unknown fuzz option or target `{other}` (targets: {})",
                    FUZZ_TARGETS.join(", ")
                ))
            }
        }
    }
    if targets.is_empty() {
        targets = FUZZ_TARGETS.iter().map(|t| (*t).to_owned()).collect();
    }
    let has_fuzz = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_fuzz {
        let mut install = cargo();
        install.args(["install", "cargo-fuzz", "--locked"]);
        run("install cargo-fuzz (crates.io)", install)?;
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("fuzz");
    let fuzz_cmd = |sub: &str| {
        let mut c = cargo();
        c.current_dir(root().join("fuzz"))
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_TARGET_DIR", &target_dir)
            .args(["fuzz", sub]);
        c
    };
    run(
        "build the fuzz targets (cargo fuzz build)",
        fuzz_cmd("build"),
    )?;
    let mut report = Vec::new();
    for t in &targets {
        let mut c = fuzz_cmd("run");
        c.arg(t).arg("--").arg("-print_final_stats=1");
        match runs {
            Some(n) => c.arg(format!("-runs={n}")),
            None => c.arg(format!("-max_total_time={seconds}")),
        };
        println!("==> fuzz {t}");
        let started = Instant::now();
        let out = c
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("fuzz {t}: could not start: {e}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        let execs = log
            .lines()
            .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if !out.status.success() {
            eprintln!("{log}");
            return Err(format!(
                "fuzz target {t} found a crash after {execs} executions (its input is under fuzz/artifacts/{t}/)"
            ));
        }
        println!(
            "    {execs} executions, no crash, in {:.1?}",
            started.elapsed()
        );
        report.push((t.clone(), execs));
    }
    println!("fuzz summary:");
    for (t, n) in &report {
        println!("    {t:<12} {n:>12} executions, 0 crashes");
    }
    Ok(())
}
