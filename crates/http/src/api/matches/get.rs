//! `GET /api/v1/matches/{id}`: one of the caller's matches.

use actix_web::{HttpResponse, get, web};
use jobby_domain::model::ids::MatchId;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::matches;

use super::MatchBody;
use crate::AppState;
use crate::api::ErrorBody;
use crate::error::ApiError;
use crate::extract::{Authed, path_id};
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "GET",
    "/api/v1/matches/{id}",
    Access::Token(Scope::MatchesRead),
    RateClass::Read,
);

/// One of the caller's matches.
#[utoipa::path(
    tag = "matches",
    params(("id" = String, Path, description = "A match id, `mtc_…`")),
    responses((status = 200, body = MatchBody), (status = 404, description = "No such match of yours", body = ErrorBody))
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
