//! What the rules need from the world. Adapters implement these; the rules never see SQL,
//! Redis or HTTP.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use ipnet::IpNet;

use std::collections::HashSet;

use crate::model::account::{Email, User};
use crate::model::event::{Event, LiveEvent, Seat};
use crate::model::idempotency::{Claim, Fingerprint, IdempotencyScope, SavedResponse};
use crate::model::ids::{EventId, MatchId};
use crate::model::ids::{TokenId, UserId};
use crate::model::matches::{Match, MatchStatus};
use crate::model::matching::{FreeSeat, Waiting};
use crate::model::outbox::{DomainEvent, OutboxRecord};
use crate::model::page::PageRequest;
use crate::model::profile::{Profile, Settings};
use crate::model::queue::{EntryState, QueueEntry, QueueView};
use crate::model::ratelimit::{Decision, Quota, RateClass};
use crate::model::room::RoomTicket;
use crate::model::session::SessionRecord;
use crate::model::token::{TokenHash, TokenPrincipal, TokenRecord};

/// A storage failure the rules cannot do anything about (connection lost, bug, …).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. the email is taken).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// The clock. Injected so rules about time are testable.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Now, in whole microseconds: what Postgres stores, so every store agrees on a time.
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }
}

/// Repository operations. Inside [`Database::transaction`] they all commit or roll back
/// together; inside [`Database::read`] each stands alone.
///
/// Finders that take a `UserId` only ever return that account's rows, so another account's
/// resource is indistinguishable from a missing one.
#[async_trait]
pub trait Repo: Send {
    // Accounts.
    async fn insert_user(&mut self, user: &User, profile: &Profile) -> Result<(), StoreError>;
    async fn user_by_email(&mut self, email: &Email) -> Result<Option<User>, StoreError>;
    async fn user_by_id(&mut self, id: UserId) -> Result<Option<User>, StoreError>;

