//! `GET /api/v1/matches/{id}/interview-room-url`: a one-time join URL for the interview room.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use jobby_domain::model::ids::MatchId;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::matches::{self, RoomUrlError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::api::ErrorBody;
use crate::error::ApiError;
use crate::extract::{Authed, path_id};
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "GET",
    "/api/v1/matches/{id}/interview-room-url",
    Access::Token(Scope::MatchesRead),
    RateClass::Cost,
);

/// A join URL for the interview room.
#[derive(Serialize, ToSchema)]
pub struct RoomUrl {
    /// Opens the room once, in the caller's own browser session, until `expires_at`.
    pub url: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub expires_at: DateTime<Utc>,
}

/// A join URL for the interview room, once both sides have accepted. It opens the room
/// once, only in the caller's own browser session, and only for 30 seconds.
#[utoipa::path(
    tag = "matches",
    params(("id" = String, Path, description = "A match id, `mtc_…`")),
    responses(
        (status = 200, body = RoomUrl),
        (status = 404, description = "No such match of yours", body = ErrorBody),
        (status = 409, description = "MATCH_NOT_ACCEPTED", body = ErrorBody),
        (status = 503, description = "DEPENDENCY_UNAVAILABLE: the video provider failed; safe to retry", body = ErrorBody)
    )
)]
#[get("/matches/{id}/interview-room-url")]
pub async fn interview_room_url(
    state: web::Data<AppState>,
    Authed(p): Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<MatchId>(&id)?;
    let url = matches::room_url(
        &state.db,
        &*state.video,
        &state.config.public_url,
        p.user_id,
        id,
        state.clock.now(),
    )
    .await
    .map_err(|e| match e {
        RoomUrlError::Refused(e) => ApiError::from(e),
        RoomUrlError::Video(e) => {
            tracing::warn!(error = %e, match_id = %id, "video rooms failed");
            ApiError::unavailable("The video provider")
        }
    })?;
    // A one-time URL: no cache may keep it.
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(RoomUrl {
            url: url.url,
            expires_at: url.expires_at,
        }))
}
