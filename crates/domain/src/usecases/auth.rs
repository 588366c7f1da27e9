//! Authenticating personal access tokens, with a brief in-process cache so a warm token
//! costs no database round trip.
//!
//! An entry is fresh for `ttl`. After that, the first request to use it looks the token up
//! again (and records its use) while concurrent requests keep using the entry, but never
//! beyond `ttl * 3 / 2`: one lookup per token per `ttl` instead of a stampede of them. That
//! bounds how long a revocation made by another process can go unseen here. A revocation
//! made by this process clears the cache at once, and a lookup that was in flight across
//! the clearing is not cached.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::model::token::{PlainToken, TokenHash, TokenPrincipal};
use crate::ports::{Clock, Db, StoreError};

/// How long a looked-up token is trusted without asking the store again.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_millis(1000);
/// The largest `ttl` that keeps the revocation bound under two seconds.
pub const MAX_CACHE_TTL: Duration = Duration::from_millis(1200);
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

/// What the cache knows of a token.
#[derive(Debug)]
pub enum Cached {
    /// Usable as is.
    Hit(Arc<TokenPrincipal>),
    /// A token known to be valid a moment ago, whose entry this caller must refresh.
    Refresh,
    /// Not in the cache: a lookup of an unknown string.
    Miss,
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
    /// Bumped by every invalidation, so a lookup that straddles one is not cached.
    generation: AtomicU64,
}

/// Clears the `refreshing` mark if the refresh does not finish (its future is dropped).
struct RefreshGuard<'a> {
    auth: &'a Authenticator,
    hash: TokenHash,
    armed: bool,
}

impl Drop for RefreshGuard<'_> {
    fn drop(&mut self) {
        if self.armed
            && let Some(entry) = self
                .auth
                .cache
                .lock()
                .expect("token cache lock")
                .get_mut(&self.hash)
        {
            entry.refreshing = false;
        }
    }
}

