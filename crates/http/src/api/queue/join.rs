//! `POST /api/v1/queue/join`: joins a live event's queue.

use actix_web::{HttpRequest, HttpResponse, post, web};
use jobby_domain::model::account::AccountType;
use jobby_domain::model::ids::EventId;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::queue;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

use super::QueueStatusBody;
use crate::AppState;
use crate::error::ApiError;
use crate::api::ErrorBody;
use crate::api::mutate::{AnswerAfter, Reply, mutate_answering};
use crate::extract::{Authed, RawBody, parse_json};
use crate::routes::{Access, RouteSpec, for_account, route};

pub const ROUTE: RouteSpec = for_account(
    route(
        "POST",
        "/api/v1/queue/join",
        Access::Token(Scope::QueueWrite),
        RateClass::Write,
    ),
    AccountType::Seeker,
);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinQueue {
    /// A live event's id, `evt_…`.
    #[schema(value_type = crate::schema::EventIdText, inline)]
    pub event_id: EventId,
}

/// Joins a live event's queue. Joining the same event again answers with the same entry.
#[utoipa::path(
    tag = "queue",
    request_body = JoinQueue,
    responses(
        (status = 200, body = QueueStatusBody),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 409, description = "ALREADY_IN_QUEUE (another event's) or EVENT_NOT_LIVE", body = ErrorBody)
    )
)]
#[post("/queue/join")]
pub async fn join_queue(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authed(p): Authed,
    RawBody(body): RawBody,
) -> HttpResponse {
    let (uid, now, raw) = (p.user_id, state.clock.now(), body.clone());
    // The entry commits on its own; a matching round follows (shared with the joins arriving
    // meanwhile), and the answer is the status after it: matched at once when a seat was free.
    let after = state.clone();
    let answer: AnswerAfter = Arc::new(move |reply: Reply| {
        let state = after.clone();
        Box::pin(async move {
            let j: Joined = serde_json::from_slice(&reply.body).map_err(|e| {
                tracing::error!(error = %e, "a join handed on an unreadable reply");
                ApiError::internal()
            })?;
            let (db, clock) = (&state.db, &*state.clock);
            // The entry has committed: a failed round does not fail the join (the next
            // round, at the latest the worker's catch-up, seats the seeker).
            match state.rounds.run(db, clock, j.event_id).await {
                Ok(ran) => state.metrics.matching_round(ran),
                Err(e) => tracing::warn!(error = %e, "the matching round after a join failed"),
            }
            // Read from the store, and kept: the seeker's stream or poll that follows finds it.
            let (status, _) = state.lineups.status_and_entry(db, uid).await?;
            Reply::ok(&QueueStatusBody::now(status, &state))
        })
    });
    mutate_answering(
        &state,
        &req,
        &p,
        &body,
        move |repo| {
            Box::pin(async move {
                let j: JoinQueue = parse_json(&raw)?;
                queue::join(repo, uid, j.event_id, now).await?;
                Reply::ok(&Joined {
                    event_id: j.event_id,
                })
            })
        },
        answer,
    )
    .await
}

/// What the join's transaction hands to its answer.
#[derive(Serialize, Deserialize)]
struct Joined {
    event_id: EventId,
}
