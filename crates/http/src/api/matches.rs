use crate::error::Code;
use std::collections::HashMap;

use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use jobby_domain::Error;
use jobby_domain::model::ids::{EventId, MatchId, UserId};
use jobby_domain::model::matches::{Match, MatchStatus};
use jobby_domain::model::session;
use jobby_domain::usecases::matches::{self, RoomUrlError};
use serde::Serialize;
use utoipa::ToSchema;

use super::mutate::{Reply, mutate, mutate_as};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Authed, ListBody, RawBody, page, path_id};

/// A match between a seeker and an interviewer.
#[derive(Serialize, ToSchema)]
pub struct MatchBody {
    #[schema(value_type = String, example = "mtc_0193b1c2d3e4f5a6b7c8d9e0f1a2b3c4")]
    pub id: MatchId,
    #[schema(value_type = String)]
    pub event_id: EventId,
    #[schema(value_type = String)]
    pub seeker_id: UserId,
    #[schema(value_type = String)]
    pub interviewer_id: UserId,
    /// `pending`, `accepted`, `completed`, `declined` or `expired`.
    #[schema(value_type = String, example = "pending")]
    pub status: &'static str,
    pub seeker_accepted: bool,
    pub interviewer_accepted: bool,
    /// `seeker` or `interviewer`, when declined.
    #[schema(value_type = Option<String>)]
    pub declined_by: Option<&'static str>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// Both must accept before this.
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub expires_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub ended_at: Option<DateTime<Utc>>,
    /// When the interview started: the first time either participant entered the room. Until
    /// then an accepted match can still be declined.
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub started_at: Option<DateTime<Utc>>,
    /// Where each human accepts, in their own browser session.
    pub accept_url: String,
}

impl MatchBody {
    pub fn new(m: Match, public_url: &str) -> Self {
        MatchBody {
            accept_url: format!(
                "{}/account/matches/{}",
                public_url.trim_end_matches('/'),
                m.id
            ),
            id: m.id,
            event_id: m.event_id,
            seeker_id: m.seeker_id,
            interviewer_id: m.interviewer_id,
            status: m.status.as_str(),
            seeker_accepted: m.seeker_accepted_at.is_some(),
            interviewer_accepted: m.interviewer_accepted_at.is_some(),
            declined_by: m.declined_by.map(|s| s.as_str()),
            created_at: m.created_at,
            expires_at: m.expires_at,
            ended_at: m.ended_at,
            started_at: m.started_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MatchList {
    pub data: Vec<MatchBody>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// A join URL for the interview room.
#[derive(Serialize, ToSchema)]
pub struct RoomUrl {
    /// Opens the room once, in the caller's own browser session, until `expires_at`.
    pub url: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub expires_at: DateTime<Utc>,
}

/// The caller's matches, newest first.
#[utoipa::path(
    tag = "matches",
    params(
        ("status" = Option<String>, Query, description = "Only matches in this status: `pending`, `accepted`, `completed`, `declined`, `expired`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..100, default 20"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")
    ),
    responses((status = 200, body = MatchList), (status = 400, description = "Bad status, limit or cursor", body = super::ErrorBody))
)]
#[get("/matches")]
pub async fn list_matches(
    state: web::Data<AppState>,
    Authed(p): Authed,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let page = page::<MatchId>(&query)?;
    let status = match query.get("status") {
        None => None,
        Some(s) => Some(MatchStatus::parse(s).ok_or_else(|| {
            ApiError::field(
                "status",
                "must be one of pending, accepted, completed, declined, expired",
            )
        })?),
    };
    let uid = p.user_id;
    let list = state
        .db
        .read(move |r| Box::pin(async move { matches::list(r, uid, status, page).await }))
        .await?;
    let base = state.config.public_url.clone();
    Ok(HttpResponse::Ok().json(ListBody::from(list.map(|m| MatchBody::new(m, &base)))))
}

/// One of the caller's matches.
#[utoipa::path(
    tag = "matches",
    params(("id" = String, Path, description = "A match id, `mtc_…`")),
    responses((status = 200, body = MatchBody), (status = 404, description = "No such match of yours", body = super::ErrorBody))
)]
#[get("/matches/{id}")]
pub async fn get_match(
    state: web::Data<AppState>,
    Authed(p): Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<MatchId>(&id)?;
    let uid = p.user_id;
    let m = state
        .db
        .read(move |r| Box::pin(async move { matches::get(r, uid, id).await }))
        .await?;
    Ok(HttpResponse::Ok().json(MatchBody::new(m, &state.config.public_url)))
}

/// Declines a match (either participant) while it is pending, or accepted but not started
/// (nobody has entered the room yet). A seeker who declines leaves the queue; when the
/// interviewer declines, the seeker waits again at their original place.
#[utoipa::path(
    tag = "matches",
    params(("id" = String, Path, description = "A match id, `mtc_…`")),
    request_body(content = Option<DeclineMatch>, description = "Optional"),
    responses((status = 200, body = MatchBody), (status = 404, description = "No such match of yours", body = super::ErrorBody), (status = 409, description = "MATCH_NOT_PENDING", body = super::ErrorBody))
)]
#[post("/matches/{id}/decline")]
pub async fn decline_match(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authed(p): Authed,
    id: web::Path<String>,
    RawBody(body): RawBody,
) -> HttpResponse {
    let (uid, now, raw, id) = (p.user_id, state.clock.now(), body.clone(), id.into_inner());
    let base = state.config.public_url.clone();
    mutate(&state, &req, &p, &body, move |repo| {
        Box::pin(async move {
            let id = path_id::<MatchId>(&id)?;
            let reason = if raw.is_empty() {
                None
            } else {
                crate::extract::parse_json::<DeclineMatch>(&raw)?.reason
            };
            let m = matches::decline(repo, uid, id, reason, now).await?;
            Reply::ok(&MatchBody::new(m, &base))
        })
    })
    .await
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineMatch {
    /// Why, at most 500 characters; passed on in the `match.declined` event.
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// The interviewer marks the interview over; their seat is free for the next seeker.
#[utoipa::path(
    tag = "matches",
    params(("id" = String, Path, description = "A match id, `mtc_…`")),
    responses((status = 200, body = MatchBody), (status = 404, description = "No such match you interview in", body = super::ErrorBody), (status = 409, description = "MATCH_NOT_ACCEPTED", body = super::ErrorBody))
)]
#[post("/matches/{id}/complete")]
pub async fn complete_match(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authed(p): Authed,
    id: web::Path<String>,
    RawBody(body): RawBody,
) -> HttpResponse {
    let (uid, now, id) = (p.user_id, state.clock.now(), id.into_inner());
    let base = state.config.public_url.clone();
    mutate(&state, &req, &p, &body, move |repo| {
        Box::pin(async move {
            let id = path_id::<MatchId>(&id)?;
            let m = matches::complete(repo, uid, id, now).await?;
            Reply::ok(&MatchBody::new(m, &base))
        })
    })
    .await
}

