//! `GET /api/v1/tokens/current`: the deprecated alias of `GET /api/v1/tokens/self`.

use actix_web::{HttpResponse, get};
use jobby_domain::model::ratelimit::RateClass;

use super::TokenSelf;
use crate::extract::Authed;
use crate::routes::{Access, Deprecation, RouteSpec, route};

pub const ROUTE: RouteSpec = RouteSpec {
    deprecation: Some(Deprecation {
        since: 1_764_028_800, // 2025-11-25
        sunset: "Wed, 25 Nov 2027 00:00:00 GMT",
        link: "/api/v1/openapi.json#/paths/~1api~1v1~1tokens~1self",
    }),
    ..route(
        "GET",
        "/api/v1/tokens/current",
        Access::AnyToken,
        RateClass::Read,
    )
};

/// Deprecated alias of `GET /tokens/self`.
#[utoipa::path(tag = "tokens", responses((status = 200, body = TokenSelf)))]
#[get("/tokens/current")]
pub async fn token_current(Authed(p): Authed) -> HttpResponse {
    HttpResponse::Ok().json(TokenSelf::from(&*p))
}
