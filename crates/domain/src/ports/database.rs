//! The store as a whole: transactions over the [`Repo`] ports, and the calls that stand alone.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::model::idempotency::{Claim, Fingerprint, IdempotencyScope};
use crate::model::ids::UserId;
use crate::model::token::{TokenHash, TokenPrincipal, TokenUse};

use super::{Repo, StoreError};

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
/// A transaction body: runs against a [`Repo`] that lives as long as the call. It may run
/// more than once: when the store aborts a transaction in favour of a concurrent one, it
/// rolls it back and runs the body again. So a body acts on the store only (and on what it
/// owns), never on the world outside.
pub type TxBody = Box<dyn for<'a> Fn(&'a mut dyn Repo) -> BoxFuture<'a, TxOutput> + Send + Sync>;
/// A read outside a transaction: runs once.
pub type ReadBody = Box<dyn for<'a> FnOnce(&'a mut dyn Repo) -> BoxFuture<'a, TxOutput> + Send>;

/// Told, right after a transaction commits, every account its outbox records name (see
/// [`Database::on_commit`]).
pub type CommitListener = Arc<dyn Fn(&[UserId]) + Send + Sync>;

/// The listeners a store tells of its commits.
#[derive(Default)]
pub struct CommitListeners(std::sync::Mutex<Vec<CommitListener>>);

impl CommitListeners {
    pub fn add(&self, listener: CommitListener) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(listener);
    }

    /// Tells every listener of a commit naming `users` (nothing when it names none). Call
    /// with no lock held: a listener may take its own.
    pub fn tell(&self, users: &[UserId]) {
        if users.is_empty() {
            return;
        }
        let listeners = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for listener in listeners {
            listener(users);
        }
    }
}

/// The store as a whole.
#[async_trait]
pub trait Database: Send + Sync {
    /// Calls `listener` after every transaction made through this handle that committed
    /// outbox records, with the accounts they name (in no particular order, maybe repeated):
    /// this process learns of its own changes at once, before the outbox feed brings them.
    fn on_commit(&self, listener: CommitListener);

    /// Runs `body` in one transaction: committed when it returns `Ok`, rolled back otherwise.
    /// A transaction the store aborted in favour of a concurrent one (a deadlock, a
    /// serialization failure) runs again, a bounded number of times.
    async fn transaction(&self, body: TxBody) -> TxOutput;
    /// Runs `body` without a transaction (reads).
    async fn read(&self, body: ReadBody) -> TxOutput;

    /// Looks up a token that is neither revoked nor expired at `now`, with what the edge
    /// needs of its owner: one read.
    async fn find_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenPrincipal>, StoreError>;
    /// Records when and from where tokens were last used, in one write. A use older than the
    /// one already recorded changes nothing.
    async fn record_token_uses(&self, uses: &[TokenUse]) -> Result<(), StoreError>;

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
    /// Deletes outbox records written before `before`, always keeping the newest (streams
    /// start from it). Returns how many.
    async fn purge_outbox(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Deletes room tickets that expired before `before`. Returns how many.
    async fn purge_room_tickets(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

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

    /// Runs `f` in a transaction. `Err(E)` rolls back and is returned as is. Should the
    /// store run the transaction again (see [`TxBody`]), each run calls a fresh clone of `f`.
    pub async fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: for<'a> FnOnce(&'a mut dyn Repo) -> BoxFuture<'a, Result<T, E>>
            + Clone
            + Send
            + Sync
            + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let body: TxBody = Box::new(move |repo: &mut dyn Repo| erased((f.clone())(repo)));
        unerase(self.0.transaction(body).await)
    }

    /// Runs `f` outside a transaction.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: for<'a> FnOnce(&'a mut dyn Repo) -> BoxFuture<'a, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let body: ReadBody = Box::new(move |repo: &mut dyn Repo| erased(f(repo)));
        unerase(self.0.read(body).await)
    }
}

/// A body's typed future as the port runs it.
fn erased<T, E>(fut: BoxFuture<'_, Result<T, E>>) -> BoxFuture<'_, TxOutput>
where
    T: Send + 'static,
    E: Send + 'static,
{
    Box::pin(async move {
        match fut.await {
            Ok(t) => Ok(Box::new(t) as Box<dyn Any + Send>),
            Err(e) => Err(TxError::Abort(Box::new(e))),
        }
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
