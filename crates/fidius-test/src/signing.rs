//! Deterministic signing keys for tests (not secure: a key is its seed byte
//! repeated), and signing of a library file as the host verifies it.

use ed25519_dalek::{SigningKey, VerifyingKey};
use std::path::{Path, PathBuf};

/// A deterministic key pair (seed byte 1).
pub fn fixture_keypair() -> (SigningKey, VerifyingKey) {
    fixture_keypair_with_seed(1)
}

/// A deterministic key pair whose 32-byte seed is `seed` repeated.
pub fn fixture_keypair_with_seed(seed: u8) -> (SigningKey, VerifyingKey) {
    let sk = SigningKey::from_bytes(&[seed; 32]);
    let vk = sk.verifying_key();
    (sk, vk)
}

/// Signs the library at `path`, writing `<path>.sig` (fidius 0.5 shape).
pub fn sign_dylib(path: &Path, key: &SigningKey) -> std::io::Result<()> {
    sign_library(path, key).map(|_| ())
}

/// Signs the library at `path`, writing `<path>.sig`; returns the signature's path.
pub fn sign_library(path: &Path, key: &SigningKey) -> std::io::Result<PathBuf> {
    fidius_host::signing::sign_file(path, key)
}
