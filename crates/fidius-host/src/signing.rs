//! Ed25519 signatures over whole library files: `<file>.sig` holds the raw
//! 64-byte signature of the file's bytes (no pre-hash), as in fidius 0.5.

use crate::error::LoadError;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::path::{Path, PathBuf};

/// `libx.so` → `libx.so.sig`.
pub fn sig_path_for(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

/// Signs `bytes`.
pub fn sign_bytes(bytes: &[u8], key: &SigningKey) -> Signature {
    key.sign(bytes)
}

/// Signs the file at `path`, writing `<path>.sig`; returns the signature path.
pub fn sign_file(path: &Path, key: &SigningKey) -> std::io::Result<PathBuf> {
    let bytes = std::fs::read(path)?;
    let sig = sign_bytes(&bytes, key);
    let sig_path = sig_path_for(path);
    std::fs::write(&sig_path, sig.to_bytes())?;
    Ok(sig_path)
}

/// Verifies `bytes` (the content of `path`) against `<path>.sig` with any of `keys`.
pub fn verify_bytes(path: &Path, bytes: &[u8], keys: &[VerifyingKey]) -> Result<(), LoadError> {
    let sig_path = sig_path_for(path);
    let invalid = || LoadError::SignatureInvalid {
        path: path.display().to_string(),
    };
    // A signature is 64 bytes: anything longer (or not a regular file) is
    // refused without reading it whole.
    use crate::arch::ReadError;
    let sig_bytes = match crate::arch::read_regular(&sig_path, 64) {
        Ok(b) => b,
        Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LoadError::SignatureRequired {
                path: path.display().to_string(),
            })
        }
        Err(ReadError::Io(e)) => return Err(LoadError::Io(e)),
        Err(ReadError::NotRegular | ReadError::TooLarge(_)) => return Err(invalid()),
    };
    let sig_arr: [u8; 64] = sig_bytes.as_slice().try_into().map_err(|_| invalid())?;
    let sig = Signature::from_bytes(&sig_arr);
    if keys.iter().any(|k| k.verify_strict(bytes, &sig).is_ok()) {
        Ok(())
    } else {
        Err(invalid())
    }
}

/// Verifies the library at `path` against `<path>.sig` with any of `keys`.
pub fn verify_signature(path: &Path, keys: &[VerifyingKey]) -> Result<(), LoadError> {
    let bytes = crate::arch::read_library(path)?;
    verify_bytes(path, &bytes, keys)
}

/// Verifies the signature of the package in `dir` (`package.sig` over the
/// directory digest) with any of `keys` (fidius 0.5 name and shape).
pub fn verify_package_signature(dir: &Path, keys: &[VerifyingKey]) -> Result<(), LoadError> {
    fidius_package::verify_package(dir, keys).map_err(|e| package_signature_error(dir, e))
}

/// The load error for a failed package signature check of `dir`.
pub(crate) fn package_signature_error(dir: &Path, e: fidius_package::PackageError) -> LoadError {
    use fidius_package::PackageError as P;
    match e {
        P::SignatureNotFound { .. } => LoadError::SignatureRequired {
            path: dir
                .join(fidius_package::PACKAGE_SIG_FILE)
                .display()
                .to_string(),
        },
        P::SignatureInvalid { .. } => LoadError::SignatureInvalid {
            path: dir.display().to_string(),
        },
        P::Io(e) => LoadError::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", dir.display()),
        )),
        other => LoadError::SignatureInvalid {
            path: format!("{} ({other})", dir.display()),
        },
    }
}

/// A short, stable fingerprint of a public key (first 8 bytes of its hex form),
/// so operators can tell keys apart in logs.
pub fn key_fingerprint(key: &VerifyingKey) -> String {
    key.as_bytes()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libx.so");
        std::fs::write(&lib, b"library bytes").unwrap();
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let other = SigningKey::from_bytes(&[8u8; 32]);
        assert!(matches!(
            verify_signature(&lib, &[key.verifying_key()]),
            Err(LoadError::SignatureRequired { .. })
        ));
        let sig = sign_file(&lib, &key).unwrap();
        assert_eq!(sig, dir.path().join("libx.so.sig"));
        verify_signature(&lib, &[other.verifying_key(), key.verifying_key()]).unwrap();
        assert!(matches!(
            verify_signature(&lib, &[other.verifying_key()]),
            Err(LoadError::SignatureInvalid { .. })
        ));
        assert!(matches!(
            verify_signature(&lib, &[]),
            Err(LoadError::SignatureInvalid { .. })
        ));
        std::fs::write(&lib, b"library bytes!").unwrap();
        assert!(matches!(
            verify_signature(&lib, &[key.verifying_key()]),
            Err(LoadError::SignatureInvalid { .. })
        ));
        std::fs::write(&sig, b"short").unwrap();
        assert!(matches!(
            verify_signature(&lib, &[key.verifying_key()]),
            Err(LoadError::SignatureInvalid { .. })
        ));
    }
}
