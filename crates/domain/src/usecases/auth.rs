//! Authenticating personal access tokens from an in-process cache, so a warm token costs no
//! store round trip.
//!
//! Every change to what an account's tokens may do (a revocation, the IP allowlist, a rate
//! limit) is written to the outbox, which every server process reads a few times a second;
//! reading it, a process forgets that account's cached tokens ([`Authenticator::invalidate_users`])
//! and says how far it has read ([`Authenticator::heard`]). While it keeps hearing, an entry
//! is fresh for the long lifetime (minutes). When it has not heard for `ttl * 3 / 2` (the
//! store is away, the reader stalls), entries fall back to the short lifetime `ttl`: past
//! `ttl` the first request looks the token up again while concurrent requests keep the
//! entry, never beyond `ttl * 3 / 2`. Either way a revocation elsewhere is seen here within
//! about `ttl * 3 / 2`. A lookup in
//! flight across an invalidation is not cached.
//!
//! Uses are noted in process and written coalesced, at most once a minute per token
//! ([`crate::usecases::token_uses`]); a lookup is a read.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::model::ids::UserId;
use crate::model::token::{PlainToken, TokenHash, TokenPrincipal};
use crate::ports::{Clock, Db, StoreError};
use crate::usecases::token_uses::TokenUses;

