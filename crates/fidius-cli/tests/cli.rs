//! Drives the real `fidius` binary through the seed README's workflow and
//! every refusal path. Outputs are compared as text with paths normalised.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

fn fidius() -> Command {
    Command::cargo_bin("fidius").unwrap()
}

fn checkout() -> PathBuf {
    std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).unwrap()
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails_with(cmd: &mut Command, needle: &str) {
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit 1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains(needle),
        "stderr was: {err}"
    );
}

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in [
        "init-interface",
        "init-plugin",
        "init-host",
        "keygen",
        "sign",
        "verify",
        "inspect",
        "test",
    ] {
        let out = stdout_of(fidius().args([cmd, "--help"]));
        assert!(
            out.contains("Example:"),
            "{cmd} --help lacks an example:\n{out}"
        );
    }
    for cmd in [
        "validate", "build", "inspect", "sign", "verify", "pack", "unpack",
    ] {
        let out = stdout_of(fidius().args(["package", cmd, "--help"]));
        assert!(
            out.contains("Example:"),
            "package {cmd} --help lacks an example"
        );
    }
    assert!(stdout_of(fidius().arg("--help")).contains("Exit codes"));
    let out = fidius().arg("no-such-command").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The README's two pieces of code, as the example crates hold them.
const SEED_INTERFACE: &str = include_str!("../../../examples/my-api/src/lib.rs");
const SEED_PLUGIN: &str = include_str!("../../../examples/my-plugin/src/lib.rs");

#[derive(serde::Serialize, serde::Deserialize)]
struct Pixels {
    pixels: Vec<u8>,
}

