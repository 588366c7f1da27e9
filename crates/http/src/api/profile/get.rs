//! `GET /api/v1/profile`: the caller's profile.

use actix_web::{HttpResponse, get, web};
use jobby_domain::Error;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;

use super::ProfileBody;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::Authed;
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "GET",
    "/api/v1/profile",
    Access::Token(Scope::ProfileRead),
    RateClass::Read,
);

/// The caller's profile.
#[utoipa::path(tag = "profile", responses((status = 200, body = ProfileBody)))]
#[get("/profile")]
pub async fn get_profile(
    state: web::Data<AppState>,
    Authed(p): Authed,
) -> Result<HttpResponse, ApiError> {
    let uid = p.user_id;
    let profile = state
        .db
        .read(move |r| Box::pin(async move { r.profile(uid).await.map_err(Error::from) }))
        .await?;
    Ok(HttpResponse::Ok().json(ProfileBody::from(profile)))
}
