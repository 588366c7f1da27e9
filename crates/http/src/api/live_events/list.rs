//! `GET /api/v1/live-events`: live events, newest first.

use std::collections::HashMap;

use actix_web::{HttpResponse, get, web};
use jobby_domain::model::ids::EventId;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::usecases::events;
use serde::Serialize;
use utoipa::ToSchema;

use super::LiveEventBody;
use crate::AppState;
use crate::api::ErrorBody;
use crate::error::ApiError;
use crate::extract::{ListBody, page};
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "GET",
    "/api/v1/live-events",
    Access::Public,
    RateClass::Anonymous,
);

#[derive(Serialize, ToSchema)]
pub struct LiveEventList {
    pub data: Vec<LiveEventBody>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// Live events, newest first, with queue length and an estimated wait.
#[utoipa::path(
    tag = "live-events",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..100, default 20"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, body = LiveEventList), (status = 400, description = "Bad limit or cursor", body = ErrorBody))
)]
#[get("/live-events")]
pub async fn list_live_events(
    state: web::Data<AppState>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let page = page::<EventId>(&query)?;
    let list = state
        .db
        .read(move |r| Box::pin(async move { events::live_list(r, page).await }))
        .await?;
    Ok(HttpResponse::Ok().json(ListBody::from(list.map(LiveEventBody::from))))
}
