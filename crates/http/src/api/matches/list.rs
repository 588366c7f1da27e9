//! `GET /api/v1/matches`: the caller's matches, newest first.

use std::collections::HashMap;

use actix_web::{HttpResponse, get, web};
use jobby_domain::model::ids::MatchId;
use jobby_domain::model::matches::MatchStatus;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::matches;
use serde::Serialize;
use utoipa::ToSchema;

use super::MatchBody;
use crate::AppState;
use crate::api::ErrorBody;
use crate::error::ApiError;
use crate::extract::{Authed, ListBody, page};
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "GET",
    "/api/v1/matches",
    Access::Token(Scope::MatchesRead),
    RateClass::Read,
);

#[derive(Serialize, ToSchema)]
pub struct MatchList {
    pub data: Vec<MatchBody>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// A match status's name, as the `status` filter takes it.
struct StatusName;

impl utoipa::PartialSchema for StatusName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(MatchStatus::ALL.map(MatchStatus::as_str)))
            .into()
    }
}

impl ToSchema for StatusName {}

/// The caller's matches, newest first.
#[utoipa::path(
    tag = "matches",
    params(
        ("status" = inline(Option<StatusName>), Query, description = "Only matches in this status"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..100, default 20"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")
    ),
    responses((status = 200, body = MatchList), (status = 400, description = "Bad status, limit or cursor", body = ErrorBody))
)]
#[get("/matches")]
pub async fn list_matches(
    state: web::Data<AppState>,
    Authed(p): Authed,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let page = page::<MatchId>(&query)?;
    let status = match query.get("status") {
        None => None,
        Some(s) => Some(MatchStatus::parse(s).ok_or_else(|| {
            ApiError::field(
                "status",
                "must be one of pending, accepted, completed, declined, expired",
            )
        })?),
    };
    let uid = p.user_id;
    let list = state
        .db
        .read(move |r| Box::pin(async move { matches::list(r, uid, status, page).await }))
        .await?;
    let base = state.config.public_url.clone();
    Ok(HttpResponse::Ok().json(ListBody::from(list.map(|m| MatchBody::new(m, &base)))))
}
