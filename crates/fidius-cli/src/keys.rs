//! `keygen`, `sign`, `verify`: raw 32-byte Ed25519 keys, `<file>.sig` over
//! the whole file, and key fingerprints wherever a key is used.

use crate::CmdResult;
use ed25519_dalek::{SigningKey, VerifyingKey};
use fidius_host::signing::{key_fingerprint, sig_path_for, sign_file, verify_signature};
use fidius_host::LoadError;
use std::path::Path;

pub fn read_secret(path: &Path) -> Result<SigningKey, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read secret key {}: {e}", path.display()))?;
    let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        format!(
            "secret key must be exactly 32 bytes ({} has {}); generate one with `fidius keygen`",
            path.display(),
            bytes.len()
        )
    })?;
    Ok(SigningKey::from_bytes(&arr))
}

pub fn read_public(path: &Path) -> Result<VerifyingKey, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read public key {}: {e}", path.display()))?;
    let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        format!(
            "public key must be exactly 32 bytes ({} has {})",
            path.display(),
            bytes.len()
        )
    })?;
    VerifyingKey::from_bytes(&arr)
        .map_err(|e| format!("invalid public key {}: {e}", path.display()))
}

pub fn keygen(out: &Path) -> CmdResult {
    let secret = out.with_extension("secret");
    let public = out.with_extension("public");
    for p in [&secret, &public] {
        if p.exists() {
            return Err(format!(
                "{} already exists; choose another --out or remove it",
                p.display()
            ));
        }
    }
    let key = SigningKey::generate(&mut rand_core::OsRng);
    write_private(&secret, &key.to_bytes())?;
    std::fs::write(&public, key.verifying_key().to_bytes())
        .map_err(|e| format!("cannot write {}: {e}", public.display()))?;
    println!("Generated keypair:");
    println!("  Secret: {}", secret.display());
    println!("  Public: {}", public.display());
    println!("  Fingerprint: {}", key_fingerprint(&key.verifying_key()));
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> CmdResult {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub fn sign(key: &Path, dylib: &Path) -> CmdResult {
    let key = read_secret(key)?;
    if !dylib.is_file() {
        return Err(format!("no such file: {}", dylib.display()));
    }
    let sig =
        sign_file(dylib, &key).map_err(|e| format!("signing {} failed: {e}", dylib.display()))?;
    println!("Signed: {} -> {}", dylib.display(), sig.display());
    println!(
        "  Key fingerprint: {}",
        key_fingerprint(&key.verifying_key())
    );
    Ok(())
}

pub fn verify(key: &Path, dylib: &Path) -> CmdResult {
    let key = read_public(key)?;
    match verify_signature(dylib, &[key]) {
        Ok(()) => {
            println!("Signature valid: {}", dylib.display());
            println!("  Key fingerprint: {}", key_fingerprint(&key));
            Ok(())
        }
        Err(LoadError::SignatureInvalid { .. }) => Err(format!(
            "Signature INVALID: {} (not signed by key {}, or the file changed after signing)",
            dylib.display(),
            key_fingerprint(&key)
        )),
        Err(LoadError::SignatureRequired { .. }) => Err(format!(
            "signature file not found: {} (sign with `fidius sign`)",
            sig_path_for(dylib).display()
        )),
        // An unreadable library or signature file: say which, not "invalid".
        Err(e) => Err(e.to_string()),
    }
}
