//! `POST /api/v1/events/{id}/start`: takes an event live.

use actix_web::{HttpRequest, HttpResponse, post, web};
use jobby_domain::model::account::AccountType;
use jobby_domain::model::ids::EventId;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::events;

use super::EventBody;
use crate::AppState;
use crate::api::ErrorBody;
use crate::api::mutate::{Reply, mutate, round_after};
use crate::extract::{Authed, RawBody, path_id};
use crate::routes::{Access, RouteSpec, for_account, route};

pub const ROUTE: RouteSpec = for_account(
    route(
        "POST",
        "/api/v1/events/{id}/start",
        Access::Token(Scope::EventsWrite),
        RateClass::Write,
    ),
    AccountType::Recruiter,
);

/// Takes an event live (`draft|scheduled → live`) and marks the owner available. Starting a
/// live event answers the same.
#[utoipa::path(
    tag = "events",
    params(("id" = String, Path, description = "An event id, `evt_…`")),
    responses((status = 200, body = EventBody), (status = 404, description = "No such event of yours", body = ErrorBody), (status = 409, description = "EVENT_ENDED", body = ErrorBody))
)]
#[post("/events/{id}/start")]
pub async fn start_event(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authed(p): Authed,
    id: web::Path<String>,
    RawBody(body): RawBody,
) -> HttpResponse {
    let (uid, now, id) = (p.user_id, state.clock.now(), id.into_inner());
    let event = path_id::<EventId>(&id).ok();
    let resp = mutate(&state, &req, &p, &body, move |repo| {
        Box::pin(async move {
            let id = path_id::<EventId>(&id)?;
            Reply::ok(&EventBody::from(events::start(repo, uid, id, now).await?))
        })
    })
    .await;
    if let Some(event) = event.filter(|_| resp.status().is_success()) {
        round_after(&state, event).await;
    }
    resp
}
