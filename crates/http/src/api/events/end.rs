//! `POST /api/v1/events/{id}/end`: ends a live event.

use actix_web::{HttpRequest, HttpResponse, post, web};
use jobby_domain::model::account::AccountType;
use jobby_domain::model::ids::EventId;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::events;

use super::EventBody;
use crate::AppState;
use crate::api::ErrorBody;
use crate::api::mutate::{Reply, mutate};
use crate::extract::{Authed, RawBody, path_id};
use crate::routes::{Access, RouteSpec, for_account, route};

pub const ROUTE: RouteSpec = for_account(
    route(
        "POST",
        "/api/v1/events/{id}/end",
        Access::Token(Scope::EventsWrite),
        RateClass::Write,
    ),
    AccountType::Recruiter,
);

/// Ends a live event: waiting seekers leave its queue and pending matches expire; accepted
/// interviews go on. Ending an ended event answers the same.
#[utoipa::path(
    tag = "events",
    params(("id" = String, Path, description = "An event id, `evt_…`")),
    responses((status = 200, body = EventBody), (status = 404, description = "No such event of yours", body = ErrorBody), (status = 409, description = "EVENT_NOT_LIVE", body = ErrorBody))
)]
#[post("/events/{id}/end")]
pub async fn end_event(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authed(p): Authed,
    id: web::Path<String>,
    RawBody(body): RawBody,
) -> HttpResponse {
    let (uid, now, id) = (p.user_id, state.clock.now(), id.into_inner());
    mutate(&state, &req, &p, &body, move |repo| {
        Box::pin(async move {
            let id = path_id::<EventId>(&id)?;
            Reply::ok(&EventBody::from(events::end(repo, uid, id, now).await?))
        })
    })
    .await
}
