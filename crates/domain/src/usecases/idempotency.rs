//! The one idempotency mechanism for every mutating route (SPEC §4). With a key: claim it,
//! run the operation in a transaction, and save its response in that same transaction, so
//! the effect and the saved response commit together or not at all.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::model::idempotency::{
    Claim, Fingerprint, IdempotencyScope, SavedResponse, is_saved, stale_after,
};
use crate::ports::{Db, IdempotencyRepo, Repo, StoreError};

/// What running a mutation produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The operation ran now and answered this.
    Fresh(SavedResponse),
    /// The key was completed before with the same request: answer this, byte for byte.
    Replayed(SavedResponse),
    /// Same key, different request.
    KeyReused,
    /// Same key, first request still running.
    KeyInUse,
}

/// An operation: `Ok` commits its effects, `Err` rolls them back. Either way the response is
/// what the client sees. It runs inside a store transaction, so it may run more than once
/// (see [`crate::ports::TxBody`]).
pub type Operation = Arc<
    dyn for<'a> Fn(&'a mut dyn Repo) -> BoxFuture<'a, Result<SavedResponse, SavedResponse>>
        + Send
        + Sync,
>;

/// How a completed key's response reaches the store: through the idempotency port of the
/// transaction that applied the effect. [`run`] uses the port as it is; the contract suite
/// puts a failing step in between to prove the effect and the response commit together.
#[async_trait]
pub trait SaveResponse: Send + Sync {
    async fn save(
        &self,
        port: &mut dyn IdempotencyRepo,
        scope: &IdempotencyScope,
        response: &SavedResponse,
        claimed_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// The port as it is.
struct ThroughPort;

#[async_trait]
impl SaveResponse for ThroughPort {
    async fn save(
        &self,
        port: &mut dyn IdempotencyRepo,
        scope: &IdempotencyScope,
        response: &SavedResponse,
        claimed_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        port.complete_idempotency(scope, response, claimed_at).await
    }
}

pub async fn run(
    db: &Db,
    key: Option<(IdempotencyScope, Fingerprint)>,
    now: DateTime<Utc>,
    op: Operation,
) -> Result<Outcome, StoreError> {
    run_saving_with(db, key, now, op, Arc::new(ThroughPort)).await
}

/// [`run`], saving responses through `save`.
pub async fn run_saving_with(
    db: &Db,
    key: Option<(IdempotencyScope, Fingerprint)>,
    now: DateTime<Utc>,
    op: Operation,
    save: Arc<dyn SaveResponse>,
) -> Result<Outcome, StoreError> {
    let Some((scope, fingerprint)) = key else {
        return plain(db, op).await.map(Outcome::Fresh);
    };
    match db
        .inner()
        .claim_idempotency(&scope, &fingerprint, now, now - stale_after())
        .await?
    {
        Claim::Replay(saved) => return Ok(Outcome::Replayed(saved)),
        Claim::Mismatch => return Ok(Outcome::KeyReused),
        Claim::InUse => return Ok(Outcome::KeyInUse),
        Claim::Fresh => {}
    }
    let saver = save.clone();
    let result = db
        .transaction(move |repo| {
            Box::pin(async move {
                match op(repo).await {
                    Ok(resp) => {
                        saver
                            .save(repo, &scope, &resp, now)
                            .await
                            .map_err(TxFail::Store)?;
                        Ok(resp)
                    }
                    Err(resp) => Err(TxFail::Refused(resp)),
                }
            })
        })
        .await;
    match result {
        Ok(resp) => Ok(Outcome::Fresh(resp)),
        // The operation refused with a 4xx: its effects are rolled back and the refusal is
        // saved, so a replay answers the same.
        Err(TxFail::Refused(resp)) if is_saved(resp.status) => {
            let saved = resp.clone();
            let stored: Result<(), StoreError> = db
                .transaction(move |repo| {
                    Box::pin(async move { save.save(repo, &scope, &saved, now).await })
                })
                .await;
            if let Err(e) = stored {
                // Free the key rather than leave it "in use" until the claim goes stale.
                let _ = db.inner().release_idempotency(&scope, now).await;
                return Err(e);
            }
            Ok(Outcome::Fresh(resp))
        }
        Err(TxFail::Refused(resp)) => {
            db.inner().release_idempotency(&scope, now).await?;
            Ok(Outcome::Fresh(resp))
        }
        Err(TxFail::Store(e)) => {
            if let Err(release) = db.inner().release_idempotency(&scope, now).await {
                // The claim goes stale and is taken over by the next retry.
                return Err(StoreError::Unavailable(format!(
                    "{e}; releasing the key also failed: {release}"
                )));
            }
            Err(e)
        }
    }
}

async fn plain(db: &Db, op: Operation) -> Result<SavedResponse, StoreError> {
    let result = db
        .transaction(move |repo| Box::pin(async move { op(repo).await.map_err(TxFail::Refused) }))
        .await;
    match result {
        Ok(resp) | Err(TxFail::Refused(resp)) => Ok(resp),
        Err(TxFail::Store(e)) => Err(e),
    }
}

enum TxFail {
    Refused(SavedResponse),
    Store(StoreError),
}

impl From<StoreError> for TxFail {
    fn from(e: StoreError) -> Self {
        TxFail::Store(e)
    }
}