impl Authenticator {
    pub fn new(db: Db, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Authenticator {
            db,
            clock,
            ttl: ttl.min(MAX_CACHE_TTL),
            cache: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// The longest a revocation elsewhere can go unseen by this process (plus one lookup).
    pub fn revocation_bound(&self) -> Duration {
        self.ttl * 3 / 2
    }

    /// Answers from the cache only. On [`Cached::Refresh`] or [`Cached::Miss`] call
    /// [`lookup`](Self::lookup).
    pub fn cached(&self, raw: &str) -> Result<Cached, AuthError> {
        let token = PlainToken::parse(raw).ok_or(AuthError::Malformed)?;
        match self.usable_cached(&token.hash()) {
            Cached::Hit(p) if p.expires_at.is_some_and(|e| e <= self.clock.now()) => {
                Err(AuthError::Invalid)
            }
            other => Ok(other),
        }
    }

    /// Looks the token up in the store (recording its use) and caches the answer.
    pub async fn lookup(&self, raw: &str, ip: IpAddr) -> Result<Arc<TokenPrincipal>, AuthError> {
        let token = PlainToken::parse(raw).ok_or(AuthError::Malformed)?;
        let hash = token.hash();
        let mut guard = RefreshGuard {
            auth: self,
            hash,
            armed: true,
        };
        let generation = self.generation.load(Ordering::SeqCst);
        let started = Instant::now();
        let found = self
            .db
            .inner()
            .authenticate_token(&hash, self.clock.now(), &ip.to_string())
            .await;
        guard.armed = false;
        let mut cache = self.cache.lock().expect("token cache lock");
        match found {
            Ok(Some(p)) => {
                let principal = Arc::new(p);
                // A revocation here while the lookup ran may postdate what it read.
                if self.generation.load(Ordering::SeqCst) == generation {
                    if cache.len() >= CACHE_MAX {
                        cache.clear();
                    }
                    cache.insert(
                        hash,
                        Entry {
                            fetched: started,
                            principal: principal.clone(),
                            refreshing: false,
                        },
                    );
                }
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

    /// The cache, then the store when needed.
    pub async fn authenticate(
        &self,
        raw: &str,
        ip: IpAddr,
    ) -> Result<Arc<TokenPrincipal>, AuthError> {
        match self.cached(raw)? {
            Cached::Hit(p) => Ok(p),
            Cached::Refresh | Cached::Miss => self.lookup(raw, ip).await,
        }
    }

    /// Past `ttl`, the first caller is told to refresh; the others keep the entry until the
    /// refresh lands or the hard bound passes.
    fn usable_cached(&self, hash: &TokenHash) -> Cached {
        let mut cache = self.cache.lock().expect("token cache lock");
        let Some(entry) = cache.get_mut(hash) else {
            return Cached::Miss;
        };
        let age = entry.fetched.elapsed();
        if age < self.ttl || (age < self.revocation_bound() && entry.refreshing) {
            return Cached::Hit(entry.principal.clone());
        }
        if age < self.revocation_bound() {
            entry.refreshing = true;
            return Cached::Refresh;
        }
        // Too old to use: but it was valid, so the lookup is a refresh, not a guess.
        entry.refreshing = true;
        Cached::Refresh
    }

    /// Forgets every cached token (after a revocation or an allowlist change).
    pub fn invalidate_all(&self) {
        let mut cache = self.cache.lock().expect("token cache lock");
        self.generation.fetch_add(1, Ordering::SeqCst);
        cache.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::model::account::AccountType;
    use crate::model::idempotency::{Claim, Fingerprint, IdempotencyScope};
    use crate::model::ids::{TokenId, UserId};
    use crate::ports::{Database, ReadBody, SystemClock, TxBody, TxOutput};
    use chrono::{DateTime, Utc};

    fn principal() -> TokenPrincipal {
        TokenPrincipal {
            token_id: TokenId::new(),
            user_id: UserId::new(),
            account_type: AccountType::Seeker,
            scopes: Default::default(),
            expires_at: None,
            allowlist: vec![],
            rate_limits: Default::default(),
        }
    }

    /// A store that knows every token and counts lookups. Each lookup is pending once
    /// before it answers, so a test can act while it is in flight.
    struct Counting(AtomicUsize);

    #[derive(Default)]
    struct YieldOnce(bool);

    impl std::future::Future for YieldOnce {
        type Output = ();
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            if self.0 {
                return std::task::Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }

    #[async_trait::async_trait]
    impl Database for Counting {
        async fn transaction(&self, _: TxBody) -> TxOutput {
            unreachable!("not used by authentication")
        }
        async fn read(&self, _: ReadBody) -> TxOutput {
            unreachable!("not used by authentication")
        }
        async fn authenticate_token(
            &self,
            _: &TokenHash,
            _: DateTime<Utc>,
            _: &str,
        ) -> Result<Option<TokenPrincipal>, StoreError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            YieldOnce::default().await;
            Ok(Some(principal()))
        }
        async fn claim_idempotency(
            &self,
            _: &IdempotencyScope,
            _: &Fingerprint,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> Result<Claim, StoreError> {
            unreachable!("not used by authentication")
        }
        async fn release_idempotency(
            &self,
            _: &IdempotencyScope,
            _: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            unreachable!("not used by authentication")
        }
        async fn purge_idempotency(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
            unreachable!("not used by authentication")
        }
        async fn purge_sessions(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
            unreachable!("not used by authentication")
        }
        async fn purge_outbox(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
            unreachable!("not used by authentication")
        }
        async fn purge_room_tickets(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
            unreachable!("not used by authentication")
        }
        async fn ping(&self) -> Result<(), StoreError> {
            Ok(())
        }
    }

    fn auth(ttl_ms: u64) -> (Authenticator, Arc<Counting>) {
        let store = Arc::new(Counting(AtomicUsize::new(0)));
        (
            Authenticator::new(
                Db::new(store.clone()),
                Arc::new(SystemClock),
                Duration::from_millis(ttl_ms),
            ),
            store,
        )
    }

    /// Polls to completion on this thread (the counting store is pending at most once).
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(futures_util::task::noop_waker_ref());
        for _ in 0..10 {
            if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
                return out;
            }
        }
        panic!("the future did not finish")
    }

    #[test]
    fn one_refresh_per_ttl_while_others_keep_the_entry() {
        let (auth, store) = auth(40);
        let raw = PlainToken::generate();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        block_on(auth.authenticate(raw.expose(), ip)).unwrap();
        assert_eq!(store.0.load(Ordering::SeqCst), 1);
        assert!(
            matches!(auth.cached(raw.expose()).unwrap(), Cached::Hit(_)),
            "fresh"
        );
        std::thread::sleep(Duration::from_millis(45));
        assert!(
            matches!(auth.cached(raw.expose()).unwrap(), Cached::Refresh),
            "the first caller past ttl refreshes"
        );
        for _ in 0..10 {
            assert!(
                matches!(auth.cached(raw.expose()).unwrap(), Cached::Hit(_)),
                "the others keep the entry meanwhile"
            );
        }
        block_on(auth.lookup(raw.expose(), ip)).unwrap();
        assert_eq!(
            store.0.load(Ordering::SeqCst),
            2,
            "exactly one refresh reached the store"
        );
        assert!(
            matches!(auth.cached(raw.expose()).unwrap(), Cached::Hit(_)),
            "fresh again"
        );
        std::thread::sleep(Duration::from_millis(65));
        assert!(matches!(
            auth.cached(raw.expose()).unwrap(),
            Cached::Refresh
        ));
        assert!(
            matches!(auth.cached(raw.expose()).unwrap(), Cached::Refresh),
            "past the bound nobody uses the entry"
        );
    }

    #[test]
    fn a_dropped_refresh_lets_the_next_caller_refresh() {
        let (auth, _) = auth(20);
        let raw = PlainToken::generate();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        block_on(auth.authenticate(raw.expose(), ip)).unwrap();
        std::thread::sleep(Duration::from_millis(22));
        assert!(matches!(
            auth.cached(raw.expose()).unwrap(),
            Cached::Refresh
        ));
        {
            // A refresh whose caller goes away mid-lookup (its future is dropped).
            let mut lookup = Box::pin(auth.lookup(raw.expose(), ip));
            let mut cx = std::task::Context::from_waker(futures_util::task::noop_waker_ref());
            assert!(lookup.as_mut().poll(&mut cx).is_pending());
        }
        assert!(matches!(
            auth.cached(raw.expose()).unwrap(),
            Cached::Refresh
        ));
    }

    #[test]
    fn invalidation_wins_over_a_lookup_in_flight() {
        let (auth, _) = auth(1000);
        let raw = PlainToken::generate();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut lookup = Box::pin(auth.lookup(raw.expose(), ip));
        let mut cx = std::task::Context::from_waker(futures_util::task::noop_waker_ref());
        assert!(
            lookup.as_mut().poll(&mut cx).is_pending(),
            "the lookup is in flight"
        );
        auth.invalidate_all(); // a revocation lands while the lookup is in flight
        assert!(lookup.as_mut().poll(&mut cx).is_ready());
        assert!(
            matches!(auth.cached(raw.expose()).unwrap(), Cached::Miss),
            "not cached across an invalidation"
        );
        assert!(auth.revocation_bound() <= Duration::from_millis(1500));
        let (capped, _) = self::auth(5000);
        assert!(capped.revocation_bound() < Duration::from_secs(2));
    }

    #[test]
    fn malformed_tokens_never_reach_the_store() {
        let (auth, store) = auth(1000);
        assert!(matches!(auth.cached("jbb_nope"), Err(AuthError::Malformed)));
        assert!(matches!(
            block_on(auth.authenticate("Bearer", "192.0.2.1".parse().unwrap())),
            Err(AuthError::Malformed)
        ));
        assert_eq!(store.0.load(Ordering::SeqCst), 0);
    }
}
