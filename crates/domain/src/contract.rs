//! Port contract suites. Every adapter runs the same cases against its own implementation
//! (`db_contract_tests!`, `limiter_contract_tests!`), so the memory adapter is trusted only
//! as far as it behaves like Postgres and Redis.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use futures_util::future::BoxFuture;
use ipnet::IpNet;

use crate::error::Error;
use std::collections::HashSet;

use crate::model::account::{AccountType, Email, User};
use crate::model::event::{Event, LiveEvent, Seat};
use crate::model::idempotency::{Claim, Fingerprint, IdempotencyScope, SavedResponse};
use crate::model::ids::{EventId, MatchId};
use crate::model::ids::{SessionId, TokenId, UserId};
use crate::model::matches::{Match, MatchStatus};
use crate::model::matching::{FreeSeat, Waiting};
use crate::model::outbox::{DomainEvent, OutboxRecord};
use crate::model::page::PageRequest;
use crate::model::profile::{Profile, Settings};
use crate::model::queue::{EntryState, QueueEntry, QueueView};
use crate::model::ratelimit::{Overrides, Quota, RateClass, gcra};
use crate::model::room::RoomTicket;
use crate::model::scopes::{Scope, ScopeSet};
use crate::model::session::{SessionRecord, hash_secret};
use crate::model::token::{PlainToken, TokenHash, TokenPrincipal, TokenRecord};
use crate::ports::{BucketKey, Database, Db, RateLimiter, Repo, StoreError, TxBody, TxOutput};
use crate::usecases::idempotency::{self, Outcome};
use crate::usecases::tokens::{self, MintRequest};

mod live;
pub use live::*;

/// Generates one `#[tokio::test]` per database contract case. `$make` is an async
/// expression yielding a fresh, empty `Arc<dyn Database>`.
#[macro_export]
macro_rules! db_contract_tests {
    ($make:expr) => {
        $crate::db_contract_tests!(@cases $make;
            users_are_unique_by_email, tokens_authenticate_until_revoked_or_expired,
            token_lists_page_newest_first_and_stay_in_tenant, sessions_live_until_expiry_or_logout,
            profile_settings_allowlist_round_trip, a_failed_transaction_writes_nothing,
            idempotency_claims_replays_and_mismatches, idempotency_stale_claims_are_taken_over,
            idempotency_effect_and_response_commit_together, idempotency_refusals_are_saved_server_errors_are_not,
            purges_remove_only_old_rows, rate_limit_overrides_travel_with_the_principal,
            live_queue_places_matches_and_requeues, expiry_requeues_accepters_and_drops_the_rest,
            concurrent_joins_match_exactly_once);
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let db = $make.await;
                $crate::contract::$case(db).await;
            }
        )*
    };
}

