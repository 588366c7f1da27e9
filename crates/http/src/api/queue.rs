use crate::error::Code;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use jobby_domain::model::ids::{EventId, MatchId};
use jobby_domain::model::queue::QueueStatus;
use jobby_domain::usecases::auth::AuthError;
use jobby_domain::usecases::queue;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::mutate::{Reply, mutate};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Authed, RawBody, parse_json};
use crate::feed;

/// Where the caller stands in a queue.
#[derive(Serialize, ToSchema)]
pub struct QueueStatusBody {
    /// `not_queued`, `waiting` or `matched`.
    #[schema(value_type = String, example = "waiting")]
    pub status: &'static str,
    #[schema(value_type = Option<String>)]
    pub event_id: Option<EventId>,
    /// 1-based among the seekers waiting; null unless waiting.
    pub position: Option<u32>,
    /// Seekers waiting in the event.
    pub queue_length: Option<u32>,
    #[schema(value_type = Option<String>)]
    pub match_id: Option<MatchId>,
    /// `pending`, `accepted`, … when matched.
    #[schema(value_type = Option<String>)]
    pub match_status: Option<&'static str>,
    /// Poll no faster than this.
    pub poll_interval_seconds: u32,
}

impl From<QueueStatus> for QueueStatusBody {
    fn from(s: QueueStatus) -> Self {
        use jobby_domain::model::queue::QueueState;
        QueueStatusBody {
            status: match s.status {
                QueueState::NotQueued => "not_queued",
                QueueState::Waiting => "waiting",
                QueueState::Matched => "matched",
            },
            event_id: s.event_id,
            position: s.position,
            queue_length: s.queue_length,
            match_id: s.match_id,
            match_status: s.match_status.map(|m| m.as_str()),
            poll_interval_seconds: s.poll_interval_seconds,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinQueue {
    /// A live event's id, `evt_…`.
    #[schema(value_type = String)]
    pub event_id: EventId,
}

/// Joins a live event's queue. Joining the same event again answers with the same entry.
#[utoipa::path(
    tag = "queue",
    request_body = JoinQueue,
    responses(
        (status = 200, body = QueueStatusBody),
        (status = 404, description = "No such event", body = super::ErrorBody),
        (status = 409, description = "ALREADY_IN_QUEUE (another event's) or EVENT_NOT_LIVE", body = super::ErrorBody)
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
    mutate(&state, &req, &p, &body, move |repo| {
        Box::pin(async move {
            let j: JoinQueue = parse_json(&raw)?;
            let (status, _) = queue::join(repo, uid, j.event_id, now).await?;
            Reply::ok(&QueueStatusBody::from(status))
        })
    })
    .await
}

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

/// The caller's status as Server-Sent Events, so agents need not poll: an `event: status`
/// with the status object at once, another whenever it changes (position, queue length,
/// match), a `: heartbeat` comment every 15 seconds while nothing changes, and
/// `event: closing` before the server shuts down (`{"reason":"shutdown"}`) or once the token
/// is revoked or expired (`{"reason":"unauthorized"}`, noticed at the next heartbeat).
/// Reconnect on close; the first event always carries the current status. The place and
/// queue length follow changes within about a second. A token may hold 5 streams open at
/// once (per server process); one more is refused with 429 until one closes.
#[utoipa::path(
    tag = "queue",
    responses((
        status = 200,
        description = "`text/event-stream`; each `data:` line holds a QueueStatusBody",
        content_type = "text/event-stream",
        body = String,
        example = "retry: 3000\nevent: status\ndata: {\"status\":\"waiting\",\"event_id\":\"evt_…\",\"position\":3,\"queue_length\":7,\"match_id\":null,\"match_status\":null,\"poll_interval_seconds\":5}\n\n"
    ), (
        status = 429,
        description = "RATE_LIMITED: the token already has 5 streams open",
        body = super::ErrorBody
    ))
)]
#[get("/queue/stream")]
pub async fn queue_stream(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authed(p): Authed,
) -> Result<HttpResponse, ApiError> {
    let slot = state.feed.admit(p.token_id).ok_or_else(|| {
        ApiError::new(
            Code::RateLimited,
            format!(
                "This token already has {} queue streams open; close one first.",
                feed::STREAMS_PER_TOKEN
            ),
        )
        .with_details(json!({ "limit": feed::STREAMS_PER_TOKEN, "retry_after_seconds": 5 }))
        .with_header(header::RETRY_AFTER, "5")
    })?;
    // The token is asked about again at every heartbeat: a revoked or expired one ends the
    // stream with `closing` (reason `unauthorized`).
    let raw = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::mw::bearer_token)
        .unwrap_or_default()
        .to_owned();
    let (auth, ip) = (state.auth.clone(), crate::mw::caller_ip(&req));
    let allowed: feed::Allowed = Box::new(move || {
        let (auth, raw) = (auth.clone(), raw.clone());
        Box::pin(async move {
            // The store not answering says nothing about the token.
            !matches!(
                auth.authenticate(&raw, ip).await,
                Err(AuthError::Malformed | AuthError::Invalid)
            )
        })
    });
    let stream = feed::status_stream(
        &state.feed,
        state.db.clone(),
        state.lineups.clone(),
        p.user_id,
        allowed,
        slot,
    )
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Tell buffering proxies (nginx) to pass events through as they come.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

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
    mutate(&state, &req, &p, &body, move |repo| {
        Box::pin(async move {
            let s = queue::leave(repo, uid, now).await?;
            Reply::ok(&QueueStatusBody::from(s))
        })
    })
    .await
}