/// Accepts a match as the calling human, in the browser session that carries the cookie,
/// with the session's CSRF token in `X-CSRF-Token`. Tokens cannot accept: any
/// `Authorization` header is refused with `HUMAN_SESSION_REQUIRED`.
#[utoipa::path(
    tag = "matches",
    params(
        ("id" = String, Path, description = "A match id, `mtc_…`"),
        ("X-CSRF-Token" = String, Header, description = "The session's CSRF token")
    ),
    responses(
        (status = 200, body = MatchBody),
        (status = 401, description = "UNAUTHENTICATED: no browser session", body = super::ErrorBody),
        (status = 403, description = "HUMAN_SESSION_REQUIRED (an Authorization header was sent) or CSRF_FAILED", body = super::ErrorBody),
        (status = 404, description = "No such match of yours", body = super::ErrorBody),
        (status = 409, description = "MATCH_NOT_PENDING (also once expired)", body = super::ErrorBody)
    )
)]
#[post("/matches/{id}/accept")]
pub async fn accept_match(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    RawBody(body): RawBody,
) -> Result<HttpResponse, ApiError> {
    let (session, user) = crate::pages::session::current(&state, &req)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| {
            ApiError::unauthenticated(
                "Accepting a match needs a logged-in browser session (/account/login).",
            )
        })?;
    let sent = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if crate::pages::session::cross_site(&state, &req)
        || !session::secrets_match(&session.csrf_token, sent)
    {
        return Err(ApiError::new(
            Code::CsrfFailed,
            "The X-CSRF-Token header is missing or does not match this session, or the request came from another site.",
        ));
    }
    let id = path_id::<MatchId>(&id)?;
    if req
        .extensions()
        .get::<crate::mw::IdempotencyKey>()
        .is_some()
    {
        // With a key: the accept runs (or is replayed) through the idempotency store, scoped
        // to this human; the room of a match now accepted by both is made after it.
        let (uid, now, public_url) = (user.id, state.clock.now(), state.config.public_url.clone());
        let resp = mutate_as(&state, &req, uid, &body, move |r| {
            Box::pin(async move {
                let (m, _) = matches::accept(r, uid, id, now).await?;
                Reply::ok(&MatchBody::new(m, &public_url))
            })
        })
        .await;
        if resp.status().is_success()
            && let Err(e) = matches::ensure_room_of(&state.db, &*state.video, uid, id).await
        {
            tracing::warn!(error = %e, match_id = %id, "creating the room failed; the room URL route will retry");
        }
        return Ok(resp);
    }
    let m = accept_as(&state, user.id, id).await?;
    Ok(HttpResponse::Ok().json(MatchBody::new(m, &state.config.public_url)))
}

/// Accepts for a human whose session and CSRF token were checked.
pub async fn accept_as(state: &AppState, user: UserId, id: MatchId) -> Result<Match, Error> {
    let (m, room) =
        matches::accept_in_session(&state.db, &*state.video, user, id, state.clock.now()).await?;
    if let Some(e) = room {
        tracing::warn!(error = %e, match_id = %m.id, "creating the room failed; the room URL route will retry");
    }
    Ok(m)
}

/// Declines for a human on the match page.
pub async fn decline_as(state: &AppState, user: UserId, id: MatchId) -> Result<Match, Error> {
    let now = state.clock.now();
    state
        .db
        .transaction(move |r| {
            Box::pin(async move { matches::decline(r, user, id, None, now).await })
        })
        .await
}

/// A join URL for the interview room, once both sides have accepted. It opens the room
/// once, only in the caller's own browser session, and only for 30 seconds.
#[utoipa::path(
    tag = "matches",
    params(("id" = String, Path, description = "A match id, `mtc_…`")),
    responses(
        (status = 200, body = RoomUrl),
        (status = 404, description = "No such match of yours", body = super::ErrorBody),
        (status = 409, description = "MATCH_NOT_ACCEPTED", body = super::ErrorBody),
        (status = 503, description = "DEPENDENCY_UNAVAILABLE: the video provider failed; safe to retry", body = super::ErrorBody)
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
