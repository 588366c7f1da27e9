use actix_web::{HttpRequest, HttpResponse, get, patch, web};
use jobby_domain::Error;
use jobby_domain::model::profile::{Profile, ProfilePatch};
use jobby_domain::usecases::profile;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::mutate::{Reply, mutate};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Authed, RawBody, double_option, parse_json};

#[derive(Serialize, ToSchema)]
pub struct ProfileBody {
    pub name: String,
    pub headline: Option<String>,
    pub skills: Vec<String>,
    pub location: Option<String>,
    pub links: Vec<String>,
    pub resume_text: Option<String>,
    /// Recruiter accounts only.
    pub company: Option<String>,
}

impl From<Profile> for ProfileBody {
    fn from(p: Profile) -> Self {
        ProfileBody {
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

/// Any subset of the profile fields. `null` clears an optional field.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchProfile {
    /// 1..100 characters.
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub headline: Option<Option<String>>,
    /// At most 50, each 1..50 characters.
    pub skills: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub location: Option<Option<String>>,
    /// At most 10 http(s) URLs.
    pub links: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub resume_text: Option<Option<String>>,
    /// Recruiter accounts only.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
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

/// The caller's profile.
#[utoipa::path(tag = "profile", responses((status = 200, body = ProfileBody)))]
#[get("/profile")]
pub async fn get_profile(
    state: web::Data<AppState>,
    Authed(p): Authed,
) -> Result<HttpResponse, ApiError> {
    let uid = p.user_id;
    let profile = state
        .db
        .read(move |r| Box::pin(async move { r.profile(uid).await.map_err(Error::from) }))
        .await?;
    Ok(HttpResponse::Ok().json(ProfileBody::from(profile)))
}

/// Updates some profile fields; the others stay as they are.
#[utoipa::path(
    tag = "profile",
    request_body = PatchProfile,
    responses((status = 200, body = ProfileBody), (status = 400, description = "Invalid fields, named in `details.fields`", body = super::ErrorBody))
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
