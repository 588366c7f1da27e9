use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, delete, get, web};
use chrono::{DateTime, Utc};
use jobby_domain::Error;
use jobby_domain::model::account::AccountType;
use jobby_domain::model::ids::{TokenId, UserId};
use jobby_domain::model::token::{TokenPrincipal, TokenRecord};
use jobby_domain::usecases::tokens;
use serde::Serialize;
use utoipa::ToSchema;

use super::mutate::{Reply, mutate};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Authed, ListBody, RawBody, page, path_id};

/// The token making the call.
#[derive(Serialize, ToSchema)]
pub struct TokenSelf {
    #[schema(value_type = String, example = "tok_0193b1c2d3e4f5a6b7c8d9e0f1a2b3c4")]
    pub id: TokenId,
    #[schema(value_type = Vec<String>, example = json!(["profile:read", "queue:read"]))]
    pub scopes: Vec<&'static str>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    #[schema(value_type = String)]
    pub user_id: UserId,
    #[schema(value_type = String, example = "seeker")]
    pub account_type: AccountType,
}

impl From<&TokenPrincipal> for TokenSelf {
    fn from(p: &TokenPrincipal) -> Self {
        TokenSelf {
            id: p.token_id,
            scopes: p.scopes.iter().map(|s| s.as_str()).collect(),
            expires_at: p.expires_at,
            user_id: p.user_id,
            account_type: p.account_type,
        }
    }
}

/// A personal access token as its owner sees it. The secret is never shown again.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    #[schema(value_type = String)]
    pub id: TokenId,
    pub name: String,
    #[schema(value_type = Vec<String>)]
    pub scopes: Vec<&'static str>,
    /// The last four characters of the token, to recognise it.
    pub last4: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<TokenRecord> for TokenView {
    fn from(t: TokenRecord) -> Self {
        TokenView {
            id: t.id,
            name: t.name,
            scopes: t.scopes.iter().map(|s| s.as_str()).collect(),
            last4: t.last4,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            last_used_ip: t.last_used_ip,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    pub data: Vec<TokenView>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// The calling token: id, scopes, expiry, owner id and account type.
#[utoipa::path(tag = "tokens", responses((status = 200, body = TokenSelf)))]
#[get("/tokens/self")]
pub async fn token_self(Authed(p): Authed) -> HttpResponse {
    HttpResponse::Ok().json(TokenSelf::from(&*p))
}

/// Deprecated alias of `GET /tokens/self`.
#[utoipa::path(tag = "tokens", responses((status = 200, body = TokenSelf)))]
#[get("/tokens/current")]
pub async fn token_current(Authed(p): Authed) -> HttpResponse {
    HttpResponse::Ok().json(TokenSelf::from(&*p))
}

/// The caller's tokens, newest first.
#[utoipa::path(
    tag = "tokens",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..100, default 20"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, body = TokenList), (status = 400, description = "Bad limit or cursor", body = super::ErrorBody))
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

/// Revokes one of the caller's tokens, at once. Revoking a revoked token answers the same.
#[utoipa::path(
    tag = "tokens",
    params(("id" = String, Path, description = "A token id, `tok_…`")),
    responses((status = 200, description = "The revoked token", body = TokenView), (status = 404, description = "No such token of yours", body = super::ErrorBody))
)]
#[delete("/api-tokens/{id}")]
pub async fn revoke_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authed(p): Authed,
    id: web::Path<String>,
    RawBody(body): RawBody,
) -> HttpResponse {
    let uid = p.user_id;
    let now = state.clock.now();
    let id = id.into_inner();
    let res = mutate(&state, &req, &p, &body, move |repo| {
        Box::pin(async move {
            let id = path_id::<TokenId>(&id)?;
            let t = tokens::revoke(repo, uid, id, now)
                .await
                .map_err(ApiError::from)?;
            Reply::ok(&TokenView::from(t))
        })
    })
    .await;
    if res.status().is_success() {
        state.auth.invalidate_all();
    }
    res
}

/// For the account pages: the caller's tokens.
pub async fn all_tokens(state: &AppState, user: UserId) -> Result<Vec<TokenRecord>, Error> {
    let page = jobby_domain::model::page::PageRequest {
        limit: 100,
        after: None,
    };
    state
        .db
        .read(move |r| Box::pin(async move { tokens::list(r, user, page).await }))
        .await
        .map(|p| p.data)
}
