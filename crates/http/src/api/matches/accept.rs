//! `POST /api/v1/matches/{id}/accept`: a human accepts a match, in their browser session.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, post, web};
use jobby_domain::model::ids::MatchId;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::session;
use jobby_domain::usecases::matches;

use super::{MatchBody, accept_as};
use crate::AppState;
use crate::api::ErrorBody;
use crate::api::mutate::{Reply, mutate_as};
use crate::error::{ApiError, Code};
use crate::extract::{RawBody, path_id};
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "POST",
    "/api/v1/matches/{id}/accept",
    Access::Session,
    RateClass::Anonymous,
);

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
        (status = 401, description = "UNAUTHENTICATED: no browser session", body = ErrorBody),
        (status = 403, description = "HUMAN_SESSION_REQUIRED (an Authorization header was sent) or CSRF_FAILED", body = ErrorBody),
        (status = 404, description = "No such match of yours", body = ErrorBody),
        (status = 409, description = "MATCH_NOT_PENDING (also once expired)", body = ErrorBody)
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
