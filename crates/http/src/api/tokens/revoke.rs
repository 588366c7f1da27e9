//! `DELETE /api/v1/api-tokens/{id}`: revokes one of the caller's tokens.

use actix_web::{HttpRequest, HttpResponse, delete, web};
use jobby_domain::model::ids::TokenId;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::tokens;

use super::TokenView;
use crate::AppState;
use crate::api::ErrorBody;
use crate::api::mutate::{Reply, mutate};
use crate::error::ApiError;
use crate::extract::{Authed, RawBody, path_id};
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "DELETE",
    "/api/v1/api-tokens/{id}",
    Access::Token(Scope::SettingsWrite),
    RateClass::Write,
);

/// Revokes one of the caller's tokens, at once. Revoking a revoked token answers the same.
#[utoipa::path(
    tag = "tokens",
    params(("id" = String, Path, description = "A token id, `tok_…`")),
    responses((status = 200, description = "The revoked token", body = TokenView), (status = 404, description = "No such token of yours", body = ErrorBody))
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
        // At once here; other processes hear of it through the outbox.
        state.auth.invalidate_users(&[uid]);
    }
    res
}
