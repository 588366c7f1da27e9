//! `POST /api/v1/queue/leave`: leaves the queue.

use actix_web::{HttpRequest, HttpResponse, post, web};
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::queue;

use super::QueueStatusBody;
use crate::AppState;
use crate::api::mutate::{Reply, mutate, round_after};
use crate::extract::{Authed, RawBody};
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "POST",
    "/api/v1/queue/leave",
    Access::Token(Scope::QueueWrite),
    RateClass::Write,
);

/// Leaves the queue. A pending match counts as declined by the caller. Leaving when not
/// queued changes nothing.
#[utoipa::path(tag = "queue", responses((status = 200, body = QueueStatusBody)))]
#[post("/queue/leave")]
pub async fn leave_queue(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authed(p): Authed,
    RawBody(body): RawBody,
) -> HttpResponse {
    let (uid, now) = (p.user_id, state.clock.now());
    // The event the seeker leaves: a seat their match held may be free after.
    let event = state
        .db
        .read(move |r| Box::pin(async move { queue::entry_with_match(r, uid).await }))
        .await
        .ok()
        .flatten()
        .map(|(entry, _)| entry.event_id);
    let resp = mutate(&state, &req, &p, &body, move |repo| {
        Box::pin(async move {
            let s = queue::leave(repo, uid, now).await?;
            Reply::ok(&QueueStatusBody::from(s))
        })
    })
    .await;
    if let Some(event) = event.filter(|_| resp.status().is_success()) {
        round_after(&state, event).await;
    }
    resp
}
