//! Host-side package helpers: typed manifests, discovery, verified unpacking.

use fidius_host::package::*;

#[derive(serde::Deserialize, Debug, PartialEq)]
struct Meta {
    category: String,
}

fn make_package(root: &std::path::Path, name: &str) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("package.toml"),
        format!("[package]\nname = \"{name}\"\nversion = \"1.0.0\"\ninterface = \"api\"\ninterface_version = 3\n\n[metadata]\ncategory = \"filters\"\n"),
    )
    .unwrap();
    dir
}

#[test]
fn discover_load_and_verified_unpack() {
    let root = tempfile::tempdir().unwrap();
    let a = make_package(root.path(), "alpha");
    make_package(root.path(), "beta");
    std::fs::create_dir_all(root.path().join("not-a-package")).unwrap();
    let found = discover_packages(root.path()).unwrap();
    assert_eq!(found, [root.path().join("alpha"), root.path().join("beta")]);
    let m = load_package_manifest::<Meta>(&a).unwrap();
    assert_eq!(
        m.metadata,
        Meta {
            category: "filters".into()
        }
    );
    assert_eq!(m.package.interface_version, 3);

    let (sk, vk) = fidius_test::fixture_keypair();
    let (_, other) = fidius_test::fixture_keypair_with_seed(7);
    sign_package(&a, &sk).unwrap();
    let fid = pack_package(&a, Some(&root.path().join("alpha.fid")))
        .unwrap()
        .path;
    let dest = root.path().join("installed");
    let dir = unpack_fid_verified(&fid, &dest, &[vk]).unwrap();
    assert!(dir.join("package.toml").is_file());
    // A package signed by an untrusted key is refused while still staged:
    // nothing of it ever appears in the destination.
    let dest2 = root.path().join("installed2");
    assert!(matches!(
        unpack_fid_verified(&fid, &dest2, &[other]),
        Err(PackageError::SignatureInvalid { .. })
    ));
    assert_eq!(std::fs::read_dir(&dest2).unwrap().count(), 0);
    // An unsigned package is refused when keys are given.
    let b = root.path().join("beta");
    let unsigned = pack_package(&b, Some(&root.path().join("beta.fid")))
        .unwrap()
        .path;
    let dest3 = root.path().join("installed3");
    assert!(matches!(
        unpack_fid_verified(&unsigned, &dest3, &[vk]),
        Err(PackageError::SignatureNotFound { .. })
    ));
    assert_eq!(std::fs::read_dir(&dest3).unwrap().count(), 0);
    // Without keys it is accepted (with a warning), as in fidius 0.5.
    assert!(unpack_fid(&unsigned, &dest3).is_ok());
}
