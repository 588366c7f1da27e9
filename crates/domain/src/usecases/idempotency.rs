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

/// Makes the answer once the operation's effect has committed, from the operation's own
/// response: for a change whose answer depends on work that follows it in transactions of
/// its own (a join answers after the matching round). `Err` is an error answer. It runs at
/// most once per request, and never for a replay.
pub type Answer = Arc<
    dyn Fn(SavedResponse) -> BoxFuture<'static, Result<SavedResponse, SavedResponse>> + Send + Sync,
>;

pub async fn run(
    db: &Db,
    key: Option<(IdempotencyScope, Fingerprint)>,
    now: DateTime<Utc>,
    op: Operation,
) -> Result<Outcome, StoreError> {
    run_saving_with(db, key, now, op, None, Arc::new(ThroughPort)).await
}

/// [`run`], answering with `answer` after the effect commits. With a key, that answer is
/// what is saved and replayed, in a transaction of its own; if the process stops in between,
/// the key is taken over once its claim goes stale and the operation runs again, so it must
/// answer the same when its effect is already there (as a join does).
pub async fn run_answering(
    db: &Db,
    key: Option<(IdempotencyScope, Fingerprint)>,
    now: DateTime<Utc>,
    op: Operation,
    answer: Answer,
) -> Result<Outcome, StoreError> {
    run_saving_with(db, key, now, op, Some(answer), Arc::new(ThroughPort)).await
}

/// [`run`] or [`run_answering`], saving responses through `save`.
pub async fn run_saving_with(
    db: &Db,
    key: Option<(IdempotencyScope, Fingerprint)>,
    now: DateTime<Utc>,
    op: Operation,
    answer: Option<Answer>,
    save: Arc<dyn SaveResponse>,
) -> Result<Outcome, StoreError> {
    let Some((scope, fingerprint)) = key else {
        return match (plain(db, op).await?, answer) {
            (Ok(resp), Some(answer)) => Ok(Outcome::Fresh(unwrap_either(answer(resp).await))),
            (Ok(resp) | Err(resp), _) => Ok(Outcome::Fresh(resp)),
        };
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
    let save_with_effect = answer.is_none();
    let result = db
        .transaction(move |repo| {
            Box::pin(async move {
                match op(repo).await {
                    Ok(resp) => {
                        if save_with_effect {
                            saver
                                .save(repo, &scope, &resp, now)
                                .await
                                .map_err(TxFail::Store)?;
                        }
                        Ok(resp)
                    }
                    Err(resp) => Err(TxFail::Alone(resp)),
                }
            })
        })
        .await;
    let result = match (result, answer) {
        (Ok(resp), Some(answer)) => Err(TxFail::Alone(unwrap_either(answer(resp).await))),
        (result, _) => result,
    };
    match result {
        Ok(resp) => Ok(Outcome::Fresh(resp)),
        // A refusal (a 4xx: the effects were rolled back) or an answer made after the effect
        // committed: saved now, on its own, so a replay answers the same.
        Err(TxFail::Alone(resp)) if is_saved(resp.status) => {
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
        Err(TxFail::Alone(resp)) => {
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

/// Runs the operation without a key: `Ok` when its effect committed, `Err` when it refused.
async fn plain(db: &Db, op: Operation) -> Result<Result<SavedResponse, SavedResponse>, StoreError> {
    let result = db
        .transaction(move |repo| Box::pin(async move { op(repo).await.map_err(TxFail::Alone) }))
        .await;
    match result {
        Ok(resp) => Ok(Ok(resp)),
        Err(TxFail::Alone(resp)) => Ok(Err(resp)),
        Err(TxFail::Store(e)) => Err(e),
    }
}

fn unwrap_either(r: Result<SavedResponse, SavedResponse>) -> SavedResponse {
    match r {
        Ok(resp) | Err(resp) => resp,
    }
}

enum TxFail {
    /// A response saved on its own: the operation's refusal, or the answer made after its
    /// effect committed.
    Alone(SavedResponse),
    Store(StoreError),
}

impl From<StoreError> for TxFail {
    fn from(e: StoreError) -> Self {
        TxFail::Store(e)
    }
}
