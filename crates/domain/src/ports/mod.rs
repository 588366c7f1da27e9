//! What the rules need from the world. Adapters implement these; the rules never see SQL,
//! Redis or HTTP.
//!
//! One port per aggregate (`accounts`, `tokens`, `profile`, `ratelimit`, `events`, `queue`,
//! `matches`, `outbox`, `idempotency`), each a trait of its own. [`Repo`] is their sum: what
//! a transaction hands its body. A use-case that needs less can ask for less
//! (`&mut dyn QueueRepo`), and a `&mut dyn Repo` coerces to any of them.

mod accounts;
mod clock;
mod database;
mod events;
mod idempotency;
mod matches;
mod outbox;
mod profile;
mod queue;
mod ratelimit;
mod tokens;
mod video;

pub use accounts::AccountRepo;
pub use clock::{Clock, SystemClock};
pub use database::{
    CommitListener, CommitListeners, Database, Db, ReadBody, TxBody, TxError, TxOutput,
};
pub use events::{EventLock, EventRepo};
pub use idempotency::IdempotencyRepo;
pub use matches::MatchRepo;
pub use outbox::OutboxRepo;
pub use profile::ProfileRepo;
pub use queue::QueueRepo;
pub use ratelimit::{BucketKey, RateLimitRepo, RateLimiter};
pub use tokens::TokenRepo;
pub use video::{JoinUrl, VideoError, VideoRooms};

/// A storage failure the rules cannot do anything about (connection lost, bug, …).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. the email is taken).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// The store could not be reached: no connection within the deadline, or the
    /// connection was lost. Nothing was committed; the caller may retry.
    #[error("storage unreachable: {0}")]
    Unreachable(String),
    /// The store aborted the transaction to resolve a conflict with a concurrent one (a
    /// serialization failure or a deadlock) and it kept happening when run again. Nothing
    /// was committed; the caller may retry.
    #[error("storage contention: {0}")]
    Contention(String),
    /// Anything else the store failed at (an unreadable row, a bug).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// Every repository port. Inside [`Database::transaction`] they all commit or roll back
/// together; inside [`Database::read`] each stands alone.
///
/// Finders that take a `UserId` only ever return that account's rows, so another account's
/// resource is indistinguishable from a missing one.
pub trait Repo:
    AccountRepo
    + TokenRepo
    + ProfileRepo
    + RateLimitRepo
    + EventRepo
    + QueueRepo
    + MatchRepo
    + OutboxRepo
    + IdempotencyRepo
    + Send
{
}

impl<T> Repo for T where
    T: AccountRepo
        + TokenRepo
        + ProfileRepo
        + RateLimitRepo
        + EventRepo
        + QueueRepo
        + MatchRepo
        + OutboxRepo
        + IdempotencyRepo
        + Send
        + ?Sized
{
}
