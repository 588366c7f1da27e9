use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use jobby_domain::model::event::{
    EventPatch, LiveEvent, MINUTES_PER_INTERVIEW, Seat, estimated_wait_seconds,
};
use jobby_domain::model::ids::{EventId, UserId};
use jobby_domain::usecases::events::{self, EventView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::mutate::{Reply, mutate};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Authed, ListBody, RawBody, double_option, page, parse_json, path_id};

#[derive(Serialize, ToSchema)]
pub struct InterviewerBody {
    #[schema(value_type = String)]
    pub user_id: UserId,
    /// Receiving matches now.
    pub available: bool,
}

impl From<Seat> for InterviewerBody {
    fn from(s: Seat) -> Self {
        InterviewerBody {
            user_id: s.user_id,
            available: s.available,
        }
    }
}

/// An event as its owner and interviewers see it.
#[derive(Serialize, ToSchema)]
pub struct EventBody {
    #[schema(value_type = String, example = "evt_0193b1c2d3e4f5a6b7c8d9e0f1a2b3c4")]
    pub id: EventId,
    pub title: String,
    pub description: Option<String>,
    pub company: Option<String>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub ends_at: Option<DateTime<Utc>>,
    /// Jobs (`job_…`) the event hires for.
    #[schema(value_type = Vec<String>)]
    pub job_ids: Vec<String>,
    /// `draft`, `scheduled`, `live` or `ended`.
    #[schema(value_type = String, example = "live")]
    pub status: &'static str,
    #[schema(value_type = String)]
    pub owner_id: UserId,
    /// The owner first; each holds one seat.
    pub interviewers: Vec<InterviewerBody>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub ended_at: Option<DateTime<Utc>>,
}