    // Personal access tokens.
    async fn insert_token(
        &mut self,
        token: &TokenRecord,
        hash: &TokenHash,
    ) -> Result<(), StoreError>;
    /// Newest first, `limit + 1` rows so the caller can tell whether more follow.
    async fn list_tokens(
        &mut self,
        user: UserId,
        page: PageRequest<TokenId>,
    ) -> Result<Vec<TokenRecord>, StoreError>;
    async fn find_token(
        &mut self,
        user: UserId,
        id: TokenId,
    ) -> Result<Option<TokenRecord>, StoreError>;
    /// Sets `revoked_at` if it is not set yet. Returns the token as it now is.
    async fn revoke_token(
        &mut self,
        user: UserId,
        id: TokenId,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenRecord>, StoreError>;

    // Browser sessions.
    async fn insert_session(&mut self, session: &SessionRecord) -> Result<(), StoreError>;
    async fn session_by_hash(
        &mut self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<(SessionRecord, User)>, StoreError>;
    async fn delete_session(&mut self, hash: &TokenHash) -> Result<(), StoreError>;

    // Profile and settings.
    async fn profile(&mut self, user: UserId) -> Result<Profile, StoreError>;
    async fn save_profile(&mut self, user: UserId, profile: &Profile) -> Result<(), StoreError>;
    async fn settings(&mut self, user: UserId) -> Result<Settings, StoreError>;
    async fn save_settings(&mut self, user: UserId, settings: &Settings) -> Result<(), StoreError>;
    async fn allowlist(&mut self, user: UserId) -> Result<Vec<IpNet>, StoreError>;
    async fn save_allowlist(&mut self, user: UserId, cidrs: &[IpNet]) -> Result<(), StoreError>;

    /// Sets (or with `None` clears) an account's own limit for a rate-limit class.
    async fn set_rate_limit(
        &mut self,
        user: UserId,
        class: RateClass,
        per_minute: Option<u32>,
    ) -> Result<(), StoreError>;

    // Events.
    async fn insert_event(&mut self, event: &Event) -> Result<(), StoreError>;
    async fn update_event(&mut self, event: &Event) -> Result<(), StoreError>;
    /// An event the user owns or interviews at.
    async fn event_for(&mut self, user: UserId, id: EventId) -> Result<Option<Event>, StoreError>;
    /// The events the user owns or interviews at, newest first, `limit + 1` rows.
    async fn list_events_for(
        &mut self,
        user: UserId,
        page: PageRequest<EventId>,
    ) -> Result<Vec<Event>, StoreError>;
    /// Locks the event until the transaction ends and returns it. Every change to an
    /// event's queue, seats or matches happens under this lock, so matching runs exactly
    /// once per change, whichever process makes it.
    async fn lock_event(&mut self, id: EventId) -> Result<Option<Event>, StoreError>;
    /// Live events, newest first, `limit + 1` rows.
    async fn live_events(
        &mut self,
        page: PageRequest<EventId>,
    ) -> Result<Vec<LiveEvent>, StoreError>;
    async fn live_event(&mut self, id: EventId) -> Result<Option<LiveEvent>, StoreError>;

    // Interviewer seats.
    async fn seats(&mut self, event: EventId) -> Result<Vec<Seat>, StoreError>;
    /// Makes `users` the event's interviewers. Seats of users who stay keep their state; new
    /// seats start unavailable.
    async fn replace_seats(
        &mut self,
        event: EventId,
        users: &[UserId],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Marks an interviewer (un)available; becoming available starts their idle time.
    /// `false` when they hold no seat at the event.
    async fn set_available(
        &mut self,
        event: EventId,
        user: UserId,
        available: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Restarts an interviewer's idle time (their match ended).
    async fn touch_idle(
        &mut self,
        event: EventId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The event's available interviewers who hold no live match in any event (a snapshot:
    /// see [`Repo::claim_seats`]).
    async fn free_seats(&mut self, event: EventId) -> Result<Vec<FreeSeat>, StoreError>;
    /// Locks these interviewers' accounts until the transaction ends (in id order, so two
    /// events' matching never deadlock) and returns those still available in this event and
    /// holding no live match in any event. Another event's matching cannot seat them until
    /// this transaction ends.
    async fn claim_seats(
        &mut self,
        event: EventId,
        interviewers: &[UserId],
    ) -> Result<Vec<UserId>, StoreError>;
    /// (seeker, interviewer) pairs the interviewer declined in this event.
    async fn declined_pairs(
        &mut self,
        event: EventId,
    ) -> Result<HashSet<(UserId, UserId)>, StoreError>;
    /// The first `limit` waiting seekers, first come first served.
    async fn waiting(&mut self, event: EventId, limit: usize) -> Result<Vec<Waiting>, StoreError>;

    // The queue.
    async fn entry_of(&mut self, seeker: UserId) -> Result<Option<QueueEntry>, StoreError>;
    /// `Conflict("queue_entry")` when the seeker already waits somewhere.
    async fn insert_entry(&mut self, entry: &QueueEntry) -> Result<(), StoreError>;
    async fn set_entry_state(
        &mut self,
        seeker: UserId,
        state: EntryState,
    ) -> Result<(), StoreError>;
    async fn delete_entry(&mut self, seeker: UserId) -> Result<(), StoreError>;
    /// Removes every waiting seeker of the event; returns who they were.
    async fn remove_waiting(&mut self, event: EventId) -> Result<Vec<UserId>, StoreError>;
    /// The seeker's entry with its position and the queue's length.
    async fn queue_view(&mut self, seeker: UserId) -> Result<Option<QueueView>, StoreError>;

    // Matches.
    /// `Conflict("match")` when the seeker or the interviewer already has a live match.
    async fn insert_match(&mut self, m: &Match) -> Result<(), StoreError>;
    async fn update_match(&mut self, m: &Match) -> Result<(), StoreError>;
    /// A match the user takes part in.
    async fn match_for(&mut self, user: UserId, id: MatchId) -> Result<Option<Match>, StoreError>;
    /// The user's matches, newest first, `limit + 1` rows.
    async fn list_matches_for(
        &mut self,
        user: UserId,
        status: Option<MatchStatus>,
        page: PageRequest<MatchId>,
    ) -> Result<Vec<Match>, StoreError>;
    /// The event's pending and accepted matches.
    async fn live_matches(&mut self, event: EventId) -> Result<Vec<Match>, StoreError>;
    /// Pending matches whose accept window closed by `now`, oldest deadline first.
    async fn due_matches(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Match>, StoreError>;

    // Room tickets of the local video room.
    async fn insert_room_ticket(
        &mut self,
        hash: &TokenHash,
        ticket: &RoomTicket,
    ) -> Result<(), StoreError>;
    async fn room_ticket(&mut self, hash: &TokenHash) -> Result<Option<RoomTicket>, StoreError>;
    /// Marks the ticket used, once: `false` when it already was.
    async fn use_room_ticket(
        &mut self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    // The outbox.
    async fn append_outbox(&mut self, events: &[DomainEvent]) -> Result<(), StoreError>;
    /// Records after `seq`, in order, at most `limit`.
    async fn outbox_after(
        &mut self,
        seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, StoreError>;
    /// The newest record's position (0 when empty).
    async fn outbox_head(&mut self) -> Result<i64, StoreError>;

    /// Saves the response of a claimed idempotency key, completing it. Called inside the
    /// transaction that applied the effect, so both commit or neither does. Only the claim
    /// made at `claimed_at` may complete: if a retry took a stale claim over, the first
    /// request's completion fails and its effect rolls back.
    async fn complete_idempotency(
        &mut self,
        scope: &IdempotencyScope,
        response: &SavedResponse,
        claimed_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// What a transaction body returns when it gives up: a storage failure, or the caller's own
/// error (type-erased; [`Db`] restores the type).
pub enum TxError {
    Store(StoreError),
    Abort(Box<dyn Any + Send>),
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

pub type TxOutput = Result<Box<dyn Any + Send>, TxError>;
/// A transaction body: runs against a [`Repo`] that lives as long as the call.
pub type TxBody = Box<dyn for<'a> FnOnce(&'a mut dyn Repo) -> BoxFuture<'a, TxOutput> + Send>;

/// The store as a whole.
#[async_trait]
pub trait Database: Send + Sync {
    /// Runs `body` in one transaction: committed when it returns `Ok`, rolled back otherwise.
    async fn transaction(&self, body: TxBody) -> TxOutput;
    /// Runs `body` without a transaction (reads).
    async fn read(&self, body: TxBody) -> TxOutput;

    /// Looks up an active token by hash and records its use, in one round trip.
    async fn authenticate_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
        ip: &str,
    ) -> Result<Option<TokenPrincipal>, StoreError>;

    /// Claims an idempotency key for a request (its own short transaction). An in-progress
    /// claim older than `stale_before` is taken over.
    async fn claim_idempotency(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Claim, StoreError>;
    /// Frees a claimed key that did not complete (a 5xx), so a retry runs again.
    /// Only the claim made at `claimed_at`, and only while it has no response.
    async fn release_idempotency(
        &self,
        scope: &IdempotencyScope,
        claimed_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Deletes keys created before `before`. Returns how many.
    async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Deletes sessions that expired before `before`. Returns how many.
    async fn purge_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Answers when the store is reachable.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// A handle on the [`Database`] with typed transactions.
#[derive(Clone)]
pub struct Db(pub Arc<dyn Database>);

impl Db {
    pub fn new(db: Arc<dyn Database>) -> Self {
        Db(db)
    }

    pub fn inner(&self) -> &dyn Database {
        &*self.0
    }

    /// Runs `f` in a transaction. `Err(E)` rolls back and is returned as is.
    pub async fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: for<'a> FnOnce(&'a mut dyn Repo) -> BoxFuture<'a, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        unerase(self.0.transaction(erase(f)).await)
    }

    /// Runs `f` outside a transaction.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: for<'a> FnOnce(&'a mut dyn Repo) -> BoxFuture<'a, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        unerase(self.0.read(erase(f)).await)
    }
}

fn erase<T, E, F>(f: F) -> TxBody
where
    F: for<'a> FnOnce(&'a mut dyn Repo) -> BoxFuture<'a, Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    Box::new(move |repo: &mut dyn Repo| {
        let fut = f(repo);
        Box::pin(async move {
            match fut.await {
                Ok(t) => Ok(Box::new(t) as Box<dyn Any + Send>),
                Err(e) => Err(TxError::Abort(Box::new(e))),
            }
        }) as BoxFuture<'_, TxOutput>
    })
}

fn unerase<T: 'static, E: From<StoreError> + 'static>(out: TxOutput) -> Result<T, E> {
    match out {
        Ok(t) => Ok(*t
            .downcast::<T>()
            .expect("transaction output has the body's type")),
        Err(TxError::Store(e)) => Err(E::from(e)),
        Err(TxError::Abort(e)) => Err(*e
            .downcast::<E>()
            .expect("transaction error has the body's type")),
    }
}

/// A join URL for one participant of a match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinUrl {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// The video provider failed or could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("video rooms unavailable: {0}")]
pub struct VideoError(pub String);

impl From<StoreError> for VideoError {
    fn from(e: StoreError) -> Self {
        VideoError(e.to_string())
    }
}

/// Private video rooms for accepted matches. Jobby itself admits people (a room link opens
/// once, in its user's browser session, within 30 seconds); the provider then holds the call.
#[async_trait]
pub trait VideoRooms: Send + Sync {
    /// Creates the match's private room. Creating it again is harmless.
    async fn create_room(&self, m: &Match) -> Result<(), VideoError>;
    /// Where a person Jobby has just admitted goes to be in the room: a provider URL that
    /// lets only `user` join, until `now + 30 s`, or `None` when Jobby's own room page is
    /// the room.
    async fn enter(
        &self,
        m: &Match,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, VideoError>;
}

/// Which bucket a request is counted in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BucketKey {
    /// The class name (`read`, `write`, `cost`, `anonymous`).
    pub class: &'static str,
    /// Who: `tok_…` for a token, `ip:…` for anonymous callers.
    pub subject: String,
    /// Which route (method and pattern).
    pub route: String,
}

impl BucketKey {
    pub fn to_key_string(&self) -> String {
        format!("rl:{}:{}:{}", self.class, self.subject, self.route)
    }
}

/// Counts requests against quotas. `check` is one atomic check-and-count.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    async fn check(&self, key: &BucketKey, quota: Quota) -> Result<Decision, StoreError>;
    /// The decision `check` would make now, without counting the request.
    async fn peek(&self, key: &BucketKey, quota: Quota) -> Result<Decision, StoreError>;
    /// Answers when the limiter's store is reachable.
    async fn ping(&self) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unerase_restores_types() {
        let ok: TxOutput = Ok(Box::new(7u32));
        assert_eq!(unerase::<u32, crate::error::Error>(ok).unwrap(), 7);
        let err: TxOutput = Err(TxError::Abort(Box::new(crate::error::Error::NotFound)));
        assert!(matches!(
            unerase::<u32, crate::error::Error>(err),
            Err(crate::error::Error::NotFound)
        ));
    }
}
