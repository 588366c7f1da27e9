//! Browser sessions: a random cookie value, stored as its SHA-256, with a CSRF token tied to
//! the session.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::distributions::Alphanumeric;
use sha2::{Digest, Sha256};

use super::ids::{SessionId, UserId};
use super::token::TokenHash;

pub const COOKIE_NAME: &str = "jobby_session";
/// The pre-session cookie that carries the CSRF token of the login and signup forms.
pub const PRE_SESSION_COOKIE: &str = "jobby_csrf";

pub fn lifetime() -> Duration {
    Duration::days(14)
}

/// A random secret of 43 alphanumeric characters (~256 bits).
pub fn random_secret() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(43)
        .map(char::from)
        .collect()
}

pub fn hash_secret(secret: &str) -> TokenHash {
    TokenHash(Sha256::digest(secret.as_bytes()).into())
}

/// Compares two secrets in constant time.
pub fn secrets_match(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user_id: UserId,
    pub secret_hash: TokenHash,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}