#[test]
fn seed_readme_workflow_end_to_end() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path();
    let target = fidius_test::fixture_target_dir().join("cli");
    let ck = checkout();
    let run = |args: &[&str]| {
        let mut c = fidius();
        c.current_dir(d).env("CARGO_TARGET_DIR", &target).args(args);
        c
    };
    assert_eq!(
        stdout_of(&mut run(&[
            "init-interface",
            "my-api",
            "--trait",
            "ImageFilter",
            "--fidius-path",
            ck.to_str().unwrap()
        ])),
        "Created interface crate: ./my-api\n"
    );
    assert_eq!(
        stdout_of(&mut run(&[
            "init-plugin",
            "my-plugin",
            "--interface",
            "my-api",
            "--trait",
            "ImageFilter",
            "--fidius-path",
            ck.to_str().unwrap()
        ])),
        "Created plugin crate: ./my-plugin\n"
    );
    fails_with(
        &mut run(&["init-interface", "my-api", "--trait", "X"]),
        "already exists",
    );
    // The generated plugin's own test passes with no edits.
    let status = std::process::Command::new(env!("CARGO"))
        .args(["test", "--quiet"])
        .current_dir(d.join("my-plugin"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the scaffolded plugin's tests must pass unedited"
    );

    // Fill in the two pieces of code from the README, build, keygen, sign, inspect.
    std::fs::write(d.join("my-api/src/lib.rs"), SEED_INTERFACE).unwrap();
    std::fs::write(d.join("my-plugin/src/lib.rs"), SEED_PLUGIN).unwrap();
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--quiet"])
        .current_dir(d.join("my-plugin"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .unwrap();
    assert!(status.success());
    let built = target
        .join("debug")
        .join(format!("libmy_plugin.{}", std::env::consts::DLL_EXTENSION));
    let lib = fidius_test::copy_into(&built, &d.join("plugins"));
    let lib_s = lib.to_str().unwrap();
    let keygen = stdout_of(&mut run(&["keygen", "--out", "mykey"]));
    assert!(keygen.starts_with(
        "Generated keypair:\n  Secret: mykey.secret\n  Public: mykey.public\n  Fingerprint: "
    ));
    fails_with(&mut run(&["keygen", "--out", "mykey"]), "already exists");
    let signed = stdout_of(&mut run(&["sign", "--key", "mykey.secret", lib_s]));
    assert!(signed.starts_with(&format!("Signed: {lib_s} -> {lib_s}.sig\n")));
    assert!(
        stdout_of(&mut run(&["verify", "--key", "mykey.public", lib_s]))
            .starts_with("Signature valid:")
    );
    let inspect = stdout_of(&mut run(&["inspect", lib_s])).replace(lib_s, "<LIB>");
    assert_eq!(
        inspect,
        "Plugin Registry: <LIB>\n  Plugins: 1\n  [0] Invert\n      Interface: ImageFilter\n      Interface hash: 0x8de19d6c8ed41835\n      Interface version: 1\n      Buffer strategy: PluginAllocated\n      Capabilities: 0x0000000000000000\n      Methods: 1\n        [0] unary\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout_of(&mut run(&["inspect", "--json", lib_s]))).unwrap();
    assert_eq!(json["plugins"][0]["methods"][0]["kind"], "unary");

    // Load it from a host with signatures required and call it.
    let public = std::fs::read(d.join("mykey.public")).unwrap();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&public.try_into().unwrap()).unwrap();
    let host = fidius_host::PluginHost::builder()
        .search_path(d.join("plugins"))
        .require_signature(true)
        .trusted_keys(&[vk])
        .build()
        .unwrap();
    let handle = fidius_host::PluginHandle::try_from_loaded(host.load("Invert").unwrap()).unwrap();
    let out: Pixels = handle
        .call_method(
            0,
            &(Pixels {
                pixels: vec![0, 200, 255],
            },),
        )
        .unwrap();
    assert_eq!(out.pixels, [255, 55, 0]);
    drop(handle);

    // Tampering is refused by `verify` (exit 1) and by the host.
    let mut bytes = std::fs::read(&lib).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0x55;
    std::fs::write(&lib, bytes).unwrap();
    fails_with(
        &mut run(&["verify", "--key", "mykey.public", lib_s]),
        "Signature INVALID",
    );
    assert!(matches!(
        host.load("Invert"),
        Err(fidius_host::LoadError::SignatureInvalid { .. })
    ));

    // Packages: validate, sign, verify, pack, unpack; refusals.
    let inspect_pkg = stdout_of(&mut run(&["package", "inspect", "my-plugin"]));
    assert!(
        inspect_pkg.contains("  Name: my-plugin\n  Version: 0.1.0\n  Interface: my-api\n"),
        "{inspect_pkg}"
    );
    assert!(
        stdout_of(&mut run(&["package", "build", "my-plugin", "--debug"]))
            .contains("Build successful")
    );
    let validate = stdout_of(&mut run(&["package", "validate", "my-plugin"]));
    assert_eq!(
        validate,
        "Package: my-plugin v0.1.0\n  Interface: my-api (version 1)\n  Runtime: rust\n  Metadata: 0 field(s)\n\nManifest valid.\n"
    );
    assert!(stdout_of(&mut run(&[
        "package",
        "sign",
        "--key",
        "mykey.secret",
        "my-plugin"
    ]))
    .starts_with("Signed package:"));
    assert!(stdout_of(&mut run(&[
        "package",
        "verify",
        "--key",
        "mykey.public",
        "my-plugin"
    ]))
    .starts_with("Package signature valid"));
    let packed = stdout_of(&mut run(&[
        "package",
        "pack",
        "my-plugin",
        "--output",
        "my-plugin.fid",
    ]));
    assert!(packed.starts_with("Packed: my-plugin.fid ("), "{packed}");
    let unpacked = stdout_of(&mut run(&[
        "package",
        "unpack",
        "my-plugin.fid",
        "--dest",
        "unpacked",
    ]));
    assert_eq!(unpacked, "Unpacked: unpacked/my-plugin-0.1.0\n");
    assert!(stdout_of(&mut run(&[
        "package",
        "verify",
        "--key",
        "mykey.public",
        "unpacked/my-plugin-0.1.0"
    ]))
    .starts_with("Package signature valid"));
    fails_with(
        &mut run(&["package", "unpack", "my-plugin.fid", "--dest", "unpacked"]),
        "already exists",
    );
    assert!(stdout_of(&mut run(&[
        "package",
        "unpack",
        "my-plugin.fid",
        "--dest",
        "unpacked",
        "--force"
    ]))
    .starts_with("Unpacked:"));
    std::fs::write(d.join("unpacked/my-plugin-0.1.0/package.toml"), "[package]\nname = \"my-plugin\"\nversion = \"6.6.6\"\ninterface = \"my-api\"\ninterface_version = 1\n[metadata]\n").unwrap();
    fails_with(
        &mut run(&[
            "package",
            "verify",
            "--key",
            "mykey.public",
            "unpacked/my-plugin-0.1.0",
        ]),
        "Package signature INVALID",
    );
}

#[test]
fn refusals_say_what_to_do() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("short.secret"), [1u8; 5]).unwrap();
    std::fs::write(p.join("lib.so"), b"not a library").unwrap();
    let mut c = fidius();
    fails_with(
        c.current_dir(p)
            .args(["sign", "--key", "short.secret", "lib.so"]),
        "exactly 32 bytes",
    );
    let mut c = fidius();
    fails_with(
        c.current_dir(p).args(["inspect", "lib.so"]),
        "failed to load",
    );
    let mut c = fidius();
    fails_with(
        c.current_dir(p)
            .args(["verify", "--key", "short.secret", "lib.so"]),
        "exactly 32 bytes",
    );
    std::fs::write(
        p.join("k.public"),
        fidius_test::fixture_keypair().1.to_bytes(),
    )
    .unwrap();
    let mut c = fidius();
    fails_with(
        c.current_dir(p)
            .args(["verify", "--key", "k.public", "lib.so"]),
        "signature file not found",
    );
    let mut c = fidius();
    fails_with(
        c.current_dir(p).args(["package", "validate", "."]),
        "package.toml",
    );
    let mut c = fidius();
    fails_with(
        c.current_dir(p).args(["package", "unpack", "lib.so"]),
        "invalid archive",
    );
}
