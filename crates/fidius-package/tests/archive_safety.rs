//! Packing round trips, and unpacking refuses every hostile archive:
//! traversal, absolute paths, links, bombs, entry floods, and never
//! half-overwrites an existing directory.

use fidius_package::*;
use std::io::Write;
use std::path::{Path, PathBuf};

fn package(dir: &Path) -> PathBuf {
    let p = dir.join("pkg");
    std::fs::create_dir_all(p.join("src")).unwrap();
    std::fs::write(
        p.join("package.toml"),
        "[package]\nname = \"demo\"\nversion = \"1.2.3\"\ninterface = \"api\"\ninterface_version = 1\n\n[metadata]\nkind = \"x\"\n",
    )
    .unwrap();
    std::fs::write(p.join("src/lib.rs"), "pub fn f() {}\n").unwrap();
    std::fs::create_dir_all(p.join("target/debug")).unwrap();
    std::fs::write(p.join("target/debug/big"), vec![0u8; 1000]).unwrap();
    p
}

/// A raw tar entry with any name bytes and type (bypassing the tar crate's checks).
fn raw_entry(
    name: &str,
    kind: tar::EntryType,
    data: &[u8],
    link: Option<&str>,
) -> (tar::Header, Vec<u8>) {
    let mut h = tar::Header::new_gnu();
    {
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    if let Some(l) = link {
        let gnu = h.as_gnu_mut().unwrap();
        gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    h.set_cksum();
    (h, data.to_vec())
}

fn archive(path: &Path, entries: Vec<(tar::Header, Vec<u8>)>) {
    let f = std::fs::File::create(path).unwrap();
    let enc = bzip2::write::BzEncoder::new(f, bzip2::Compression::best());
    let mut b = tar::Builder::new(enc);
    for (h, data) in entries {
        b.append(&h, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap().flush().unwrap();
}

fn manifest_entry() -> (tar::Header, Vec<u8>) {
    raw_entry(
        "evil-1/package.toml",
        tar::EntryType::Regular,
        b"[package]\nname = \"evil\"\nversion = \"1\"\ninterface = \"i\"\ninterface_version = 1\n[metadata]\n",
        None,
    )
}

#[test]
fn pack_unpack_round_trip_is_reproducible() {
    let d = tempfile::tempdir().unwrap();
    let p = package(d.path());
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    sign_package(&p, &key).unwrap();
    // A nested signature file is no part of the package: not packed.
    std::fs::write(p.join("src/lib.rs.sig"), b"stray").unwrap();
    let a = pack_package(&p, Some(&d.path().join("a.fid"))).unwrap();
    let b = pack_package(&p, Some(&d.path().join("b.fid"))).unwrap();
    assert!(!a.unsigned);
    assert_eq!(
        std::fs::read(&a.path).unwrap(),
        std::fs::read(&b.path).unwrap(),
        "packing is deterministic"
    );
    let out = d.path().join("out");
    let dir = unpack_package(&a.path, &out).unwrap();
    assert_eq!(dir, out.join("demo-1.2.3"));
    assert_eq!(
        std::fs::read_to_string(dir.join("src/lib.rs")).unwrap(),
        "pub fn f() {}\n"
    );
    assert!(!dir.join("target").exists(), "build output is not packed");
    assert!(
        !dir.join("src/lib.rs.sig").exists(),
        "nested .sig is not packed"
    );
    assert!(dir.join("package.sig").is_file());
    verify_package(&dir, &[key.verifying_key()]).unwrap();
    // Only the package directory is left in the destination (no staging leftovers).
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["demo-1.2.3"]);
}

#[test]
fn existing_destination_is_never_half_overwritten() {
    let d = tempfile::tempdir().unwrap();
    let p = package(d.path());
    let fid = pack_package(&p, Some(&d.path().join("p.fid")))
        .unwrap()
        .path;
    let out = d.path().join("out");
    let dir = unpack_package(&fid, &out).unwrap();
    std::fs::write(dir.join("local-change"), "keep me").unwrap();
    assert!(matches!(
        unpack_package(&fid, &out),
        Err(PackageError::DestinationExists { .. })
    ));
    assert!(
        dir.join("local-change").exists(),
        "a refused unpack leaves the directory alone"
    );
    let opts = UnpackOptions {
        overwrite: true,
        ..Default::default()
    };
    let dir = unpack_package_with_options(&fid, &out, &opts).unwrap();
    assert!(
        !dir.join("local-change").exists(),
        "overwrite replaces the whole directory"
    );
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["demo-1.2.3"]);
}

#[test]
fn hostile_entries_are_refused() {
    let d = tempfile::tempdir().unwrap();
    type Case = (
        &'static str,
        Vec<(tar::Header, Vec<u8>)>,
        fn(&PackageError) -> bool,
    );
    let cases: Vec<Case> = vec![
        (
            "traversal",
            vec![
                manifest_entry(),
                raw_entry("evil-1/../../escape", tar::EntryType::Regular, b"x", None),
            ],
            |e| matches!(e, PackageError::PathTraversal { .. }),
        ),
        (
            "absolute",
            vec![
                manifest_entry(),
                raw_entry("/tmp/fidius-absolute", tar::EntryType::Regular, b"x", None),
            ],
            |e| matches!(e, PackageError::AbsolutePath { .. }),
        ),
        (
            "symlink",
            vec![
                manifest_entry(),
                raw_entry(
                    "evil-1/link",
                    tar::EntryType::Symlink,
                    b"",
                    Some("/etc/passwd"),
                ),
            ],
            |e| matches!(e, PackageError::SymlinkRejected { .. }),
        ),
        (
            "hardlink",
            vec![
                manifest_entry(),
                raw_entry(
                    "evil-1/hard",
                    tar::EntryType::Link,
                    b"",
                    Some("evil-1/package.toml"),
                ),
            ],
            |e| matches!(e, PackageError::HardlinkRejected { .. }),
        ),
        (
            "device",
            vec![
                manifest_entry(),
                raw_entry("evil-1/dev", tar::EntryType::Char, b"", None),
            ],
            |e| matches!(e, PackageError::InvalidArchive(_)),
        ),
        (
            "two packages",
            vec![
                manifest_entry(),
                raw_entry(
                    "other-1/package.toml",
                    tar::EntryType::Regular,
                    &manifest_entry().1,
                    None,
                ),
            ],
            |e| matches!(e, PackageError::InvalidArchive(m) if m.contains("more than one")),
        ),
        (
            "no manifest",
            vec![raw_entry("x/readme", tar::EntryType::Regular, b"hi", None)],
            |e| matches!(e, PackageError::InvalidArchive(_)),
        ),
    ];
    for (what, entries, expect) in cases {
        let path = d.path().join(format!("{}.fid", what.replace(' ', "_")));
        archive(&path, entries);
        let out = d.path().join(format!("out-{}", what.replace(' ', "_")));
        let err = unpack_package(&path, &out).expect_err(what);
        assert!(expect(&err), "{what}: unexpected {err}");
        let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
        assert!(
            left.is_empty(),
            "{what}: the destination must be left empty"
        );
    }
    assert!(!Path::new("/tmp/fidius-absolute").exists());
}

#[test]
fn bombs_and_floods_hit_limits() {
    let d = tempfile::tempdir().unwrap();
    // 50 MiB of zeros compresses to a few KiB: the ratio limit stops it.
    let zeros = vec![0u8; 50 << 20];
    let bomb = d.path().join("bomb.fid");
    archive(
        &bomb,
        vec![
            manifest_entry(),
            raw_entry("evil-1/zeros", tar::EntryType::Regular, &zeros, None),
        ],
    );
    assert!(std::fs::metadata(&bomb).unwrap().len() < 1 << 20);
    let err = unpack_package(&bomb, &d.path().join("o1")).unwrap_err();
    assert!(
        matches!(err, PackageError::SizeLimitExceeded { .. }),
        "{err}"
    );
    // An absolute cap applies even with the ratio check off.
    let opts = UnpackOptions {
        max_decompressed: 1 << 20,
        max_ratio: 0,
        ..Default::default()
    };
    let err = unpack_package_with_options(&bomb, &d.path().join("o2"), &opts).unwrap_err();
    assert!(
        matches!(err, PackageError::SizeLimitExceeded { .. }),
        "{err}"
    );
    // Too many entries.
    let mut entries = vec![manifest_entry()];
    for i in 0..50 {
        entries.push(raw_entry(
            &format!("evil-1/f{i}"),
            tar::EntryType::Regular,
            b"x",
            None,
        ));
    }
    let flood = d.path().join("flood.fid");
    archive(&flood, entries);
    let opts = UnpackOptions {
        max_entries: 20,
        ..Default::default()
    };
    let err = unpack_package_with_options(&flood, &d.path().join("o3"), &opts).unwrap_err();
    assert!(
        matches!(err, PackageError::TooManyEntries { limit: 20 }),
        "{err}"
    );
    // Garbage is an invalid archive, not a crash.
    let junk = d.path().join("junk.fid");
    std::fs::write(&junk, b"definitely not bzip2").unwrap();
    assert!(matches!(
        unpack_package(&junk, &d.path().join("o4")),
        Err(PackageError::InvalidArchive(_))
    ));
}

/// The entries of a signed package's archive, under the top directory `top`.
fn signed_entries(top: &str, key: &ed25519_dalek::SigningKey) -> Vec<(tar::Header, Vec<u8>)> {
    let d = tempfile::tempdir().unwrap();
    let p = package(d.path());
    sign_package(&p, key).unwrap();
    let mut out = Vec::new();
    for rel in ["package.toml", "package.sig", "src/lib.rs"] {
        let data = std::fs::read(p.join(rel)).unwrap();
        out.push(raw_entry(
            &format!("{top}/{rel}"),
            tar::EntryType::Regular,
            &data,
            None,
        ));
    }
    out
}

#[test]
fn entries_the_digest_does_not_cover_are_never_unpacked() {
    let d = tempfile::tempdir().unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let mut entries = signed_entries("demo-1.2.3", &key);
    // What a signature never sees: build output, VCS data, bytecode, and
    // signature files other than the package's own.
    for extra in [
        "demo-1.2.3/target/debug/libevil.so",
        "demo-1.2.3/src/target/x",
        "demo-1.2.3/.git/hooks/post-checkout",
        "demo-1.2.3/src/__pycache__/m.cpython-311.pyc",
        "demo-1.2.3/src/lib.rs.sig",
        "demo-1.2.3/evil.sig",
    ] {
        entries.push(raw_entry(extra, tar::EntryType::Regular, b"unsigned", None));
    }
    entries.push(raw_entry(
        "demo-1.2.3/.git/",
        tar::EntryType::Directory,
        b"",
        None,
    ));
    let fid = d.path().join("x.fid");
    archive(&fid, entries);
    for verified in [false, true] {
        let out = d.path().join(format!("out-{verified}"));
        let dir = if verified {
            unpack_package_verified(
                &fid,
                &out,
                &UnpackOptions::default(),
                &[key.verifying_key()],
            )
            .unwrap()
        } else {
            unpack_package(&fid, &out).unwrap()
        };
        for gone in [
            "target",
            "src/target",
            ".git",
            "src/__pycache__",
            "src/lib.rs.sig",
            "evil.sig",
        ] {
            assert!(
                !dir.join(gone).exists(),
                "{gone} was unpacked (verified: {verified})"
            );
        }
        assert!(dir.join("package.sig").is_file());
        assert!(dir.join("src/lib.rs").is_file());
        verify_package(&dir, &[key.verifying_key()]).unwrap();
    }
}

#[test]
fn a_renamed_archive_installs_under_its_manifests_name() {
    let d = tempfile::tempdir().unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let out = d.path().join("out");
    // Another package is installed already.
    let other = out.join("other-9");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("package.toml"), "keep").unwrap();
    // A signed demo-1.2.3 whose archive claims to be other-9.
    let fid = d.path().join("other-9.fid");
    archive(&fid, signed_entries("other-9", &key));
    let dir = unpack_package_verified(
        &fid,
        &out,
        &UnpackOptions::default(),
        &[key.verifying_key()],
    )
    .unwrap();
    assert_eq!(dir, out.join("demo-1.2.3"));
    assert_eq!(
        std::fs::read_to_string(other.join("package.toml")).unwrap(),
        "keep",
        "a renamed archive replaced another package"
    );
    // Even with overwrite, only the manifest's own directory is replaced.
    let opts = UnpackOptions {
        overwrite: true,
        ..Default::default()
    };
    let dir = unpack_package_verified(&fid, &out, &opts, &[key.verifying_key()]).unwrap();
    assert_eq!(dir, out.join("demo-1.2.3"));
    assert_eq!(
        std::fs::read_to_string(other.join("package.toml")).unwrap(),
        "keep"
    );
}