impl From<EventView> for EventBody {
    fn from(v: EventView) -> Self {
        let e = v.event;
        let mut seats = v.seats;
        seats.sort_by_key(|s| (s.user_id != e.owner_id, s.user_id));
        EventBody {
            id: e.id,
            title: e.title,
            description: e.description,
            company: e.company,
            starts_at: e.starts_at,
            ends_at: e.ends_at,
            job_ids: e.job_ids.iter().map(ToString::to_string).collect(),
            status: e.status.as_str(),
            owner_id: e.owner_id,
            interviewers: seats.into_iter().map(InterviewerBody::from).collect(),
            created_at: e.created_at,
            started_at: e.started_at,
            ended_at: e.ended_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EventList {
    pub data: Vec<EventBody>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// A new event. It starts as `draft`, or `scheduled` when `starts_at` is set.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEvent {
    /// 1..200 characters.
    pub title: String,
    pub description: Option<String>,
    pub company: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    /// After `starts_at`.
    pub ends_at: Option<DateTime<Utc>>,
    /// Job ids (`job_…`), at most 50.
    pub job_ids: Option<Vec<String>>,
    /// Recruiter account ids (`usr_…`) who interview besides the owner; at most 500 seats
    /// in all, the owner included.
    pub interviewer_ids: Option<Vec<String>>,
}

/// Any subset of the event's fields. `null` clears an optional field.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchEvent {
    pub title: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub company: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub starts_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub ends_at: Option<Option<DateTime<Utc>>>,
    pub job_ids: Option<Vec<String>>,
    /// Replaces the interviewers (the owner always stays).
    pub interviewer_ids: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    /// Whether the calling interviewer receives matches.
    pub available: bool,
}

/// A live event as the public sees it.
#[derive(Serialize, ToSchema)]
pub struct LiveEventBody {
    #[schema(value_type = String)]
    pub id: EventId,
    pub title: String,
    pub description: Option<String>,
    pub company: Option<String>,
    /// Jobs (`job_…`) the event hires for.
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<String>,
    /// Seekers waiting now.
    pub queue_length: u32,
    /// Interviewers receiving matches now.
    pub available_interviewers: u32,
    /// A rough wait for someone joining now, assuming 10-minute interviews.
    pub estimated_wait_seconds: u32,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub ends_at: Option<DateTime<Utc>>,
}

impl From<LiveEvent> for LiveEventBody {
    fn from(l: LiveEvent) -> Self {
        let e = l.event;
        LiveEventBody {
            id: e.id,
            title: e.title,
            description: e.description,
            company: e.company,
            roles: e.job_ids.iter().map(ToString::to_string).collect(),
            queue_length: l.queue_length,
            available_interviewers: l.available_seats,
            estimated_wait_seconds: estimated_wait_seconds(
                l.queue_length + 1,
                l.available_seats,
                MINUTES_PER_INTERVIEW,
            ),
            started_at: e.started_at,
            ends_at: e.ends_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LiveEventList {
    pub data: Vec<LiveEventBody>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// The caller's events (owned or interviewing at), newest first.
#[utoipa::path(
    tag = "events",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..100, default 20"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, body = EventList), (status = 400, description = "Bad limit or cursor", body = super::ErrorBody))
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

/// Creates an event owned by the caller, who is its first interviewer.
#[utoipa::path(
    tag = "events",
    request_body = CreateEvent,
    responses((status = 201, body = EventBody), (status = 400, description = "Invalid fields, named in `details.fields`", body = super::ErrorBody))
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

/// One of the caller's events.
#[utoipa::path(
    tag = "events",
    params(("id" = String, Path, description = "An event id, `evt_…`")),
    responses((status = 200, body = EventBody), (status = 404, description = "No such event of yours", body = super::ErrorBody))
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

/// Edits an event the caller owns.
#[utoipa::path(
    tag = "events",
    params(("id" = String, Path, description = "An event id, `evt_…`")),
    request_body = PatchEvent,
    responses((status = 200, body = EventBody), (status = 404, description = "No such event of yours", body = super::ErrorBody), (status = 409, description = "EVENT_ENDED", body = super::ErrorBody))
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

/// Takes an event live (`draft|scheduled → live`) and marks the owner available. Starting a
/// live event answers the same.
#[utoipa::path(
    tag = "events",
    params(("id" = String, Path, description = "An event id, `evt_…`")),
    responses((status = 200, body = EventBody), (status = 404, description = "No such event of yours", body = super::ErrorBody), (status = 409, description = "EVENT_ENDED", body = super::ErrorBody))
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
    mutate(&state, &req, &p, &body, move |repo| {
        Box::pin(async move {
            let id = path_id::<EventId>(&id)?;
            Reply::ok(&EventBody::from(events::start(repo, uid, id, now).await?))
        })
    })
    .await
}

/// Ends a live event: waiting seekers leave its queue and pending matches expire; accepted
/// interviews go on. Ending an ended event answers the same.
#[utoipa::path(
    tag = "events",
    params(("id" = String, Path, description = "An event id, `evt_…`")),
    responses((status = 200, body = EventBody), (status = 404, description = "No such event of yours", body = super::ErrorBody), (status = 409, description = "EVENT_NOT_LIVE", body = super::ErrorBody))
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

/// Marks the calling interviewer available (matches start at once) or away.
#[utoipa::path(
    tag = "events",
    params(("id" = String, Path, description = "An event id, `evt_…`")),
    request_body = Availability,
    responses((status = 200, body = EventBody), (status = 404, description = "No such event you interview at", body = super::ErrorBody), (status = 409, description = "EVENT_ENDED", body = super::ErrorBody))
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
    mutate(&state, &req, &p, &body, move |repo| {
        Box::pin(async move {
            let id = path_id::<EventId>(&id)?;
            let a: Availability = parse_json(&raw)?;
            let v = events::set_availability(repo, uid, id, a.available, now).await?;
            Reply::ok(&EventBody::from(v))
        })
    })
    .await
}

/// Live events, newest first, with queue length and an estimated wait.
#[utoipa::path(
    tag = "live-events",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..100, default 20"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, body = LiveEventList), (status = 400, description = "Bad limit or cursor", body = super::ErrorBody))
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

/// One live event. An event that is not live is not found.
#[utoipa::path(
    tag = "live-events",
    params(("id" = String, Path, description = "An event id, `evt_…`")),
    responses((status = 200, body = LiveEventBody), (status = 404, description = "No such live event", body = super::ErrorBody))
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
