//! `GET /api/v1/settings`: the caller's settings.

use actix_web::{HttpResponse, get, web};
use jobby_domain::Error;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;

use super::SettingsBody;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::Authed;
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "GET",
    "/api/v1/settings",
    Access::Token(Scope::SettingsRead),
    RateClass::Read,
);

/// The caller's settings.
#[utoipa::path(tag = "settings", responses((status = 200, body = SettingsBody)))]
#[get("/settings")]
pub async fn get_settings(
    state: web::Data<AppState>,
    Authed(p): Authed,
) -> Result<HttpResponse, ApiError> {
    let uid = p.user_id;
    let s = state
        .db
        .read(move |r| Box::pin(async move { r.settings(uid).await.map_err(Error::from) }))
        .await?;
    Ok(HttpResponse::Ok().json(SettingsBody::from(s)))
}
