//! `GET /api/v1/tokens/self`: the token making the call.

use actix_web::{HttpResponse, get};
use jobby_domain::model::ratelimit::RateClass;

use super::TokenSelf;
use crate::extract::Authed;
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "GET",
    "/api/v1/tokens/self",
    Access::AnyToken,
    RateClass::Read,
);

/// The calling token: id, scopes, expiry, owner id and account type.
#[utoipa::path(tag = "tokens", responses((status = 200, body = TokenSelf)))]
#[get("/tokens/self")]
pub async fn token_self(Authed(p): Authed) -> HttpResponse {
    HttpResponse::Ok().json(TokenSelf::from(&*p))
}
