//! Pack-time vendoring of a Python package's requirements with pip (from the
//! package registry this machine reaches), as fidius 0.5 does.

use fidius_package::*;
use std::path::Path;

fn python_package(dir: &Path, requirements: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("package.toml"),
        "[package]\nname = \"vend\"\nversion = \"0.1.0\"\ninterface = \"x\"\ninterface_version = 1\nruntime = \"python\"\n\n[metadata]\n\n[python]\nentry_module = \"vend\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("vend.py"), "import six\n__interface_hash__ = 1\n").unwrap();
    std::fs::write(dir.join("requirements.txt"), requirements).unwrap();
}

#[test]
fn pack_vendors_requirements_into_the_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("vend");
    python_package(&pkg, "six==1.16.0\n");
    let fid = pack_package(&pkg, Some(&tmp.path().join("vend.fid"))).unwrap();
    assert!(pkg.join("vendor/six.py").is_file());
    assert!(
        !pkg.join("vendor/__pycache__").exists(),
        "pip ran with --no-compile"
    );
    let dest = tmp.path().join("out");
    std::fs::create_dir_all(&dest).unwrap();
    let unpacked = unpack_package(&fid.path, &dest).unwrap();
    assert!(unpacked.join("vendor/six.py").is_file());
}

#[test]
fn vendoring_refuses_signed_packages_and_reports_pip_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("signed");
    python_package(&pkg, "six==1.16.0\n");
    sign_package(&pkg, &ed25519_dalek::SigningKey::from_bytes(&[4; 32])).unwrap();
    let err = pack_package(&pkg, Some(&tmp.path().join("s.fid"))).unwrap_err();
    assert!(err.to_string().contains("signed"), "{err}");
    assert!(!pkg.join("vendor").exists());

    let bad = tmp.path().join("bad");
    python_package(&bad, "this-package-does-not-exist-fidius-test==0.0.1\n");
    let err = pack_package(&bad, Some(&tmp.path().join("b.fid"))).unwrap_err();
    assert!(err.to_string().contains("pip could not vendor"), "{err}");
    assert!(
        !bad.join("vendor").exists(),
        "a failed vendoring leaves nothing behind"
    );
}
