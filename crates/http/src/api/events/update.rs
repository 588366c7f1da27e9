//! `PATCH /api/v1/events/{id}`: edits an event the caller owns.

use actix_web::{HttpRequest, HttpResponse, patch, web};
use chrono::{DateTime, Utc};
use jobby_domain::model::account::AccountType;
use jobby_domain::model::event::{self, EventPatch};
use jobby_domain::model::ids::EventId;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::events;
use serde::Deserialize;
use utoipa::ToSchema;

use super::EventBody;
use crate::AppState;
use crate::api::ErrorBody;
use crate::api::mutate::{Reply, mutate};
use crate::extract::{Authed, RawBody, double_option, parse_json, path_id};
use crate::routes::{Access, RouteSpec, for_account, route};

pub const ROUTE: RouteSpec = for_account(
    route(
        "PATCH",
        "/api/v1/events/{id}",
        Access::Token(Scope::EventsWrite),
        RateClass::Write,
    ),
    AccountType::Recruiter,
);

/// Any subset of the event's fields. `null` clears an optional field.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchEvent {
    /// 1..200 characters (`null` leaves it as it is).
    #[schema(value_type = Option<crate::schema::Text<{ event::TITLE_MAX }>>, inline)]
    pub title: Option<String>,
    /// At most 5,000 characters.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::schema::Text<{ event::DESCRIPTION_MAX }>>, inline)]
    pub description: Option<Option<String>>,
    /// At most 200 characters.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::schema::Text<{ event::COMPANY_MAX }>>, inline)]
    pub company: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub starts_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub ends_at: Option<Option<DateTime<Utc>>>,
    /// Job ids (`job_…`), at most 50.
    #[schema(value_type = Option<Vec<crate::schema::JobIdText>>, max_items = 50, inline)]
    pub job_ids: Option<Vec<String>>,
    /// Replaces the interviewers (the owner always stays): recruiter account ids (`usr_…`),
    /// at most 500 seats in all, the owner included.
    #[schema(value_type = Option<Vec<crate::schema::UserIdText>>, max_items = 499, inline)]
    pub interviewer_ids: Option<Vec<String>>,
}

/// Edits an event the caller owns.
#[utoipa::path(
    tag = "events",
    params(("id" = String, Path, description = "An event id, `evt_…`")),
    request_body = PatchEvent,
    responses((status = 200, body = EventBody), (status = 404, description = "No such event of yours", body = ErrorBody), (status = 409, description = "EVENT_ENDED", body = ErrorBody))
)]
#[patch("/events/{id}")]
pub async fn patch_event(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authed(p): Authed,
    id: web::Path<String>,
    RawBody(body): RawBody,
) -> HttpResponse {
    let (uid, now, raw, id) = (p.user_id, state.clock.now(), body.clone(), id.into_inner());
    mutate(&state, &req, &p, &body, move |repo| {
        Box::pin(async move {
            let id = path_id::<EventId>(&id)?;
            let b: PatchEvent = parse_json(&raw)?;
            let patch = EventPatch {
                title: b.title,
                description: b.description,
                company: b.company,
                starts_at: b.starts_at,
                ends_at: b.ends_at,
                job_ids: b.job_ids,
                interviewer_ids: b.interviewer_ids,
            };
            let v = events::update(repo, uid, id, patch, now).await?;
            Reply::ok(&EventBody::from(v))
        })
    })
    .await
}
