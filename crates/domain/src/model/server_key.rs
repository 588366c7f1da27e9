//! The deployment's secret key (`JOBBY_SECRET_KEY`): one value shared by every server process,
//! from which each purpose derives a key of its own, so that no two uses ever share one.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// How short a configured key may be.
pub const MIN_CHARS: usize = 32;

/// The master key. Never printed: `Debug` redacts it.
#[derive(Clone)]
pub struct ServerKey([u8; 32]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the secret key must be at least {MIN_CHARS} characters (e.g. `openssl rand -base64 32`)")]
pub struct KeyTooShort;

impl ServerKey {
    /// The key from its configured text (any characters, at least [`MIN_CHARS`]).
    pub fn from_config(text: &str) -> Result<Self, KeyTooShort> {
        if text.chars().count() < MIN_CHARS {
            return Err(KeyTooShort);
        }
        Ok(ServerKey(mac(b"jobby server key v1", text.as_bytes())))
    }

    /// A fresh random key: good for one process only (what it signs, no other process can
    /// check, and nothing survives a restart).
    pub fn random() -> Self {
        let mut k = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut k);
        ServerKey(k)
    }

    /// The key for one purpose, e.g. `"pre-session csrf"`.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        mac(&self.0, purpose.as_bytes())
    }
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(redacted)")
    }
}

/// HMAC-SHA256 of `message` under `key`.
pub fn mac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes a key of any length");
    m.update(message);
    m.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_key_is_long_enough_and_stable() {
        assert_eq!(ServerKey::from_config("short").unwrap_err(), KeyTooShort);
        let text = "0123456789abcdef0123456789abcdef";
        let (a, b) = (
            ServerKey::from_config(text).unwrap(),
            ServerKey::from_config(text).unwrap(),
        );
        assert_eq!(a.derive("x"), b.derive("x"));
        assert_ne!(a.derive("x"), a.derive("y"));
        let other = ServerKey::from_config("0123456789abcdef0123456789abcdeF").unwrap();
        assert_ne!(a.derive("x"), other.derive("x"));
        assert_ne!(
            ServerKey::random().derive("x"),
            ServerKey::random().derive("x")
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let k = ServerKey::from_config("0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(format!("{k:?}"), "ServerKey(redacted)");
    }
}
