//! Authenticating personal access tokens, with a brief in-process cache so a warm token
//! costs no database round trip.
//!
//! An entry is fresh for `ttl`. After that, the first request to use it looks the token up
//! again (and records its use) while concurrent requests keep using the entry, but never
//! beyond `ttl * 3 / 2`: one lookup per token per `ttl` instead of a stampede of them. That
//! bounds how long a revocation made by another process can go unseen here; a revocation
//! made by this process clears the cache at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::model::token::{PlainToken, TokenHash, TokenPrincipal};
use crate::ports::{Clock, Db, StoreError};

/// How long a looked-up token is trusted without asking the store again.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_millis(1000);
/// The largest `ttl` that keeps the revocation bound under two seconds.
pub const MAX_CACHE_TTL: Duration = Duration::from_millis(1300);
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

struct Entry {
    fetched: Instant,
    principal: Arc<TokenPrincipal>,
    /// A request is looking the token up again.
    refreshing: bool,
}

pub struct Authenticator {
    db: Db,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    cache: Mutex<HashMap<TokenHash, Entry>>,
}

impl Authenticator {
    pub fn new(db: Db, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Authenticator {
            db,
            clock,
            ttl: ttl.min(MAX_CACHE_TTL),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The longest a revocation elsewhere can go unseen by this process.
    pub fn revocation_bound(&self) -> Duration {
        self.ttl * 3 / 2
    }

    /// Answers from the in-process cache only: `Ok(None)` when the token is well-formed but
    /// must be looked up (then call [`authenticate`](Self::authenticate)).
    pub fn cached(&self, raw: &str) -> Result<Option<Arc<TokenPrincipal>>, AuthError> {
        let token = PlainToken::parse(raw).ok_or(AuthError::Malformed)?;
        match self.usable_cached(&token.hash()) {
            Some(p) if p.expires_at.is_some_and(|e| e <= self.clock.now()) => {
                Err(AuthError::Invalid)
            }
            other => Ok(other),
        }
    }

    pub async fn authenticate(
        &self,
        raw: &str,
        ip: IpAddr,
    ) -> Result<Arc<TokenPrincipal>, AuthError> {
        let token = PlainToken::parse(raw).ok_or(AuthError::Malformed)?;
        let hash = token.hash();
        let now = self.clock.now();
        if let Some(p) = self.usable_cached(&hash) {
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
            .await;
        let mut cache = self.cache.lock().expect("token cache lock");
        match found {
            Ok(Some(p)) => {
                let principal = Arc::new(p);
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
                cache.insert(
                    hash,
                    Entry {
                        fetched: Instant::now(),
                        principal: principal.clone(),
                        refreshing: false,
                    },
                );
                Ok(principal)
            }
            Ok(None) => {
                cache.remove(&hash);
                Err(AuthError::Invalid)
            }
            Err(e) => {
                if let Some(entry) = cache.get_mut(&hash) {
                    entry.refreshing = false;
                }
                Err(e.into())
            }
        }
    }

    /// The cached principal if it may still be used. Past `ttl`, the first caller gets `None`
    /// (and refreshes); the others keep the entry until the refresh lands or the hard bound.
    fn usable_cached(&self, hash: &TokenHash) -> Option<Arc<TokenPrincipal>> {
        let mut cache = self.cache.lock().expect("token cache lock");
        let entry = cache.get_mut(hash)?;
        let age = entry.fetched.elapsed();
        if age < self.ttl {
            return Some(entry.principal.clone());
        }
        if age < self.revocation_bound() && entry.refreshing {
            return Some(entry.principal.clone());
        }
        if age < self.revocation_bound() {
            entry.refreshing = true;
            return None;
        }
        cache.remove(hash);
        None
    }

    /// Forgets every cached token (after a revocation or an allowlist change).
    pub fn invalidate_all(&self) {
        self.cache.lock().expect("token cache lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::account::AccountType;
    use crate::model::ids::{TokenId, UserId};
    use crate::ports::SystemClock;

    fn principal() -> Arc<TokenPrincipal> {
        Arc::new(TokenPrincipal {
            token_id: TokenId::new(),
            user_id: UserId::new(),
            account_type: AccountType::Seeker,
            scopes: Default::default(),
            expires_at: None,
            allowlist: vec![],
            rate_limits: Default::default(),
        })
    }

    struct NoDb;

    #[async_trait::async_trait]
    impl crate::ports::Database for NoDb {
        async fn transaction(&self, _: crate::ports::TxBody) -> crate::ports::TxOutput {
            unreachable!()
        }
        async fn read(&self, _: crate::ports::TxBody) -> crate::ports::TxOutput {
            unreachable!()
        }
        async fn authenticate_token(
            &self,
            _: &TokenHash,
            _: chrono::DateTime<chrono::Utc>,
            _: &str,
        ) -> Result<Option<TokenPrincipal>, StoreError> {
            unreachable!()
        }
        async fn claim_idempotency(
            &self,
            _: &crate::model::idempotency::IdempotencyScope,
            _: &crate::model::idempotency::Fingerprint,
            _: chrono::DateTime<chrono::Utc>,
            _: chrono::DateTime<chrono::Utc>,
        ) -> Result<crate::model::idempotency::Claim, StoreError> {
            unreachable!()
        }
        async fn release_idempotency(
            &self,
            _: &crate::model::idempotency::IdempotencyScope,
            _: chrono::DateTime<chrono::Utc>,
        ) -> Result<(), StoreError> {
            unreachable!()
        }
        async fn purge_idempotency(
            &self,
            _: chrono::DateTime<chrono::Utc>,
        ) -> Result<u64, StoreError> {
            unreachable!()
        }
        async fn purge_sessions(
            &self,
            _: chrono::DateTime<chrono::Utc>,
        ) -> Result<u64, StoreError> {
            unreachable!()
        }
        async fn ping(&self) -> Result<(), StoreError> {
            Ok(())
        }
    }

    #[test]
    fn one_refresher_past_ttl_and_nobody_past_the_bound() {
        let auth = Authenticator::new(
            Db::new(Arc::new(NoDb)),
            Arc::new(SystemClock),
            Duration::from_millis(40),
        );
        let hash = TokenHash([1; 32]);
        let p = principal();
        let insert = |age: Duration| {
            auth.cache.lock().unwrap().insert(
                hash,
                Entry {
                    fetched: Instant::now() - age,
                    principal: p.clone(),
                    refreshing: false,
                },
            );
        };
        insert(Duration::ZERO);
        assert!(auth.usable_cached(&hash).is_some(), "fresh");
        insert(Duration::from_millis(45));
        assert!(
            auth.usable_cached(&hash).is_none(),
            "the first caller past ttl refreshes"
        );
        assert!(
            auth.usable_cached(&hash).is_some(),
            "the others keep the entry meanwhile"
        );
        insert(Duration::from_millis(61));
        assert!(
            auth.usable_cached(&hash).is_none(),
            "past the bound nobody uses it"
        );
        assert!(auth.usable_cached(&hash).is_none());
        assert_eq!(auth.revocation_bound(), Duration::from_millis(60));
        let capped = Authenticator::new(
            Db::new(Arc::new(NoDb)),
            Arc::new(SystemClock),
            Duration::from_secs(5),
        );
        assert!(capped.revocation_bound() < Duration::from_secs(2));
    }
}
