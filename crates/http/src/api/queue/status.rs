//! `GET /api/v1/queue/status`: the caller's place in the queue.

use actix_web::{HttpResponse, get, web};
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;

use super::QueueStatusBody;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::Authed;
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "GET",
    "/api/v1/queue/status",
    Access::Token(Scope::QueueRead),
    RateClass::Read,
);

/// The caller's place: waiting (with position), matched (with the match) or not queued.
/// `status`, `match_id` and `match_status` reflect a change at once when it was made through
/// the same server process, and within 2 s otherwise (usually a fraction of a second);
/// `position` and `queue_length` may trail a change by 250 ms more. Poll no faster than
/// `poll_interval_seconds`, which grows while the server is busy; or open
/// `GET /queue/stream` to be told of every change as it happens.
#[utoipa::path(tag = "queue", responses((status = 200, body = QueueStatusBody)))]
#[get("/queue/status")]
pub async fn queue_status(
    state: web::Data<AppState>,
    Authed(p): Authed,
) -> Result<HttpResponse, ApiError> {
    let (s, kept) = state.lineups.status(&state.db, p.user_id).await?;
    state.metrics.queue_status_read(kept);
    Ok(HttpResponse::Ok().json(QueueStatusBody::now(s, &state)))
}
