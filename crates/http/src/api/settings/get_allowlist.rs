//! `GET /api/v1/settings/ip-allowlist`: the caller's IP allowlist.

use actix_web::{HttpResponse, get, web};
use jobby_domain::Error;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;

use super::Allowlist;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::Authed;
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "GET",
    "/api/v1/settings/ip-allowlist",
    Access::Token(Scope::SettingsRead),
    RateClass::Read,
);

/// The caller's IP allowlist.
#[utoipa::path(tag = "settings", responses((status = 200, body = Allowlist)))]
#[get("/settings/ip-allowlist")]
pub async fn get_allowlist(
    state: web::Data<AppState>,
    Authed(p): Authed,
) -> Result<HttpResponse, ApiError> {
    let uid = p.user_id;
    let nets = state
        .db
        .read(move |r| Box::pin(async move { r.allowlist(uid).await.map_err(Error::from) }))
        .await?;
    Ok(HttpResponse::Ok().json(Allowlist {
        cidrs: nets.iter().map(ToString::to_string).collect(),
    }))
}
