//! Browser sessions: a random cookie value, stored as its SHA-256, with a CSRF token tied to
//! the session.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::distributions::Alphanumeric;
use sha2::{Digest, Sha256};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::ids::{SessionId, UserId};
use super::server_key::{ServerKey, mac};
use super::token::TokenHash;

pub const COOKIE_NAME: &str = "jobby_session";
/// The pre-session cookie that carries the CSRF token of the login and signup forms.
pub const PRE_SESSION_COOKIE: &str = "jobby_csrf";

pub fn lifetime() -> Duration {
    Duration::days(14)
}

/// How long a login or signup form's CSRF token is good for.
pub fn pre_session_lifetime() -> Duration {
    Duration::hours(12)
}

/// The CSRF tokens of the login and signup forms, before there is a session to tie them to.
/// The server issues them signed (`<issued unix seconds>.<nonce>.<base64url HMAC>`), so a
/// cookie and form field that a client makes up, however well they match, are refused.
#[derive(Clone)]
pub struct PreSessionTokens {
    key: [u8; 32],
}

impl PreSessionTokens {
    pub fn new(key: &ServerKey) -> Self {
        PreSessionTokens {
            key: key.derive("pre-session csrf v1"),
        }
    }

    fn signature(&self, payload: &str) -> String {
        URL_SAFE_NO_PAD.encode(mac(&self.key, payload.as_bytes()))
    }

    /// A fresh token, issued at `now`.
    pub fn issue(&self, now: DateTime<Utc>) -> String {
        let nonce: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(22)
            .map(char::from)
            .collect();
        let payload = format!("{}.{nonce}", now.timestamp());
        let sig = self.signature(&payload);
        format!("{payload}.{sig}")
    }

    /// Whether `token` is one this deployment issued that has not expired at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> bool {
        self.age(token, now)
            .is_some_and(|age| age <= pre_session_lifetime().num_seconds())
    }

    /// Whether a form served now with `token` can still be sent an hour from now; if not, a
    /// fresh token is issued with the form.
    pub fn lasts_an_hour(&self, token: &str, now: DateTime<Utc>) -> bool {
        self.age(token, now)
            .is_some_and(|age| age + 3600 <= pre_session_lifetime().num_seconds())
    }

    /// Seconds since an authentic token was issued (a little below zero for a process whose
    /// clock runs ahead), or `None` for anything this deployment did not issue.
    fn age(&self, token: &str, now: DateTime<Utc>) -> Option<i64> {
        let (payload, sig) = token.rsplit_once('.')?;
        let (issued, nonce) = payload.split_once('.')?;
        if issued.is_empty() || issued.len() > 12 || !issued.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let issued: i64 = issued.parse().ok()?;
        let age = now.timestamp().checked_sub(issued)?;
        let authentic = nonce.len() == 22
            && nonce.bytes().all(|b| b.is_ascii_alphanumeric())
            && secrets_match(&self.signature(payload), sig);
        (authentic && age >= -60).then_some(age)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(key: &str) -> PreSessionTokens {
        PreSessionTokens::new(&ServerKey::from_config(key).unwrap())
    }

    const KEY: &str = "a deployment key of at least 32 characters";

    #[test]
    fn an_issued_pre_session_token_verifies_until_it_expires() {
        let t = tokens(KEY);
        let now = Utc::now();
        let token = t.issue(now);
        assert!(t.verify(&token, now));
        assert!(t.verify(&token, now + Duration::hours(11)));
        assert!(!t.verify(&token, now + Duration::hours(12) + Duration::seconds(1)));
        assert!(
            !t.verify(&token, now - Duration::minutes(2)),
            "issued in the future"
        );
        assert!(t.lasts_an_hour(&token, now + Duration::hours(10)));
        assert!(!t.lasts_an_hour(&token, now + Duration::hours(11) + Duration::minutes(1)));
        // Every process of the deployment shares the key, so every process accepts it.
        assert!(tokens(KEY).verify(&token, now));
    }

    #[test]
    fn a_made_up_or_altered_pre_session_token_is_refused() {
        let t = tokens(KEY);
        let now = Utc::now();
        assert!(!t.verify(&random_secret(), now));
        assert!(!t.verify("", now));
        assert!(!t.verify("1.2.3", now));
        assert!(!t.verify("-9223372036854775808.abcdefghijklmnopqrstuv.x", now));
        assert!(!t.verify("99999999999999999999.abcdefghijklmnopqrstuv.x", now));
        let token = t.issue(now);
        let (payload, sig) = token.rsplit_once('.').unwrap();
        // A later issue time under the old signature.
        let (issued, nonce) = payload.split_once('.').unwrap();
        let moved = format!("{}.{nonce}.{sig}", issued.parse::<i64>().unwrap() + 1);
        assert!(!t.verify(&moved, now));
        let mut flipped = sig.to_owned().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = format!("{payload}.{}", String::from_utf8(flipped).unwrap());
        assert!(!t.verify(&flipped, now));
        // Another deployment's key.
        let other = tokens("another deployment key, also 32+ characters");
        assert!(!other.verify(&token, now));
    }
}
