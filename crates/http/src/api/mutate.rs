//! Every mutating `/api/v1` handler runs its operation through `mutate`: with an
//! `Idempotency-Key` the response is saved in the same transaction as the effect and replayed
//! byte for byte; without one the operation simply runs in a transaction.

use crate::error::Code;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::BoxFuture;
use jobby_domain::model::idempotency::{Fingerprint, IdempotencyScope, SavedResponse};
use jobby_domain::model::ids::UserId;
use jobby_domain::model::token::TokenPrincipal;
use jobby_domain::ports::Repo;
use jobby_domain::usecases::idempotency::{self, Outcome};
use serde::Serialize;

use crate::AppState;
use crate::error::ApiError;
use crate::mw::IdempotencyKey;

/// A successful answer: status and JSON body.
pub struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn ok<T: Serialize>(body: &T) -> Result<Reply, ApiError> {
        Self::with_status(StatusCode::OK, body)
    }

    pub fn with_status<T: Serialize>(status: StatusCode, body: &T) -> Result<Reply, ApiError> {
        let body = serde_json::to_vec(body).map_err(|e| {
            tracing::error!(error = %e, "response serialization failed");
            ApiError::internal()
        })?;
        Ok(Reply { status, body })
    }
}

const JSON: &str = "application/json";

fn saved_error(e: &ApiError) -> SavedResponse {
    SavedResponse {
        status: e.status.as_u16(),
        content_type: JSON.into(),
        body: e.body_bytes(),
    }
}

fn respond(saved: &SavedResponse) -> HttpResponse {
    let status = StatusCode::from_u16(saved.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = HttpResponse::build(status);
    r.insert_header((header::CONTENT_TYPE, saved.content_type.as_str()));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.insert_header((header::RETRY_AFTER, "1"));
    }
    r.body(saved.body.clone())
}

/// Runs `op` for this request. `body` is the raw request body (part of the fingerprint).
pub async fn mutate<F>(
    state: &AppState,
    req: &HttpRequest,
    principal: &TokenPrincipal,
    body: &[u8],
    op: F,
) -> HttpResponse
where
    F: for<'a> FnOnce(&'a mut dyn Repo) -> BoxFuture<'a, Result<Reply, ApiError>>
        + Clone
        + Send
        + Sync
        + 'static,
{
    mutate_as(state, req, principal.user_id, body, op).await
}

/// Makes the answer after the operation's effect committed, from the operation's reply.
pub type AnswerAfter =
    Arc<dyn Fn(Reply) -> BoxFuture<'static, Result<Reply, ApiError>> + Send + Sync>;

/// [`mutate`] for a change whose answer is made after its effect commits (see
/// [`idempotency::run_answering`]): with an `Idempotency-Key`, that answer is what is saved.
pub async fn mutate_answering<F>(
    state: &AppState,
    req: &HttpRequest,
    principal: &TokenPrincipal,
    body: &[u8],
    op: F,
    answer: AnswerAfter,
) -> HttpResponse
where
    F: for<'a> FnOnce(&'a mut dyn Repo) -> BoxFuture<'a, Result<Reply, ApiError>>
        + Clone
        + Send
        + Sync
        + 'static,
{
    run(state, req, principal.user_id, body, op, Some(answer)).await
}

/// [`mutate`] for the account `user`, however it was authenticated (a token, or a human's
/// browser session): keys are scoped to the account.
pub async fn mutate_as<F>(
    state: &AppState,
    req: &HttpRequest,
    user: UserId,
    body: &[u8],
    op: F,
) -> HttpResponse
where
    F: for<'a> FnOnce(&'a mut dyn Repo) -> BoxFuture<'a, Result<Reply, ApiError>>
        + Clone
        + Send
        + Sync
        + 'static,
{
    run(state, req, user, body, op, None).await
}