/// How long a looked-up token is trusted without asking the store again, when this process
/// does not hear of access changes.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_millis(1000);
/// The largest `ttl` that keeps the revocation bound under two seconds.
pub const MAX_CACHE_TTL: Duration = Duration::from_millis(1200);
/// How long a looked-up token is trusted while this process hears of access changes. Every
/// change to what a token may do is heard (its expiry is checked on each use), so this only
/// spreads the lookups: an agent polling every 5 s is looked up once in 360 polls.
pub const DEFAULT_LONG_TTL: Duration = Duration::from_secs(1800);
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
    /// Freshness when access changes are not heard.
    ttl: Duration,
    /// Freshness while they are.
    long_ttl: Duration,
    /// The start of [`Self::heard`]'s clock.
    epoch: Instant,
    /// Milliseconds after `epoch` (plus one) up to which every access change committed was
    /// applied; 0 before the first.
    heard_ms: AtomicU64,
    cache: Mutex<HashMap<TokenHash, Entry>>,
    /// Bumped by every invalidation, so a lookup that straddles one is not cached.
    generation: AtomicU64,
    uses: TokenUses,
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
    /// `ttl` is the short lifetime (capped at [`MAX_CACHE_TTL`]), `long_ttl` the lifetime
    /// while access changes are heard (never shorter than `ttl`).
    pub fn new(db: Db, clock: Arc<dyn Clock>, ttl: Duration, long_ttl: Duration) -> Self {
        let ttl = ttl.min(MAX_CACHE_TTL);
        Authenticator {
            db,
            clock,
            ttl,
            long_ttl: long_ttl.max(ttl),
            epoch: Instant::now(),
            heard_ms: AtomicU64::new(0),
            cache: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            uses: TokenUses::default(),
        }
    }

    /// The longest a revocation elsewhere can go unseen by this process (plus one lookup)
    /// when it hears of none.
    pub fn revocation_bound(&self) -> Duration {
        self.ttl * 3 / 2
    }

    /// Every access change committed before `at` has been applied to this cache (the outbox
    /// reader read everything up to then).
    pub fn heard(&self, at: Instant) {
        let ms = u64::try_from(at.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX - 1)
            + 1;
        self.heard_ms.fetch_max(ms, Ordering::SeqCst);
    }

    /// Whether access changes are heard now: the last complete read began less than
    /// [`Self::revocation_bound`] ago. A change that read missed is applied by then, or the
    /// cache falls back to the short lifetime, so the bound holds either way.
    pub fn hearing(&self) -> bool {
        let heard = self.heard_ms.load(Ordering::SeqCst);
        if heard == 0 {
            return false;
        }
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let window = u64::try_from(self.revocation_bound().as_millis()).unwrap_or(0);
        now.saturating_sub(heard - 1) < window
    }

    /// Notes that `p` was used now from `ip` (written later, coalesced).
    pub fn note_use(&self, p: &TokenPrincipal, ip: IpAddr) {
        self.uses.note(p.token_id, self.clock.now(), ip);
    }

    /// Writes the uses noted since the last write, in one batch. Returns how many.
    pub async fn flush_uses(&self) -> Result<usize, StoreError> {
        let batch = self.uses.take();
        if batch.is_empty() {
            return Ok(0);
        }
        match self.db.inner().record_token_uses(&batch).await {
            Ok(()) => {
                self.uses.written(&batch, self.clock.now());
                Ok(batch.len())
            }
            Err(e) => {
                self.uses.put_back(batch);
                Err(e)
            }
        }
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

    /// Looks the token up in the store, caches the answer and notes the use.
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
        let found = self.db.inner().find_token(&hash, self.clock.now()).await;
        guard.armed = false;
        let mut cache = self.cache.lock().expect("token cache lock");
        match found {
            Ok(Some(p)) => {
                self.uses.note(p.token_id, self.clock.now(), ip);
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
            Cached::Hit(p) => {
                self.note_use(&p, ip);
                Ok(p)
            }
            Cached::Refresh | Cached::Miss => self.lookup(raw, ip).await,
        }
    }

    /// Past its lifetime, the first caller is told to refresh; the others keep the entry
    /// until the refresh lands or the hard bound (one and a half lifetimes) passes.
    fn usable_cached(&self, hash: &TokenHash) -> Cached {
        let fresh = if self.hearing() {
            self.long_ttl
        } else {
            self.ttl
        };
        let bound = fresh * 3 / 2;
        let mut cache = self.cache.lock().expect("token cache lock");
        let Some(entry) = cache.get_mut(hash) else {
            return Cached::Miss;
        };
        let age = entry.fetched.elapsed();
        if age < fresh || (age < bound && entry.refreshing) {
            return Cached::Hit(entry.principal.clone());
        }
        // Too old to use, or the first caller past the lifetime: it was valid, so the
        // lookup is a refresh, not a guess.
        entry.refreshing = true;
        Cached::Refresh
    }

    /// Forgets every cached token.
    pub fn invalidate_all(&self) {
        let mut cache = self.cache.lock().expect("token cache lock");
        self.generation.fetch_add(1, Ordering::SeqCst);
        cache.clear();
    }

    /// Forgets the cached tokens of these accounts (their access changed).
    pub fn invalidate_users(&self, users: &[UserId]) {
        let mut cache = self.cache.lock().expect("token cache lock");
        self.generation.fetch_add(1, Ordering::SeqCst);
        cache.retain(|_, e| !users.contains(&e.principal.user_id));
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::model::account::AccountType;
    use crate::model::idempotency::{Claim, Fingerprint, IdempotencyScope};
    use crate::model::ids::TokenId;
    use crate::model::token::TokenUse;
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
        fn on_commit(&self, _: crate::ports::CommitListener) {}
        async fn transaction(&self, _: TxBody) -> TxOutput {
            unreachable!("not used by authentication")
        }
        async fn read(&self, _: ReadBody) -> TxOutput {
            unreachable!("not used by authentication")
        }
        async fn find_token(
            &self,
            _: &TokenHash,
            _: DateTime<Utc>,
        ) -> Result<Option<TokenPrincipal>, StoreError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            YieldOnce::default().await;
            Ok(Some(principal()))
        }
        async fn record_token_uses(&self, _: &[TokenUse]) -> Result<(), StoreError> {
            unreachable!("not used by authentication")
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
                Duration::from_millis(ttl_ms * 10),
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
    fn while_changes_are_heard_entries_live_long_and_fall_back_when_not() {
        // Short lifetime 30 ms, long 300 ms.
        let (auth, store) = auth(30);
        let raw = PlainToken::generate();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(!auth.hearing(), "nothing heard yet");
        block_on(auth.authenticate(raw.expose(), ip)).unwrap();
        std::thread::sleep(Duration::from_millis(35));
        auth.heard(Instant::now());
        assert!(auth.hearing());
        assert!(
            matches!(auth.cached(raw.expose()).unwrap(), Cached::Hit(_)),
            "past the short lifetime, still fresh while heard"
        );
        assert_eq!(store.0.load(Ordering::SeqCst), 1);
        // The reader stops: after one and a half short lifetimes the entry needs a lookup.
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !auth.hearing(),
            "not heard for one and a half short lifetimes"
        );
        assert!(matches!(
            auth.cached(raw.expose()).unwrap(),
            Cached::Refresh
        ));
        // An older read does not move the mark back.
        let old = Instant::now() - Duration::from_millis(100);
        auth.heard(old);
        assert!(!auth.hearing());
    }

    #[test]
    fn an_access_change_forgets_only_that_accounts_tokens() {
        let (auth, _) = auth(1000);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let (a, b) = (PlainToken::generate(), PlainToken::generate());
        let pa = block_on(auth.authenticate(a.expose(), ip)).unwrap();
        block_on(auth.authenticate(b.expose(), ip)).unwrap();
        auth.invalidate_users(&[pa.user_id]);
        assert!(matches!(auth.cached(a.expose()).unwrap(), Cached::Miss));
        assert!(matches!(auth.cached(b.expose()).unwrap(), Cached::Hit(_)));
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
