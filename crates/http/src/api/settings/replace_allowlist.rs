//! `PUT /api/v1/settings/ip-allowlist`: replaces the caller's IP allowlist.

use actix_web::{HttpRequest, HttpResponse, put, web};
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::profile;

use super::Allowlist;
use crate::AppState;
use crate::api::ErrorBody;
use crate::api::mutate::{Reply, mutate};
use crate::extract::{Authed, RawBody, parse_json};
use crate::mw::caller_ip;
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "PUT",
    "/api/v1/settings/ip-allowlist",
    Access::Token(Scope::SettingsWrite),
    RateClass::Write,
);

/// Replaces the IP allowlist. A list that would exclude the caller's own address is refused,
/// so nobody locks themselves out.
#[utoipa::path(
    tag = "settings",
    request_body = Allowlist,
    responses((status = 200, body = Allowlist), (status = 400, description = "Malformed CIDR, too many entries, or the list would exclude the caller", body = ErrorBody))
)]
#[put("/settings/ip-allowlist")]
pub async fn put_allowlist(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authed(p): Authed,
    RawBody(body): RawBody,
) -> HttpResponse {
    let (uid, now) = (p.user_id, state.clock.now());
    let raw = body.clone();
    let caller = caller_ip(&req);
    let res = mutate(&state, &req, &p, &body, move |repo| {
        Box::pin(async move {
            let b: Allowlist = parse_json(&raw)?;
            let nets = profile::replace_allowlist(repo, uid, &b.cidrs, caller, now).await?;
            Reply::ok(&Allowlist {
                cidrs: nets.iter().map(ToString::to_string).collect(),
            })
        })
    })
    .await;
    if res.status().is_success() {
        // At once here; other processes hear of it through the outbox.
        state.auth.invalidate_users(&[uid]);
    }
    res
}