/// Generates the rate limiter contract cases. `$make` is an async expression yielding a
/// fresh `Arc<dyn RateLimiter>` whose buckets are empty.
#[macro_export]
macro_rules! limiter_contract_tests {
    ($make:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn limiter_allows_the_quota_then_refuses() {
            $crate::contract::limiter_allows_the_quota_then_refuses($make.await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn limiter_buckets_are_independent() {
            $crate::contract::limiter_buckets_are_independent($make.await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn limiter_peeks_without_counting() {
            $crate::contract::limiter_peeks_without_counting($make.await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn limiter_holds_under_concurrency() {
            $crate::contract::limiter_holds_under_concurrency($make.await).await;
        }
    };
}

fn now() -> DateTime<Utc> {
    // Whole microseconds, as Postgres stores them.
    let n = Utc::now();
    DateTime::from_timestamp_micros(n.timestamp_micros()).expect("valid time")
}

pub fn user(email: &str, account_type: AccountType) -> User {
    User {
        id: UserId::new(),
        email: Email::parse(email).expect("valid email"),
        account_type,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        created_at: now(),
    }
}

pub async fn create_user(db: &Db, email: &str, account_type: AccountType) -> User {
    let u = user(email, account_type);
    let stored = u.clone();
    db.transaction(move |r| {
        Box::pin(async move {
            r.insert_user(
                &stored,
                &Profile {
                    name: "Test".into(),
                    ..Default::default()
                },
            )
            .await
        })
    })
    .await
    .expect("insert user");
    u
}

async fn mint(
    db: &Db,
    owner: &User,
    scopes: &[Scope],
    expires_in_days: Option<i64>,
) -> (PlainToken, TokenRecord) {
    let owner = owner.clone();
    let req = MintRequest {
        name: "ci".into(),
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        expires_in_days,
    };
    db.transaction(move |r| Box::pin(async move { tokens::mint(r, &owner, req, now()).await }))
        .await
        .expect("mint")
}

pub async fn users_are_unique_by_email(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let a = create_user(&db, "ada@example.com", AccountType::Seeker).await;
    let dup = user("ADA@example.com", AccountType::Recruiter);
    let res: Result<(), StoreError> = db
        .transaction(move |r| {
            Box::pin(async move { r.insert_user(&dup, &Profile::default()).await })
        })
        .await;
    assert!(
        matches!(res, Err(StoreError::Conflict(_))),
        "duplicate email must conflict: {res:?}"
    );
    let email = a.email.clone();
    let found = db
        .read(move |r| Box::pin(async move { r.user_by_email(&email).await }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, a.id);
    assert_eq!(found.account_type, AccountType::Seeker);
    let id = a.id;
    let by_id = db
        .read(move |r| Box::pin(async move { r.user_by_id(id).await }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id.email, a.email);
    let missing = db
        .read(|r| Box::pin(async move { r.user_by_id(UserId::new()).await }))
        .await
        .unwrap();
    assert!(missing.is_none());
}

pub async fn tokens_authenticate_until_revoked_or_expired(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "t@example.com", AccountType::Recruiter).await;
    let (plain, rec) = mint(&db, &u, &[Scope::ProfileRead, Scope::EventsWrite], Some(30)).await;
    let p: TokenPrincipal = db
        .inner()
        .authenticate_token(&plain.hash(), now(), "192.0.2.1")
        .await
        .unwrap()
        .expect("active token");
    assert_eq!(p.token_id, rec.id);
    assert_eq!(p.user_id, u.id);
    assert_eq!(p.account_type, AccountType::Recruiter);
    assert_eq!(
        p.scopes,
        ScopeSet::from([Scope::ProfileRead, Scope::EventsWrite])
    );
    let uid = u.id;
    let id = rec.id;
    let seen = db
        .read(move |r| Box::pin(async move { r.find_token(uid, id).await }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.last_used_ip.as_deref(), Some("192.0.2.1"));
    assert!(seen.last_used_at.is_some());
    assert_eq!(seen.last4, plain.last4());

    // Expired: the expiry is in the past relative to `now`.
    let later = now() + Duration::days(31);
    assert!(
        db.inner()
            .authenticate_token(&plain.hash(), later, "192.0.2.1")
            .await
            .unwrap()
            .is_none()
    );

    // Revoked: at once, and revoking twice answers the same token.
    let t = now();
    let revoked = db
        .transaction(move |r| Box::pin(async move { tokens::revoke(r, uid, id, t).await }))
        .await
        .unwrap();
    assert!(revoked.revoked_at.is_some());
    let again: Result<TokenRecord, Error> = db
        .transaction(move |r| Box::pin(async move { tokens::revoke(r, uid, id, now()).await }))
        .await;
    assert_eq!(again.unwrap().revoked_at, revoked.revoked_at);
    assert!(
        db.inner()
            .authenticate_token(&plain.hash(), now(), "192.0.2.1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        db.inner()
            .authenticate_token(&TokenHash([7; 32]), now(), "192.0.2.1")
            .await
            .unwrap()
            .is_none()
    );

    // Another account cannot revoke it: not found.
    let other = create_user(&db, "other@example.com", AccountType::Recruiter).await;
    let oid = other.id;
    let res: Result<TokenRecord, Error> = db
        .transaction(move |r| Box::pin(async move { tokens::revoke(r, oid, id, now()).await }))
        .await;
    assert!(matches!(res, Err(Error::NotFound)));
}

pub async fn token_lists_page_newest_first_and_stay_in_tenant(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "list@example.com", AccountType::Seeker).await;
    let other = create_user(&db, "list2@example.com", AccountType::Seeker).await;
    let mut ids = vec![];
    for _ in 0..5 {
        ids.push(mint(&db, &u, &[Scope::QueueRead], None).await.1.id);
    }
    mint(&db, &other, &[Scope::QueueRead], None).await;
    ids.reverse();
    let uid = u.id;
    let first = db
        .read(move |r| {
            Box::pin(async move {
                tokens::list(
                    r,
                    uid,
                    PageRequest {
                        limit: 3,
                        after: None,
                    },
                )
                .await
            })
        })
        .await
        .unwrap();
    assert_eq!(
        first.data.iter().map(|t| t.id).collect::<Vec<_>>(),
        ids[..3]
    );
    assert!(first.has_more);
    let after = Some(first.data[2].id);
    let second = db
        .read(move |r| {
            Box::pin(async move { tokens::list(r, uid, PageRequest { limit: 3, after }).await })
        })
        .await
        .unwrap();
    assert_eq!(
        second.data.iter().map(|t| t.id).collect::<Vec<_>>(),
        ids[3..]
    );
    assert!(!second.has_more);
    assert_eq!(second.next_cursor, None);
    let foreign = ids[0];
    let oid = other.id;
    let found = db
        .read(move |r| Box::pin(async move { r.find_token(oid, foreign).await }))
        .await
        .unwrap();
    assert!(found.is_none(), "another account's token is not found");
}

pub async fn sessions_live_until_expiry_or_logout(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "s@example.com", AccountType::Seeker).await;
    let t = now();
    let rec = SessionRecord {
        id: SessionId::new(),
        user_id: u.id,
        secret_hash: hash_secret("secret-1"),
        csrf_token: "csrf-1".into(),
        created_at: t,
        expires_at: t + Duration::days(14),
    };
    let stored = rec.clone();
    db.transaction(move |r| Box::pin(async move { r.insert_session(&stored).await }))
        .await
        .unwrap();
    let h = rec.secret_hash;
    let (s, owner) = db
        .read(move |r| Box::pin(async move { r.session_by_hash(&h, t).await }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.csrf_token, "csrf-1");
    assert_eq!(owner.id, u.id);
    let late = t + Duration::days(15);
    assert!(
        db.read(move |r| Box::pin(async move { r.session_by_hash(&h, late).await }))
            .await
            .unwrap()
            .is_none()
    );
    db.transaction(move |r| Box::pin(async move { r.delete_session(&h).await }))
        .await
        .unwrap();
    assert!(
        db.read(move |r| Box::pin(async move { r.session_by_hash(&h, t).await }))
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn profile_settings_allowlist_round_trip(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "p@example.com", AccountType::Recruiter).await;
    let uid = u.id;
    let profile = Profile {
        name: "Grace".into(),
        headline: Some("Admiral".into()),
        skills: vec!["COBOL".into(), "compilers".into()],
        location: Some("Arlington".into()),
        links: vec!["https://example.com/grace".into()],
        resume_text: Some("Line one\nLine two".into()),
        company: Some("Navy".into()),
    };
    let p2 = profile.clone();
    db.transaction(move |r| Box::pin(async move { r.save_profile(uid, &p2).await }))
        .await
        .unwrap();
    assert_eq!(
        db.read(move |r| Box::pin(async move { r.profile(uid).await }))
            .await
            .unwrap(),
        profile
    );

    assert_eq!(
        db.read(move |r| Box::pin(async move { r.settings(uid).await }))
            .await
            .unwrap(),
        Settings::default()
    );
    let mut settings = Settings {
        timezone: "Europe/Berlin".into(),
        ..Default::default()
    };
    settings
        .notifications
        .get_mut("match.created")
        .unwrap()
        .email = false;
    let s2 = settings.clone();
    db.transaction(move |r| Box::pin(async move { r.save_settings(uid, &s2).await }))
        .await
        .unwrap();
    assert_eq!(
        db.read(move |r| Box::pin(async move { r.settings(uid).await }))
            .await
            .unwrap(),
        settings
    );

    let nets: Vec<IpNet> = vec![
        "192.0.2.0/24".parse().unwrap(),
        "2001:db8::/32".parse().unwrap(),
    ];
    let n2 = nets.clone();
    db.transaction(move |r| Box::pin(async move { r.save_allowlist(uid, &n2).await }))
        .await
        .unwrap();
    assert_eq!(
        db.read(move |r| Box::pin(async move { r.allowlist(uid).await }))
            .await
            .unwrap(),
        nets
    );
    let (plain, _) = mint(&db, &u, &[Scope::ProfileRead], None).await;
    let p = db
        .inner()
        .authenticate_token(&plain.hash(), now(), "192.0.2.9")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        p.allowlist, nets,
        "the principal carries the owner's allowlist"
    );
}

pub async fn a_failed_transaction_writes_nothing(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "rb@example.com", AccountType::Seeker).await;
    let uid = u.id;
    let res: Result<(), Error> = db
        .transaction(move |r| {
            Box::pin(async move {
                r.save_profile(
                    uid,
                    &Profile {
                        name: "Changed".into(),
                        ..Default::default()
                    },
                )
                .await?;
                Err(Error::NotFound)
            })
        })
        .await;
    assert!(matches!(res, Err(Error::NotFound)));
    assert_eq!(
        db.read(move |r| Box::pin(async move { r.profile(uid).await }))
            .await
            .unwrap()
            .name,
        "Test"
    );
}

fn scope_for(u: &User) -> IdempotencyScope {
    IdempotencyScope {
        user_id: u.id,
        key: uuid::Uuid::new_v4(),
    }
}

fn resp(status: u16, body: &str) -> SavedResponse {
    SavedResponse {
        status,
        content_type: "application/json".into(),
        body: body.as_bytes().to_vec(),
    }
}

pub async fn idempotency_claims_replays_and_mismatches(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "i@example.com", AccountType::Seeker).await;
    let scope = scope_for(&u);
    let fp = Fingerprint::of("POST", "/x", "", b"{}");
    let t = now();
    let stale = t - Duration::seconds(60);
    assert_eq!(
        db.inner()
            .claim_idempotency(&scope, &fp, t, stale)
            .await
            .unwrap(),
        Claim::Fresh
    );
    assert_eq!(
        db.inner()
            .claim_idempotency(&scope, &fp, t, stale)
            .await
            .unwrap(),
        Claim::InUse
    );
    let saved = resp(201, r#"{"ok":true}"#);
    let s2 = saved.clone();
    db.transaction(move |r| Box::pin(async move { r.complete_idempotency(&scope, &s2, t).await }))
        .await
        .unwrap();
    assert_eq!(
        db.inner()
            .claim_idempotency(&scope, &fp, t, stale)
            .await
            .unwrap(),
        Claim::Replay(saved)
    );
    let other_fp = Fingerprint::of("POST", "/x", "", b"{ }");
    assert_eq!(
        db.inner()
            .claim_idempotency(&scope, &other_fp, t, stale)
            .await
            .unwrap(),
        Claim::Mismatch
    );
    // Keys are per account: the same key is fresh for someone else.
    let v = create_user(&db, "i2@example.com", AccountType::Seeker).await;
    let theirs = IdempotencyScope {
        user_id: v.id,
        key: scope.key,
    };
    assert_eq!(
        db.inner()
            .claim_idempotency(&theirs, &fp, t, stale)
            .await
            .unwrap(),
        Claim::Fresh
    );
    // A released claim is fresh again.
    db.inner().release_idempotency(&theirs, t).await.unwrap();
    assert_eq!(
        db.inner()
            .claim_idempotency(&theirs, &fp, t, stale)
            .await
            .unwrap(),
        Claim::Fresh
    );
}

pub async fn idempotency_stale_claims_are_taken_over(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "st@example.com", AccountType::Seeker).await;
    let scope = scope_for(&u);
    let fp = Fingerprint::of("POST", "/x", "", b"{}");
    let t0 = now();
    assert_eq!(
        db.inner()
            .claim_idempotency(&scope, &fp, t0, t0 - Duration::seconds(60))
            .await
            .unwrap(),
        Claim::Fresh
    );
    let t1 = t0 + Duration::seconds(61);
    assert_eq!(
        db.inner()
            .claim_idempotency(&scope, &fp, t1, t1 - Duration::seconds(60))
            .await
            .unwrap(),
        Claim::Fresh
    );
    let t2 = t1 + Duration::seconds(1);
    let stale = t2 - Duration::seconds(60);
    assert_eq!(
        db.inner()
            .claim_idempotency(&scope, &fp, t2, stale)
            .await
            .unwrap(),
        Claim::InUse
    );
    // The first request was only slow: it may neither complete nor release the key now.
    let late = resp(201, "{}");
    let res: Result<(), StoreError> = db
        .transaction(move |r| {
            Box::pin(async move { r.complete_idempotency(&scope, &late, t0).await })
        })
        .await;
    assert!(res.is_err(), "a taken-over claim cannot complete");
    db.inner().release_idempotency(&scope, t0).await.unwrap();
    assert_eq!(
        db.inner()
            .claim_idempotency(&scope, &fp, t2, stale)
            .await
            .unwrap(),
        Claim::InUse,
        "nor release"
    );
    let mine = resp(201, r#"{"n":2}"#);
    let m2 = mine.clone();
    db.transaction(move |r| Box::pin(async move { r.complete_idempotency(&scope, &m2, t1).await }))
        .await
        .unwrap();
    assert_eq!(
        db.inner()
            .claim_idempotency(&scope, &fp, t2, stale)
            .await
            .unwrap(),
        Claim::Replay(mine)
    );
}

/// A [`Database`] whose next transaction fails when it tries to save the idempotent
/// response — after the operation's effect, before the response is stored.
struct FailBeforeSave {
    inner: Arc<dyn Database>,
    armed: Arc<AtomicBool>,
}

struct FailingRepo<'r> {
    inner: &'r mut dyn Repo,
    armed: Arc<AtomicBool>,
}

#[async_trait]
impl Repo for FailingRepo<'_> {
    async fn insert_user(&mut self, user: &User, profile: &Profile) -> Result<(), StoreError> {
        self.inner.insert_user(user, profile).await
    }
    async fn user_by_email(&mut self, email: &Email) -> Result<Option<User>, StoreError> {
        self.inner.user_by_email(email).await
    }
    async fn user_by_id(&mut self, id: UserId) -> Result<Option<User>, StoreError> {
        self.inner.user_by_id(id).await
    }
    async fn insert_token(
        &mut self,
        token: &TokenRecord,
        hash: &TokenHash,
    ) -> Result<(), StoreError> {
        self.inner.insert_token(token, hash).await
    }
    async fn list_tokens(
        &mut self,
        user: UserId,
        page: PageRequest<TokenId>,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        self.inner.list_tokens(user, page).await
    }
    async fn find_token(
        &mut self,
        user: UserId,
        id: TokenId,
    ) -> Result<Option<TokenRecord>, StoreError> {
        self.inner.find_token(user, id).await
    }
    async fn revoke_token(
        &mut self,
        user: UserId,
        id: TokenId,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        self.inner.revoke_token(user, id, now).await
    }
    async fn insert_session(&mut self, session: &SessionRecord) -> Result<(), StoreError> {
        self.inner.insert_session(session).await
    }
    async fn session_by_hash(
        &mut self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<(SessionRecord, User)>, StoreError> {
        self.inner.session_by_hash(hash, now).await
    }
    async fn delete_session(&mut self, hash: &TokenHash) -> Result<(), StoreError> {
        self.inner.delete_session(hash).await
    }
    async fn profile(&mut self, user: UserId) -> Result<Profile, StoreError> {
        self.inner.profile(user).await
    }
    async fn save_profile(&mut self, user: UserId, profile: &Profile) -> Result<(), StoreError> {
        self.inner.save_profile(user, profile).await
    }
    async fn settings(&mut self, user: UserId) -> Result<Settings, StoreError> {
        self.inner.settings(user).await
    }
    async fn save_settings(&mut self, user: UserId, settings: &Settings) -> Result<(), StoreError> {
        self.inner.save_settings(user, settings).await
    }
    async fn allowlist(&mut self, user: UserId) -> Result<Vec<IpNet>, StoreError> {
        self.inner.allowlist(user).await
    }
    async fn save_allowlist(&mut self, user: UserId, cidrs: &[IpNet]) -> Result<(), StoreError> {
        self.inner.save_allowlist(user, cidrs).await
    }
    async fn set_rate_limit(
        &mut self,
        user: UserId,
        class: RateClass,
        per_minute: Option<u32>,
    ) -> Result<(), StoreError> {
        self.inner.set_rate_limit(user, class, per_minute).await
    }
    async fn insert_event(&mut self, event: &Event) -> Result<(), StoreError> {
        self.inner.insert_event(event).await
    }
    async fn update_event(&mut self, event: &Event) -> Result<(), StoreError> {
        self.inner.update_event(event).await
    }
    async fn event_for(&mut self, user: UserId, id: EventId) -> Result<Option<Event>, StoreError> {
        self.inner.event_for(user, id).await
    }
    async fn list_events_for(
        &mut self,
        user: UserId,
        page: PageRequest<EventId>,
    ) -> Result<Vec<Event>, StoreError> {
        self.inner.list_events_for(user, page).await
    }
    async fn lock_event(&mut self, id: EventId) -> Result<Option<Event>, StoreError> {
        self.inner.lock_event(id).await
    }
    async fn live_events(
        &mut self,
        page: PageRequest<EventId>,
    ) -> Result<Vec<LiveEvent>, StoreError> {
        self.inner.live_events(page).await
    }
    async fn live_event(&mut self, id: EventId) -> Result<Option<LiveEvent>, StoreError> {
        self.inner.live_event(id).await
    }
    async fn seats(&mut self, event: EventId) -> Result<Vec<Seat>, StoreError> {
        self.inner.seats(event).await
    }
    async fn replace_seats(
        &mut self,
        event: EventId,
        users: &[UserId],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.replace_seats(event, users, now).await
    }
    async fn set_available(
        &mut self,
        event: EventId,
        user: UserId,
        available: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.set_available(event, user, available, now).await
    }
    async fn touch_idle(
        &mut self,
        event: EventId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.touch_idle(event, user, now).await
    }
    async fn free_seats(&mut self, event: EventId) -> Result<Vec<FreeSeat>, StoreError> {
        self.inner.free_seats(event).await
    }
    async fn claim_seats(
        &mut self,
        event: EventId,
        interviewers: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        self.inner.claim_seats(event, interviewers).await
    }
    async fn declined_pairs(
        &mut self,
        event: EventId,
    ) -> Result<HashSet<(UserId, UserId)>, StoreError> {
        self.inner.declined_pairs(event).await
    }
    async fn waiting(&mut self, event: EventId, limit: usize) -> Result<Vec<Waiting>, StoreError> {
        self.inner.waiting(event, limit).await
    }
    async fn entry_of(&mut self, seeker: UserId) -> Result<Option<QueueEntry>, StoreError> {
        self.inner.entry_of(seeker).await
    }
    async fn insert_entry(&mut self, entry: &QueueEntry) -> Result<(), StoreError> {
        self.inner.insert_entry(entry).await
    }
    async fn set_entry_state(
        &mut self,
        seeker: UserId,
        state: EntryState,
    ) -> Result<(), StoreError> {
        self.inner.set_entry_state(seeker, state).await
    }
    async fn delete_entry(&mut self, seeker: UserId) -> Result<(), StoreError> {
        self.inner.delete_entry(seeker).await
    }
    async fn remove_waiting(&mut self, event: EventId) -> Result<Vec<UserId>, StoreError> {
        self.inner.remove_waiting(event).await
    }
    async fn queue_view(&mut self, seeker: UserId) -> Result<Option<QueueView>, StoreError> {
        self.inner.queue_view(seeker).await
    }
    async fn insert_match(&mut self, m: &Match) -> Result<(), StoreError> {
        self.inner.insert_match(m).await
    }
    async fn update_match(&mut self, m: &Match) -> Result<(), StoreError> {
        self.inner.update_match(m).await
    }
    async fn match_for(&mut self, user: UserId, id: MatchId) -> Result<Option<Match>, StoreError> {
        self.inner.match_for(user, id).await
    }
    async fn list_matches_for(
        &mut self,
        user: UserId,
        status: Option<MatchStatus>,
        page: PageRequest<MatchId>,
    ) -> Result<Vec<Match>, StoreError> {
        self.inner.list_matches_for(user, status, page).await
    }
    async fn live_matches(&mut self, event: EventId) -> Result<Vec<Match>, StoreError> {
        self.inner.live_matches(event).await
    }
    async fn due_matches(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Match>, StoreError> {
        self.inner.due_matches(now, limit).await
    }
    async fn insert_room_ticket(
        &mut self,
        hash: &TokenHash,
        ticket: &RoomTicket,
    ) -> Result<(), StoreError> {
        self.inner.insert_room_ticket(hash, ticket).await
    }
    async fn room_ticket(&mut self, hash: &TokenHash) -> Result<Option<RoomTicket>, StoreError> {
        self.inner.room_ticket(hash).await
    }
    async fn use_room_ticket(
        &mut self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.use_room_ticket(hash, now).await
    }
    async fn append_outbox(&mut self, events: &[DomainEvent]) -> Result<(), StoreError> {
        self.inner.append_outbox(events).await
    }
    async fn outbox_after(
        &mut self,
        seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        self.inner.outbox_after(seq, limit).await
    }
    async fn outbox_head(&mut self) -> Result<i64, StoreError> {
        self.inner.outbox_head().await
    }
    async fn complete_idempotency(
        &mut self,
        scope: &IdempotencyScope,
        response: &SavedResponse,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if self.armed.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "injected failure before saving the response".into(),
            ));
        }
        self.inner.complete_idempotency(scope, response, now).await
    }
}

#[async_trait]
impl Database for FailBeforeSave {
    async fn transaction(&self, body: TxBody) -> TxOutput {
        let armed = self.armed.clone();
        let wrapped: TxBody = Box::new(move |repo: &mut dyn Repo| {
            Box::pin(async move {
                let mut failing = FailingRepo { inner: repo, armed };
                body(&mut failing).await
            }) as BoxFuture<'_, TxOutput>
        });
        self.inner.transaction(wrapped).await
    }
    async fn read(&self, body: TxBody) -> TxOutput {
        self.inner.read(body).await
    }
    async fn authenticate_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
        ip: &str,
    ) -> Result<Option<TokenPrincipal>, StoreError> {
        self.inner.authenticate_token(hash, now, ip).await
    }
    async fn claim_idempotency(
        &self,
        scope: &IdempotencyScope,
        fp: &Fingerprint,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        self.inner
            .claim_idempotency(scope, fp, now, stale_before)
            .await
    }
    async fn release_idempotency(
        &self,
        scope: &IdempotencyScope,
        claimed_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.release_idempotency(scope, claimed_at).await
    }
    async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.purge_idempotency(before).await
    }
    async fn purge_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.purge_sessions(before).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

/// The operation used by the atomicity case: mints a token (an effect that is not
/// idempotent by itself) and answers 201.
fn mint_op(owner: User) -> idempotency::Operation {
    Box::new(move |repo: &mut dyn Repo| {
        Box::pin(async move {
            let req = MintRequest {
                name: "once".into(),
                scopes: vec!["profile:read".into()],
                expires_in_days: None,
            };
            match tokens::mint(repo, &owner, req, now()).await {
                Ok((_, rec)) => Ok(resp(201, &format!(r#"{{"id":"{}"}}"#, rec.id))),
                Err(_) => Err(resp(500, "{}")),
            }
        }) as BoxFuture<'_, Result<SavedResponse, SavedResponse>>
    })
}

async fn count_tokens(db: &Db, user: UserId) -> usize {
    db.read(move |r| {
        Box::pin(async move {
            r.list_tokens(
                user,
                PageRequest {
                    limit: 100,
                    after: None,
                },
            )
            .await
        })
    })
    .await
    .unwrap()
    .len()
}

pub async fn idempotency_effect_and_response_commit_together(db: Arc<dyn Database>) {
    let armed = Arc::new(AtomicBool::new(true));
    let faulty = Db::new(Arc::new(FailBeforeSave {
        inner: db.clone(),
        armed: armed.clone(),
    }));
    let db = Db::new(db);
    let u = create_user(&db, "atomic@example.com", AccountType::Seeker).await;
    let scope = scope_for(&u);
    let fp = Fingerprint::of("POST", "/api/v1/things", "", b"{}");

    // First attempt: the effect runs, then saving the response fails. Nothing may remain.
    let first = idempotency::run(&faulty, Some((scope, fp)), now(), mint_op(u.clone())).await;
    assert!(
        first.is_err(),
        "the injected failure surfaces as a store error"
    );
    assert!(!armed.load(Ordering::SeqCst), "the failure was injected");
    assert_eq!(
        count_tokens(&db, u.id).await,
        0,
        "the effect rolled back with the unsaved response"
    );

    // The retry with the same key runs the operation (the key was freed) and applies it once.
    let second = idempotency::run(&faulty, Some((scope, fp)), now(), mint_op(u.clone()))
        .await
        .unwrap();
    let Outcome::Fresh(saved) = second else {
        panic!("expected a fresh run, got {second:?}")
    };
    assert_eq!(saved.status, 201);
    assert_eq!(count_tokens(&db, u.id).await, 1);

    // A third call replays byte for byte and applies nothing.
    let third = idempotency::run(&faulty, Some((scope, fp)), now(), mint_op(u.clone()))
        .await
        .unwrap();
    assert_eq!(third, Outcome::Replayed(saved));
    assert_eq!(count_tokens(&db, u.id).await, 1);
}

pub async fn idempotency_refusals_are_saved_server_errors_are_not(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "ref@example.com", AccountType::Seeker).await;
    let fp = Fingerprint::of("POST", "/x", "", b"{}");
    let uid = u.id;
    let refuse = |status: u16| -> idempotency::Operation {
        Box::new(move |repo: &mut dyn Repo| {
            Box::pin(async move {
                repo.save_profile(
                    uid,
                    &Profile {
                        name: "Partial".into(),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|_| resp(500, "{}"))?;
                Err(resp(status, r#"{"code":"X"}"#))
            }) as BoxFuture<'_, Result<SavedResponse, SavedResponse>>
        })
    };
    let scope = scope_for(&u);
    let out = idempotency::run(&db, Some((scope, fp)), now(), refuse(409))
        .await
        .unwrap();
    assert_eq!(out, Outcome::Fresh(resp(409, r#"{"code":"X"}"#)));
    assert_eq!(
        db.read(move |r| Box::pin(async move { r.profile(uid).await }))
            .await
            .unwrap()
            .name,
        "Test",
        "refusal rolled back"
    );
    let again = idempotency::run(&db, Some((scope, fp)), now(), refuse(409))
        .await
        .unwrap();
    assert_eq!(again, Outcome::Replayed(resp(409, r#"{"code":"X"}"#)));

    let scope = scope_for(&u);
    let out = idempotency::run(&db, Some((scope, fp)), now(), refuse(500))
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Fresh(r) if r.status == 500));
    let t = now();
    let claim = db
        .inner()
        .claim_idempotency(&scope, &fp, t, t - Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(claim, Claim::Fresh, "a 5xx frees the key");
}

pub async fn purges_remove_only_old_rows(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "purge@example.com", AccountType::Seeker).await;
    let fp = Fingerprint::of("POST", "/x", "", b"");
    let old = now() - Duration::hours(25);
    let old_scope = scope_for(&u);
    assert_eq!(
        db.inner()
            .claim_idempotency(&old_scope, &fp, old, old)
            .await
            .unwrap(),
        Claim::Fresh
    );
    let fresh_scope = scope_for(&u);
    let t = now();
    assert_eq!(
        db.inner()
            .claim_idempotency(&fresh_scope, &fp, t, t)
            .await
            .unwrap(),
        Claim::Fresh
    );
    let purged = db
        .inner()
        .purge_idempotency(now() - Duration::hours(24))
        .await
        .unwrap();
    assert_eq!(purged, 1);
    let t = now();
    assert_eq!(
        db.inner()
            .claim_idempotency(&old_scope, &fp, t, t - Duration::seconds(60))
            .await
            .unwrap(),
        Claim::Fresh,
        "purged key is fresh"
    );
    assert_eq!(
        db.inner()
            .claim_idempotency(&fresh_scope, &fp, t, t - Duration::seconds(60))
            .await
            .unwrap(),
        Claim::InUse
    );

    let expired = SessionRecord {
        id: SessionId::new(),
        user_id: u.id,
        secret_hash: hash_secret("old"),
        csrf_token: "c".into(),
        created_at: old,
        expires_at: old + Duration::hours(1),
    };
    db.transaction(move |r| Box::pin(async move { r.insert_session(&expired).await }))
        .await
        .unwrap();
    assert_eq!(db.inner().purge_sessions(now()).await.unwrap(), 1);
}

pub async fn rate_limit_overrides_travel_with_the_principal(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "partner@example.com", AccountType::Recruiter).await;
    let (plain, _) = mint(&db, &u, &[Scope::ProfileRead], None).await;
    let p = db
        .inner()
        .authenticate_token(&plain.hash(), now(), "192.0.2.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.rate_limits, Overrides::default());
    let uid = u.id;
    db.transaction(move |r| {
        Box::pin(async move {
            r.set_rate_limit(uid, RateClass::Read, Some(5000)).await?;
            r.set_rate_limit(uid, RateClass::Cost, Some(10)).await?;
            r.set_rate_limit(uid, RateClass::Cost, Some(12)).await
        })
    })
    .await
    .unwrap();
    let p = db
        .inner()
        .authenticate_token(&plain.hash(), now(), "192.0.2.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        p.rate_limits.iter().collect::<Vec<_>>(),
        vec![(RateClass::Read, 5000), (RateClass::Cost, 12)]
    );
    db.transaction(move |r| {
        Box::pin(async move { r.set_rate_limit(uid, RateClass::Read, None).await })
    })
    .await
    .unwrap();
    let p = db
        .inner()
        .authenticate_token(&plain.hash(), now(), "192.0.2.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        p.rate_limits.iter().collect::<Vec<_>>(),
        vec![(RateClass::Cost, 12)]
    );
}

fn bucket(subject: &str) -> BucketKey {
    BucketKey {
        class: "cost",
        subject: subject.to_owned(),
        route: "GET /api/v1/x".into(),
    }
}

pub async fn limiter_allows_the_quota_then_refuses(limiter: Arc<dyn RateLimiter>) {
    let q = Quota::per_minute(3);
    let key = bucket(&format!("tok_{}", uuid::Uuid::new_v4().simple()));
    let mut remaining = vec![];
    for _ in 0..3 {
        let d = limiter.check(&key, q).await.unwrap();
        assert!(d.allowed);
        remaining.push(d.remaining);
    }
    assert_eq!(remaining, vec![2, 1, 0]);
    let d = limiter.check(&key, q).await.unwrap();
    assert!(!d.allowed);
    assert_eq!(d.limit, 3);
    assert_eq!(d.remaining, 0);
    assert!(
        (19..=20).contains(&d.retry_after_secs()),
        "retry after {}",
        d.retry_after_secs()
    );
    assert!((59..=60).contains(&d.reset_after_secs()));
    // The same arithmetic as the pure rule.
    let (expected, _) = gcra(0, 0, q);
    assert_eq!(expected.remaining, 2);
}

pub async fn limiter_buckets_are_independent(limiter: Arc<dyn RateLimiter>) {
    let q = Quota::per_minute(1);
    let a = bucket(&format!("tok_{}", uuid::Uuid::new_v4().simple()));
    let mut b = a.clone();
    b.route = "GET /api/v1/y".into();
    assert!(limiter.check(&a, q).await.unwrap().allowed);
    assert!(!limiter.check(&a, q).await.unwrap().allowed);
    assert!(limiter.check(&b, q).await.unwrap().allowed);
}

pub async fn limiter_holds_under_concurrency(limiter: Arc<dyn RateLimiter>) {
    let q = Quota::per_minute(10);
    let key = bucket(&format!("tok_{}", uuid::Uuid::new_v4().simple()));
    let checks = (0..50).map(|_| {
        let l = limiter.clone();
        let k = key.clone();
        async move { l.check(&k, q).await.unwrap().allowed }
    });
    let allowed = futures_util::future::join_all(checks)
        .await
        .into_iter()
        .filter(|a| *a)
        .count();
    assert_eq!(allowed, 10);
}

pub async fn limiter_peeks_without_counting(limiter: Arc<dyn RateLimiter>) {
    let q = Quota::per_minute(2);
    let key = bucket(&format!("tok_{}", uuid::Uuid::new_v4().simple()));
    for _ in 0..5 {
        let d = limiter.peek(&key, q).await.unwrap();
        assert!(d.allowed);
        assert_eq!(d.remaining, 1, "a peek reports what a check would leave");
    }
    assert!(limiter.check(&key, q).await.unwrap().allowed);
    assert!(limiter.check(&key, q).await.unwrap().allowed);
    assert!(
        !limiter.peek(&key, q).await.unwrap().allowed,
        "an empty bucket peeks as refused"
    );
    assert!(!limiter.check(&key, q).await.unwrap().allowed);
}
