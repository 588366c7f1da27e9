//! `GET /api/v1/openapi.json`: the OpenAPI document.

use actix_web::{HttpResponse, get, web};
use jobby_domain::model::ratelimit::RateClass;

use crate::AppState;
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "GET",
    "/api/v1/openapi.json",
    Access::Public,
    RateClass::Anonymous,
);

/// The OpenAPI 3.1 document of this API (the same bytes as the committed `openapi.json`).
#[utoipa::path(tag = "meta", responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
#[get("/openapi.json")]
pub async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi.as_bytes().to_vec())
}
