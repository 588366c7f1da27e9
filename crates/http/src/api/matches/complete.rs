//! `POST /api/v1/matches/{id}/complete`: the interviewer marks the interview over.

use actix_web::{HttpRequest, HttpResponse, post, web};
use jobby_domain::model::account::AccountType;
use jobby_domain::model::ids::MatchId;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::matches;

use super::MatchBody;
use crate::AppState;
use crate::api::ErrorBody;
use crate::api::mutate::{Reply, mutate};
use crate::extract::{Authed, RawBody, path_id};
use crate::routes::{Access, RouteSpec, for_account, route};

pub const ROUTE: RouteSpec = for_account(
    route(
        "POST",
        "/api/v1/matches/{id}/complete",
        Access::Token(Scope::MatchesWrite),
        RateClass::Write,
    ),
    AccountType::Recruiter,
);

/// The interviewer marks the interview over; their seat is free for the next seeker.
#[utoipa::path(
    tag = "matches",
    params(("id" = String, Path, description = "A match id, `mtc_…`")),
    responses((status = 200, body = MatchBody), (status = 404, description = "No such match you interview in", body = ErrorBody), (status = 409, description = "MATCH_NOT_ACCEPTED", body = ErrorBody))
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
    let match_id = path_id::<MatchId>(&id).ok();
    let resp = mutate(&state, &req, &p, &body, move |repo| {
        Box::pin(async move {
            let id = path_id::<MatchId>(&id)?;
            let m = matches::complete(repo, uid, id, now).await?;
            Reply::ok(&MatchBody::new(m, &base))
        })
    })
    .await;
    // The freed seat may have been missed by the round inside the completion (a seeker who
    // joined meanwhile); one more after the commit catches them.
    if let Some(id) = match_id.filter(|_| resp.status().is_success()) {
        super::match_after(&state, uid, id).await;
    }
    resp
}
