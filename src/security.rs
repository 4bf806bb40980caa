//! Secrets handed to browsers and API clients: how they are made, stored (only as a hash) and
//! compared. Used by every edge that issues or checks one (session tokens, API keys, the
//! Preferences page's sign-in state, the `/metrics` bearer token); it owns no storage.

use base64::Engine;
use sha2::{Digest, Sha256};

/// A new random secret (256 bits, URL-safe base64 without padding).
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a secret, hex: what is stored in its place.
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares without leaking where two hashes differ.
pub fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
