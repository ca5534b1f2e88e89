//! `fidius wit` and `fidius package pack --precompile` on WASM packages.

use assert_cmd::Command;
use std::path::Path;

fn fidius() -> Command {
    Command::cargo_bin("fidius").unwrap()
}

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn wit_writes_the_world_of_a_crate_with_user_types() {
    let dir = tempfile::tempdir().unwrap();
    let krate = dir.path().join("my-api");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::copy(
        repo().join("examples/my-api/src/lib.rs"),
        krate.join("src/lib.rs"),
    )
    .unwrap();
    let out = fidius().arg("wit").arg(&krate).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("(interface ImageFilter, 2 user type(s))"),
        "{stdout}"
    );
    let wit = std::fs::read_to_string(krate.join("wit/image-filter.wit")).unwrap();
    assert!(
        wit.starts_with("package fidius:image-filter@0.1.0;"),
        "{wit}"
    );
    assert!(
        wit.contains("record apply-input {\n        pixels: list<u8>,\n    }"),
        "{wit}"
    );
    assert!(
        wit.contains("apply: func(input: apply-input) -> apply-output;"),
        "{wit}"
    );
    assert!(
        wit.contains("world image-filter-plugin {\n    export image-filter;\n}"),
        "{wit}"
    );
    // A crate without an interface is a clear error.
    std::fs::write(krate.join("src/lib.rs"), "pub fn f() {}").unwrap();
    let out = fidius().arg("wit").arg(&krate).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no #[plugin_interface] trait"));
}

#[test]
fn pack_precompile_validates_and_records_the_cwasm() {
    let component = fidius_test::wasm_fixture(repo().join("tests/wasm-lab"))
        .build()
        .into_path();
    let dir = tempfile::tempdir().unwrap();
    let pkg = fidius_test::wasm_package(dir.path(), "lab", &component, &[], "");
    let out = fidius()
        .args(["package", "pack", "--precompile", "--output"])
        .arg(dir.path().join("lab.fid"))
        .arg(&pkg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Validated wasm component: plugin.wasm"),
        "{stdout}"
    );
    assert!(stdout.contains("Precompiled: plugin.cwasm"), "{stdout}");
    assert!(pkg.join("plugin.cwasm").is_file());
    let manifest = std::fs::read_to_string(pkg.join("package.toml")).unwrap();
    assert!(
        manifest.contains("precompiled = \"plugin.cwasm\""),
        "{manifest}"
    );
    assert!(dir.path().join("lab.fid").is_file());
    // A broken component is refused before packing; --precompile needs a wasm package.
    std::fs::write(pkg.join("plugin.wasm"), b"junk").unwrap();
    let out = fidius()
        .args(["package", "pack"])
        .arg(&pkg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid WASM component"));
    let rust_pkg = dir.path().join("native");
    std::fs::create_dir_all(&rust_pkg).unwrap();
    std::fs::write(
        rust_pkg.join("package.toml"),
        "[package]\nname = \"native\"\nversion = \"1\"\ninterface = \"i\"\ninterface_version = 1\n[metadata]\n",
    )
    .unwrap();
    let out = fidius()
        .args(["package", "pack", "--precompile"])
        .arg(&rust_pkg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only applies to wasm packages"));
}
