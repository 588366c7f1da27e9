//! Rows as diesel reads them and their conversion to domain types, one file per aggregate
//! beside its repository in `crate::repo`; here, the mapping of diesel's errors to the port's.

pub(crate) mod accounts;
pub(crate) mod events;
pub(crate) mod idempotency;
pub(crate) mod matches;
pub(crate) mod outbox;
pub(crate) mod profile;
pub(crate) mod queue;
pub(crate) mod tokens;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use jobby_domain::ports::{StoreError, TxError};

/// Maps a diesel error to the port's: a taken email (or token hash) is a conflict, a lost
/// connection is the store being unreachable, a transaction Postgres aborted in favour of a
/// concurrent one is contention, anything else is the store being unavailable.
pub(crate) fn store_err(e: DieselError) -> StoreError {
    if let DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) = &e {
        return StoreError::Unreachable(e.to_string());
    }
    if is_contention(&e) {
        crate::retry::note_contention();
        return StoreError::Contention(e.to_string());
    }
    if let DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) = &e {
        match info.constraint_name() {
            Some("users_email_key") => return StoreError::Conflict("email"),
            Some("api_tokens_token_hash_key") => return StoreError::Conflict("token_hash"),
            Some("queue_entries_pkey") => return StoreError::Conflict("queue_entry"),
            Some("matches_live_seeker_key" | "matches_live_interviewer_key") => {
                return StoreError::Conflict("match");
            }
            Some("room_tickets_pkey") => return StoreError::Conflict("room_ticket"),
            _ => {}
        }
    }
    StoreError::Unavailable(e.to_string())
}

/// Whether Postgres aborted the transaction to resolve a conflict with a concurrent one:
/// SQLSTATE 40001 (serialization failure), or 40P01 (deadlock), which the driver reports by
/// its message only.
fn is_contention(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            info.message().starts_with("deadlock detected")
        }
        _ => false,
    }
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("unreadable row: {what}"))
}

/// Why a diesel-async transaction ended early: a query failed, a conversion failed, or the
/// body gave up (its error is carried through untouched).
pub(crate) enum Failure {
    Diesel(DieselError),
    Store(StoreError),
    Body(TxError),
}

impl From<DieselError> for Failure {
    fn from(e: DieselError) -> Self {
        Failure::Diesel(e)
    }
}

impl Failure {
    /// Whether running the transaction again may succeed where this attempt was aborted.
    pub(crate) fn is_contention(&self) -> bool {
        match self {
            Failure::Diesel(e) => is_contention(e),
            Failure::Store(e) | Failure::Body(TxError::Store(e)) => {
                matches!(e, StoreError::Contention(_))
            }
            Failure::Body(TxError::Abort(_)) => false,
        }
    }

    pub(crate) fn into_tx(self) -> TxError {
        match self {
            Failure::Diesel(e) => TxError::Store(store_err(e)),
            Failure::Store(e) => TxError::Store(e),
            Failure::Body(e) => e,
        }
    }

    pub(crate) fn into_store(self) -> StoreError {
        match self.into_tx() {
            TxError::Store(e) => e,
            TxError::Abort(_) => StoreError::Unavailable("transaction aborted".into()),
        }
    }
}
