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
/// `status`, `match_id` and `match_status` are always current; `position` and
/// `queue_length` may trail a change by up to 250 ms.
#[utoipa::path(tag = "queue", responses((status = 200, body = QueueStatusBody)))]
#[get("/queue/status")]
pub async fn queue_status(
    state: web::Data<AppState>,
    Authed(p): Authed,
) -> Result<HttpResponse, ApiError> {
    let s = state.lineups.status(&state.db, p.user_id).await?;
    Ok(HttpResponse::Ok().json(QueueStatusBody::from(s)))
}
