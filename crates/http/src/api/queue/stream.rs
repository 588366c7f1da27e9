//! `GET /api/v1/queue/stream`: the caller's queue status as Server-Sent Events.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::auth::AuthError;
use serde_json::json;

use crate::AppState;
use crate::api::ErrorBody;
use crate::error::{ApiError, Code};
use crate::extract::Authed;
use crate::feed;
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "GET",
    "/api/v1/queue/stream",
    Access::Token(Scope::QueueRead),
    RateClass::Read,
);

/// One event of the stream, as an event-stream parser hands it out (the OpenAPI 3.1 reading
/// of `schema` under `text/event-stream`: each event, not the whole stream).
struct StreamEvent;

impl utoipa::PartialSchema for StreamEvent {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        serde_json::from_value(json!({
            "type": "object",
            "description": "A Server-Sent Event. `status` carries a QueueStatusBody as JSON; `closing` carries `{\"reason\": \"shutdown\"}` or `{\"reason\": \"unauthorized\"}` before the stream ends. The first event also sets `retry` (milliseconds before reconnecting).",
            "properties": {
                "event": { "type": "string", "enum": ["status", "closing"] },
                "data": { "type": "string", "contentMediaType": "application/json" },
                "retry": { "type": "integer", "minimum": 0 }
            },
            "required": ["event", "data"]
        }))
        .expect("a valid schema")
    }
}

impl utoipa::ToSchema for StreamEvent {}

/// The caller's status as Server-Sent Events, so agents need not poll: an `event: status`
/// with the status object at once, another whenever it changes (position, queue length,
/// match), a `: heartbeat` comment every 15 seconds while nothing changes, and
/// `event: closing` before the server shuts down (`{"reason":"shutdown"}`) or once the token
/// is revoked or expired (`{"reason":"unauthorized"}`, noticed at the next heartbeat).
/// Reconnect on close; the first event always carries the current status. A change to the
/// caller's own state (matched, the match's status, left) is sent at once; the place and
/// queue length follow other seekers' changes within about a second, up to a few seconds
/// when thousands of streams are open. A token may hold 5 streams open at once (per server
/// process); one more is refused with 429 until one closes.
#[utoipa::path(
    tag = "queue",
    responses((
        status = 200,
        description = "`text/event-stream`; the schema describes each event",
        content_type = "text/event-stream",
        body = StreamEvent,
        example = "retry: 3000\nevent: status\ndata: {\"status\":\"waiting\",\"event_id\":\"evt_…\",\"position\":3,\"queue_length\":7,\"match_id\":null,\"match_status\":null,\"poll_interval_seconds\":5}\n\n"
    ), (
        status = 429,
        description = "RATE_LIMITED: the token already has 5 streams open",
        body = ErrorBody
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
