//! `POST /api/v1/events`: creates an event owned by the caller.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Utc};
use jobby_domain::model::account::AccountType;
use jobby_domain::model::event::{self, EventPatch};
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::events;
use serde::Deserialize;
use utoipa::ToSchema;

use super::EventBody;
use crate::AppState;
use crate::api::ErrorBody;
use crate::api::mutate::{Reply, mutate};
use crate::extract::{Authed, RawBody, parse_json};
use crate::routes::{Access, RouteSpec, for_account, route};

pub const ROUTE: RouteSpec = for_account(
    route(
        "POST",
        "/api/v1/events",
        Access::Token(Scope::EventsWrite),
        RateClass::Write,
    ),
    AccountType::Recruiter,
);

/// A new event. It starts as `draft`, or `scheduled` when `starts_at` is set.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEvent {
    /// 1..200 characters.
    #[schema(value_type = crate::schema::Text<{ event::TITLE_MAX }>, inline)]
    pub title: String,
    /// At most 5,000 characters.
    #[schema(value_type = Option<crate::schema::Text<{ event::DESCRIPTION_MAX }>>, inline)]
    pub description: Option<String>,
    /// At most 200 characters.
    #[schema(value_type = Option<crate::schema::Text<{ event::COMPANY_MAX }>>, inline)]
    pub company: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    /// After `starts_at`.
    pub ends_at: Option<DateTime<Utc>>,
    /// Job ids (`job_…`), at most 50.
    #[schema(value_type = Option<Vec<crate::schema::JobIdText>>, max_items = 50, inline)]
    pub job_ids: Option<Vec<String>>,
    /// Recruiter account ids (`usr_…`) who interview besides the owner; at most 500 seats
    /// in all, the owner included.
    #[schema(value_type = Option<Vec<crate::schema::UserIdText>>, max_items = 499, inline)]
    pub interviewer_ids: Option<Vec<String>>,
}

/// Creates an event owned by the caller, who is its first interviewer.
#[utoipa::path(
    tag = "events",
    request_body = CreateEvent,
    responses((status = 201, body = EventBody), (status = 400, description = "Invalid fields, named in `details.fields`", body = ErrorBody))
)]
#[post("/events")]
pub async fn create_event(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authed(p): Authed,
    RawBody(body): RawBody,
) -> HttpResponse {
    let (uid, now, raw) = (p.user_id, state.clock.now(), body.clone());
    mutate(&state, &req, &p, &body, move |repo| {
        Box::pin(async move {
            let c: CreateEvent = parse_json(&raw)?;
            let patch = EventPatch {
                title: Some(c.title),
                description: Some(c.description),
                company: Some(c.company),
                starts_at: Some(c.starts_at),
                ends_at: Some(c.ends_at),
                job_ids: c.job_ids,
                interviewer_ids: c.interviewer_ids,
            };
            let v = events::create(repo, uid, patch, now).await?;
            Reply::with_status(StatusCode::CREATED, &EventBody::from(v))
        })
    })
    .await
}
