//! `GET /api/v1/live-events/{id}`: one live event.

use actix_web::{HttpResponse, get, web};
use jobby_domain::model::ids::EventId;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::usecases::events;

use super::LiveEventBody;
use crate::AppState;
use crate::api::ErrorBody;
use crate::error::ApiError;
use crate::extract::path_id;
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "GET",
    "/api/v1/live-events/{id}",
    Access::Public,
    RateClass::Anonymous,
);

/// One live event. An event that is not live is not found.
#[utoipa::path(
    tag = "live-events",
    params(("id" = String, Path, description = "An event id, `evt_…`")),
    responses((status = 200, body = LiveEventBody), (status = 404, description = "No such live event", body = ErrorBody))
)]
#[get("/live-events/{id}")]
pub async fn get_live_event(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id::<EventId>(&id)?;
    let l = state
        .db
        .read(move |r| Box::pin(async move { events::live_one(r, id).await }))
        .await?;
    Ok(HttpResponse::Ok().json(LiveEventBody::from(l)))
}
