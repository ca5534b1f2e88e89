//! `demo-host python <dir>`: the README's `ImageFilter` implemented in
//! Python, packaged with the SDK vendored, signed, loaded through the same
//! `ImageFilterClient` and called; then a typed error raised in Python and a
//! tampered package refused.

use ed25519_dalek::SigningKey;
use fidius::{CallError, PluginHost};
use fidius_host::package::sign_package;
use my_api::__fidius_ImageFilter::ImageFilter_PYTHON_DESCRIPTOR;
use my_api::{ApplyInput, ImageFilterClient};
use std::path::Path;

const MODULE: &str = r#""""ImageFilter (examples/my-api) in Python: inverts pixels."""
import fidius

__interface_hash__ = __HASH__


@fidius.method
def apply(input):
    pixels = input["pixels"]
    if not pixels:
        raise fidius.PluginError("EMPTY", "no pixels to invert", {"min": 1})
    return {"pixels": [255 - p for p in pixels]}
"#;

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_name() == "__pycache__" {
            continue;
        }
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), dest)?;
        }
    }
    Ok(())
}

/// Runs the Python part of the demo.
pub fn run(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let pkg = dir.join("invert-py");
    std::fs::create_dir_all(&pkg)?;
    println!("\n[p1] write a Python package for ImageFilter and vendor the SDK (python/fidius)");
    std::fs::write(
        pkg.join("package.toml"),
        "[package]\nname = \"InvertPy\"\nversion = \"0.1.0\"\ninterface = \"my-api\"\ninterface_version = 1\nruntime = \"python\"\n\n[metadata]\n\n[python]\nentry_module = \"invert\"\n",
    )?;
    let hash = format!("{:#x}", ImageFilter_PYTHON_DESCRIPTOR.interface_hash);
    std::fs::write(pkg.join("invert.py"), MODULE.replace("__HASH__", &hash))?;
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../python/fidius");
    copy_dir(&sdk, &pkg.join("vendor/fidius"))?;
    println!("    __interface_hash__ = {hash} (ImageFilter_PYTHON_DESCRIPTOR)");

    println!("[p2] sign the package and load it by name with signatures required");
    let key = SigningKey::generate(&mut rand_core::OsRng);
    sign_package(&pkg, &key)?;
    let host = PluginHost::builder()
        .search_path(dir)
        .require_signature(true)
        .trusted_keys(&[key.verifying_key()])
        .build()?;
    let found = host.discover()?;
    for p in found.iter().filter(|p| p.is_python()) {
        println!("    discovered {} ({:?})", p.name, p.runtime);
    }
    let filter = ImageFilterClient::load(&host, "InvertPy")?;
    let out = filter.apply(&ApplyInput {
        pixels: vec![0, 100, 255],
    })?;
    println!("    InvertPy.apply([0, 100, 255]) = {:?}", out.pixels);
    if out.pixels != [255, 155, 0] {
        return Err("the Python plugin inverted wrongly".into());
    }

    println!("[p3] a fidius.PluginError raised in Python arrives typed");
    match filter.apply(&ApplyInput { pixels: vec![] }) {
        Err(CallError::Plugin(e)) => println!(
            "    CallError::Plugin: code={} message={:?} details={:?}",
            e.code, e.message, e.details
        ),
        Err(other) => return Err(format!("expected a plugin error, got {other}").into()),
        Ok(_) => return Err("an empty image was accepted".into()),
    }

    println!("[p4] edit the signed module: the next load is refused");
    let src = pkg.join("invert.py");
    let text = std::fs::read_to_string(&src)?;
    std::fs::write(&src, text.replace("255 - p", "p"))?;
    match ImageFilterClient::load(&host, "InvertPy") {
        Err(e) => println!("    refused: {e}"),
        Ok(_) => return Err("a tampered package loaded".into()),
    }
    Ok(())
}
