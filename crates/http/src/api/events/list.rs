//! `GET /api/v1/events`: the caller's events, newest first.

use std::collections::HashMap;

use actix_web::{HttpResponse, get, web};
use jobby_domain::model::account::AccountType;
use jobby_domain::model::ids::EventId;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::events;
use serde::Serialize;
use utoipa::ToSchema;

use super::EventBody;
use crate::AppState;
use crate::api::ErrorBody;
use crate::error::ApiError;
use crate::extract::{Authed, ListBody, page};
use crate::routes::{Access, RouteSpec, for_account, route};

pub const ROUTE: RouteSpec = for_account(
    route(
        "GET",
        "/api/v1/events",
        Access::Token(Scope::EventsRead),
        RateClass::Read,
    ),
    AccountType::Recruiter,
);

#[derive(Serialize, ToSchema)]
pub struct EventList {
    pub data: Vec<EventBody>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// The caller's events (owned or interviewing at), newest first.
#[utoipa::path(
    tag = "events",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..100, default 20"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, body = EventList), (status = 400, description = "Bad limit or cursor", body = ErrorBody))
)]
#[get("/events")]
pub async fn list_events(
    state: web::Data<AppState>,
    Authed(p): Authed,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let page = page::<EventId>(&query)?;
    let uid = p.user_id;
    let list = state
        .db
        .read(move |r| Box::pin(async move { events::list(r, uid, page).await }))
        .await?;
    Ok(HttpResponse::Ok().json(ListBody::from(list.map(EventBody::from))))
}
