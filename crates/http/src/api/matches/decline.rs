//! `POST /api/v1/matches/{id}/decline`: declines a match, as either participant.

use actix_web::{HttpRequest, HttpResponse, post, web};
use jobby_domain::model::ids::MatchId;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::matches;
use utoipa::ToSchema;

use super::MatchBody;
use crate::AppState;
use crate::api::ErrorBody;
use crate::api::mutate::{Reply, mutate};
use crate::extract::{Authed, RawBody, path_id};
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "POST",
    "/api/v1/matches/{id}/decline",
    Access::Token(Scope::MatchesWrite),
    RateClass::Write,
);

/// Declines a match (either participant) while it is pending, or accepted but not started
/// (nobody has entered the room yet). A seeker who declines leaves the queue; when the
/// interviewer declines, the seeker waits again at their original place.
#[utoipa::path(
    tag = "matches",
    params(("id" = String, Path, description = "A match id, `mtc_…`")),
    request_body(content = Option<DeclineMatch>, description = "Optional"),
    responses((status = 200, body = MatchBody), (status = 404, description = "No such match of yours", body = ErrorBody), (status = 409, description = "MATCH_NOT_PENDING", body = ErrorBody))
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
    let match_id = id.clone();
    let resp = mutate(&state, &req, &p, &body, move |repo| {
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
    .await;
    // The seat the decline freed goes to the next seeker in a matching round of its own.
    if resp.status().is_success()
        && let Ok(id) = path_id::<MatchId>(&match_id)
    {
        crate::api::matches::match_after(&state, uid, id).await;
    }
    resp
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineMatch {
    /// Why, at most 500 characters; passed on in the `match.declined` event.
    #[schema(value_type = Option<crate::schema::Text<{ jobby_domain::usecases::matches::DECLINE_REASON_MAX }>>, inline)]
    pub reason: Option<String>,
}
