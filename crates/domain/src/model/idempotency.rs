//! Idempotency keys (SPEC §4): a UUID v4, bare or as a quoted structured-field string, scoped
//! to the account and kept 24 hours. A request is identified by a fingerprint of its method,
//! path, query and body bytes.

use chrono::Duration;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::ids::UserId;

/// How long a completed key is kept.
pub fn retention() -> Duration {
    Duration::hours(24)
}

/// How long an in-progress claim is honoured before a retry may take it over (the process
/// that held it died; its effect never committed, because the effect and the saved response
/// commit together).
pub fn stale_after() -> Duration {
    Duration::seconds(60)
}

/// Parses the `Idempotency-Key` header value.
pub fn parse_key(raw: &str) -> Option<Uuid> {
    let raw = raw.trim();
    let inner = match raw.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"')?,
        None => raw,
    };
    if inner.len() != 36 {
        return None;
    }
    let uuid = Uuid::try_parse(inner).ok()?;
    (uuid.get_version_num() == 4 && uuid.get_variant() == uuid::Variant::RFC4122).then_some(uuid)
}

/// A key as the store files it: the account plus the client's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyScope {
    pub user_id: UserId,
    pub key: Uuid,
}

/// SHA-256 over method, path, query and body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(method: &str, path: &str, query: &str, body: &[u8]) -> Self {
        let mut h = Sha256::new();
        for part in [method.as_bytes(), path.as_bytes(), query.as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.update(body);
        Fingerprint(h.finalize().into())
    }
}

/// A response as it is saved and replayed: status, content type and body bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedResponse {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// What claiming a key found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key is now ours: run the operation and complete it.
    Fresh,
    /// Completed earlier with the same request: replay this.
    Replay(SavedResponse),
    /// Used earlier for a different request.
    Mismatch,
    /// Another request with this key is still running.
    InUse,
}

/// Which responses are saved: those the operation itself produced (2xx, 4xx). Server errors
/// free the key so a retry runs again.
pub fn is_saved(status: u16) -> bool {
    (200..500).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_bare_or_quoted_v4_only() {
        let k = "550e8400-e29b-41d4-a716-446655440000";
        assert!(parse_key(k).is_some());
        assert_eq!(parse_key(&format!("\"{k}\"")), parse_key(k));
        assert!(parse_key(&format!("\"{k}")).is_none());
        assert!(
            parse_key("0190f1a2-0000-7000-8000-000000000000").is_none(),
            "v7 is not v4"
        );
        assert!(
            parse_key("550e8400e29b41d4a716446655440000").is_none(),
            "hyphens required"
        );
        assert!(parse_key("hello").is_none());
        assert!(parse_key("").is_none());
    }

    #[test]
    fn fingerprints_separate_fields() {
        assert_ne!(
            Fingerprint::of("POST", "/a", "b", b""),
            Fingerprint::of("POST", "/ab", "", b"")
        );
        assert_ne!(
            Fingerprint::of("POST", "/a", "", b"{}"),
            Fingerprint::of("POST", "/a", "", b"{ }")
        );
        assert_eq!(
            Fingerprint::of("PUT", "/a", "", b"x"),
            Fingerprint::of("PUT", "/a", "", b"x")
        );
    }
}
