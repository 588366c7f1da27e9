//! `PUT /api/v1/events/{id}/availability`: marks the calling interviewer available or away.

use actix_web::{HttpRequest, HttpResponse, put, web};
use jobby_domain::model::account::AccountType;
use jobby_domain::model::ids::EventId;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::events;
use serde::Deserialize;
use utoipa::ToSchema;

use super::EventBody;
use crate::AppState;
use crate::api::ErrorBody;
use crate::api::mutate::{Reply, mutate, round_after};
use crate::extract::{Authed, RawBody, parse_json, path_id};
use crate::routes::{Access, RouteSpec, for_account, route};

pub const ROUTE: RouteSpec = for_account(
    route(
        "PUT",
        "/api/v1/events/{id}/availability",
        Access::Token(Scope::EventsWrite),
        RateClass::Write,
    ),
    AccountType::Recruiter,
);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    /// Whether the calling interviewer receives matches.
    pub available: bool,
}

/// Marks the calling interviewer available (matches start at once) or away.
#[utoipa::path(
    tag = "events",
    params(("id" = String, Path, description = "An event id, `evt_…`")),
    request_body = Availability,
    responses((status = 200, body = EventBody), (status = 404, description = "No such event you interview at", body = ErrorBody), (status = 409, description = "EVENT_ENDED", body = ErrorBody))
)]
#[put("/events/{id}/availability")]
pub async fn put_availability(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authed(p): Authed,
    id: web::Path<String>,
    RawBody(body): RawBody,
) -> HttpResponse {
    let (uid, now, raw, id) = (p.user_id, state.clock.now(), body.clone(), id.into_inner());
    let event = path_id::<EventId>(&id).ok();
    let resp = mutate(&state, &req, &p, &body, move |repo| {
        Box::pin(async move {
            let id = path_id::<EventId>(&id)?;
            let a: Availability = parse_json(&raw)?;
            let v = events::set_availability(repo, uid, id, a.available, now).await?;
            Reply::ok(&EventBody::from(v))
        })
    })
    .await;
    if let Some(event) = event.filter(|_| resp.status().is_success()) {
        round_after(&state, event).await;
    }
    resp
}
