//! `GET /api/v1/api-tokens`: the caller's tokens, newest first.

use std::collections::HashMap;

use actix_web::{HttpResponse, get, web};
use jobby_domain::model::ids::TokenId;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::tokens;
use serde::Serialize;
use utoipa::ToSchema;

use super::TokenView;
use crate::AppState;
use crate::api::ErrorBody;
use crate::error::ApiError;
use crate::extract::{Authed, ListBody, page};
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "GET",
    "/api/v1/api-tokens",
    Access::Token(Scope::SettingsRead),
    RateClass::Read,
);

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    pub data: Vec<TokenView>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// The caller's tokens, newest first.
#[utoipa::path(
    tag = "tokens",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..100, default 20"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, body = TokenList), (status = 400, description = "Bad limit or cursor", body = ErrorBody))
)]
#[get("/api-tokens")]
pub async fn list_tokens(
    state: web::Data<AppState>,
    Authed(p): Authed,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let page = page::<TokenId>(&query)?;
    let uid = p.user_id;
    let list = state
        .db
        .read(move |r| Box::pin(async move { tokens::list(r, uid, page).await }))
        .await?;
    Ok(HttpResponse::Ok().json(ListBody::from(list.map(TokenView::from))))
}
