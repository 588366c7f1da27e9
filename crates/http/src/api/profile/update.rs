//! `PATCH /api/v1/profile`: updates some of the caller's profile fields.

use actix_web::{HttpRequest, HttpResponse, patch, web};
use jobby_domain::model::profile::{self as limits, ProfilePatch};
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::profile;
use serde::Deserialize;
use utoipa::ToSchema;

use super::ProfileBody;
use crate::AppState;
use crate::api::ErrorBody;
use crate::api::mutate::{Reply, mutate};
use crate::extract::{Authed, RawBody, double_option, parse_json};
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "PATCH",
    "/api/v1/profile",
    Access::Token(Scope::ProfileWrite),
    RateClass::Write,
);

/// Any subset of the profile fields. `null` clears `headline`, `location`, `resume_text`
/// and `company`; for `name`, `skills` and `links` it changes nothing.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchProfile {
    /// 1..100 characters (`null` leaves it as it is).
    #[schema(value_type = Option<crate::schema::Text<{ limits::NAME_MAX }>>, inline)]
    pub name: Option<String>,
    /// At most 200 characters.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::schema::Text<{ limits::HEADLINE_MAX }>>, inline)]
    pub headline: Option<Option<String>>,
    /// At most 50, each 1..50 characters.
    #[schema(value_type = Option<Vec<crate::schema::Text<{ limits::SKILL_MAX }>>>, max_items = 50, inline)]
    pub skills: Option<Vec<String>>,
    /// At most 100 characters.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::schema::Text<{ limits::LOCATION_MAX }>>, inline)]
    pub location: Option<Option<String>>,
    /// At most 10 http(s) URLs of at most 500 characters.
    #[schema(value_type = Option<Vec<crate::schema::Link>>, max_items = 10, inline)]
    pub links: Option<Vec<String>>,
    /// At most 20,000 characters.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::schema::Text<{ limits::RESUME_MAX }>>, inline)]
    pub resume_text: Option<Option<String>>,
    /// Recruiter accounts only; at most 100 characters.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::schema::Text<{ limits::COMPANY_MAX }>>, inline)]
    pub company: Option<Option<String>>,
}

impl From<PatchProfile> for ProfilePatch {
    fn from(p: PatchProfile) -> Self {
        ProfilePatch {
            name: p.name,
            headline: p.headline,
            skills: p.skills,
            location: p.location,
            links: p.links,
            resume_text: p.resume_text,
            company: p.company,
        }
    }
}

/// Updates some profile fields; the others stay as they are.
#[utoipa::path(
    tag = "profile",
    request_body = PatchProfile,
    responses((status = 200, body = ProfileBody), (status = 400, description = "Invalid fields, named in `details.fields`", body = ErrorBody))
)]
#[patch("/profile")]
pub async fn patch_profile(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authed(p): Authed,
    RawBody(body): RawBody,
) -> HttpResponse {
    let (uid, account) = (p.user_id, p.account_type);
    let raw = body.clone();
    mutate(&state, &req, &p, &body, move |repo| {
        Box::pin(async move {
            let patch: PatchProfile = parse_json(&raw)?;
            let updated = profile::update_profile(repo, uid, account, patch.into()).await?;
            Reply::ok(&ProfileBody::from(updated))
        })
    })
    .await
}