async fn run<F>(
    state: &AppState,
    req: &HttpRequest,
    user: UserId,
    body: &[u8],
    op: F,
    answer: Option<AnswerAfter>,
) -> HttpResponse
where
    F: for<'a> FnOnce(&'a mut dyn Repo) -> BoxFuture<'a, Result<Reply, ApiError>>
        + Clone
        + Send
        + Sync
        + 'static,
{
    let key = req.extensions().get::<IdempotencyKey>().copied().map(|k| {
        let scope = IdempotencyScope {
            user_id: user,
            key: k.0,
        };
        let fp = Fingerprint::of(req.method().as_str(), req.path(), req.query_string(), body);
        (scope, fp)
    });
    // The store may run the operation more than once (a transaction aborted in favour of a
    // concurrent one runs again); each run takes a fresh clone of it.
    let operation: idempotency::Operation = Arc::new(move |repo: &mut dyn Repo| {
        let fut = (op.clone())(repo);
        Box::pin(async move {
            match fut.await {
                Ok(reply) => Ok(SavedResponse {
                    status: reply.status.as_u16(),
                    content_type: JSON.into(),
                    body: reply.body,
                }),
                Err(e) => Err(saved_error(&e)),
            }
        }) as BoxFuture<'_, Result<SavedResponse, SavedResponse>>
    });
    // The operation runs as its own task: if the client goes away mid-request, it still
    // finishes and its key is completed (or freed), instead of staying "in use" until the
    // claim goes stale.
    let answer: Option<idempotency::Answer> = answer.map(|answer| {
        Arc::new(move |saved: SavedResponse| {
            let answer = answer.clone();
            Box::pin(async move {
                let reply = Reply {
                    status: StatusCode::from_u16(saved.status)
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    body: saved.body,
                };
                match answer(reply).await {
                    Ok(reply) => Ok(SavedResponse {
                        status: reply.status.as_u16(),
                        content_type: JSON.into(),
                        body: reply.body,
                    }),
                    Err(e) => Err(saved_error(&e)),
                }
            }) as BoxFuture<'static, Result<SavedResponse, SavedResponse>>
        }) as idempotency::Answer
    });
    let (db, now) = (state.db.clone(), state.clock.now());
    let outcome = match actix_web::rt::spawn(async move {
        match answer {
            Some(answer) => idempotency::run_answering(&db, key, now, operation, answer).await,
            None => idempotency::run(&db, key, now, operation).await,
        }
    })
    .await
    {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::error!(error = %e, "mutation task failed");
            return ApiError::internal().error_response();
        }
    };
    match outcome {
        Ok(Outcome::Fresh(saved)) => respond(&saved),
        Ok(Outcome::Replayed(saved)) => {
            let mut r = respond(&saved);
            r.headers_mut().insert(
                header::HeaderName::from_static("idempotent-replayed"),
                HeaderValue::from_static("true"),
            );
            r
        }
        Ok(Outcome::KeyReused) => ApiError::new(
            Code::IdempotencyKeyReused,
            "This Idempotency-Key was used for a different request; use a new key.",
        )
        .error_response(),
        Ok(Outcome::KeyInUse) => ApiError::new(
            Code::IdempotencyKeyInUse,
            "A request with this Idempotency-Key is still running; retry shortly.",
        )
        .with_header(header::RETRY_AFTER, "1")
        .error_response(),
        Err(e) => ApiError::from(e).error_response(),
    }
}

/// After a change that may have freed a seat committed: a matching round for its event (see
/// [`jobby_domain::usecases::queue::Rounds`]). A failure is logged; the server's catch-up
/// rounds fill the seat then.
pub async fn round_after(state: &AppState, event: jobby_domain::model::ids::EventId) {
    match state.rounds.run(&state.db, &*state.clock, event).await {
        Ok(ran) => state.metrics.matching_round(ran),
        Err(e) => tracing::warn!(error = %e, "the matching round after a change failed"),
    }
}
