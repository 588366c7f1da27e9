//! Authenticating personal access tokens, with a brief in-process cache so a warm token
//! costs no database round trip. An entry lives at most `ttl`, which bounds how long a
//! revocation made by another process takes to be seen here; a revocation made by this
//! process clears the cache at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::model::token::{PlainToken, TokenHash, TokenPrincipal};
use crate::ports::{Clock, Db, StoreError};

/// How long a looked-up token is trusted without asking the store again.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_millis(1000);
const CACHE_MAX: usize = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Not the token shape, or the checksum fails: refused without a store read.
    #[error("malformed token")]
    Malformed,
    /// Unknown, expired or revoked.
    #[error("invalid token")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Authenticator {
    db: Db,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    cache: Mutex<HashMap<TokenHash, (Instant, TokenPrincipal)>>,
}

impl Authenticator {
    pub fn new(db: Db, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Authenticator {
            db,
            clock,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Answers from the in-process cache only: `Ok(None)` when the token is well-formed but
    /// not cached (a store lookup is needed).
    pub fn cached(&self, raw: &str) -> Result<Option<TokenPrincipal>, AuthError> {
        let token = PlainToken::parse(raw).ok_or(AuthError::Malformed)?;
        match self.cached_by_hash(&token.hash()) {
            Some(p) if p.expires_at.is_some_and(|e| e <= self.clock.now()) => {
                Err(AuthError::Invalid)
            }
            other => Ok(other),
        }
    }

    pub async fn authenticate(&self, raw: &str, ip: IpAddr) -> Result<TokenPrincipal, AuthError> {
        let token = PlainToken::parse(raw).ok_or(AuthError::Malformed)?;
        let hash = token.hash();
        let now = self.clock.now();
        if let Some(p) = self.cached_by_hash(&hash) {
            return if p.expires_at.is_none_or(|e| e > now) {
                Ok(p)
            } else {
                Err(AuthError::Invalid)
            };
        }
        let found = self
            .db
            .inner()
            .authenticate_token(&hash, now, &ip.to_string())
            .await?;
        let principal = found.ok_or(AuthError::Invalid)?;
        let mut cache = self.cache.lock().expect("token cache lock");
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(hash, (Instant::now(), principal.clone()));
        Ok(principal)
    }

    fn cached_by_hash(&self, hash: &TokenHash) -> Option<TokenPrincipal> {
        let mut cache = self.cache.lock().expect("token cache lock");
        match cache.get(hash) {
            Some((at, p)) if at.elapsed() < self.ttl => Some(p.clone()),
            Some(_) => {
                cache.remove(hash);
                None
            }
            None => None,
        }
    }

    /// Forgets every cached token (after a revocation or an allowlist change).
    pub fn invalidate_all(&self) {
        self.cache.lock().expect("token cache lock").clear();
    }
}
