//! `GET /api/v1/events/{id}`: one of the caller's events.

use actix_web::{HttpResponse, get, web};
use jobby_domain::model::account::AccountType;
use jobby_domain::model::ids::EventId;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::events;

use super::EventBody;
use crate::AppState;
use crate::api::ErrorBody;
use crate::error::ApiError;
use crate::extract::{Authed, path_id};
use crate::routes::{Access, RouteSpec, for_account, route};

pub const ROUTE: RouteSpec = for_account(
    route(
        "GET",
        "/api/v1/events/{id}",
        Access::Token(Scope::EventsRead),
        RateClass::Read,
    ),
    AccountType::Recruiter,
);

/// One of the caller's events.
#[utoipa::path(
    tag = "events",
    params(("id" = String, Path, description = "An event id, `evt_…`")),
    responses((status = 200, body = EventBody), (status = 404, description = "No such event of yours", body = ErrorBody))
)]
#[get("/events/{id}")]
pub async fn get_event(
    state: web::Data<AppState>,
    Authed(p): Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<EventId>(&id)?;
    let uid = p.user_id;
    let v = state
        .db
        .read(move |r| Box::pin(async move { events::get(r, uid, id).await }))
        .await?;
    Ok(HttpResponse::Ok().json(EventBody::from(v)))
}
