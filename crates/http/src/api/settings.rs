use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, patch, put, web};
use jobby_domain::Error;
use jobby_domain::model::profile::{Channels, Settings, SettingsPatch};
use jobby_domain::usecases::profile;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::mutate::{Reply, mutate};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Authed, RawBody, parse_json};
use crate::mw::caller_ip;

#[derive(Serialize, Deserialize, ToSchema, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct ChannelsBody {
    pub email: bool,
    pub push: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SettingsBody {
    /// An IANA time zone name.
    #[schema(example = "Europe/Berlin")]
    pub timezone: String,
    /// Per event type (`match.created`, …): which channels notify.
    pub notifications: BTreeMap<String, ChannelsBody>,
}

impl From<Settings> for SettingsBody {
    fn from(s: Settings) -> Self {
        SettingsBody {
            timezone: s.timezone,
            notifications: s
                .notifications
                .into_iter()
                .map(|(k, Channels { email, push })| (k, ChannelsBody { email, push }))
                .collect(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelsPatch {
    pub email: Option<bool>,
    pub push: Option<bool>,
}

/// Any of the settings; notification channels may be set one at a time.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchSettings {
    pub timezone: Option<String>,
    pub notifications: Option<BTreeMap<String, ChannelsPatch>>,
}

/// The caller's settings.
#[utoipa::path(tag = "settings", responses((status = 200, body = SettingsBody)))]
#[get("/settings")]
pub async fn get_settings(
    state: web::Data<AppState>,
    Authed(p): Authed,
) -> Result<HttpResponse, ApiError> {
    let uid = p.user_id;
    let s = state
        .db
        .read(move |r| Box::pin(async move { r.settings(uid).await.map_err(Error::from) }))
        .await?;
    Ok(HttpResponse::Ok().json(SettingsBody::from(s)))
}

/// Updates some settings.
#[utoipa::path(
    tag = "settings",
    request_body = PatchSettings,
    responses((status = 200, body = SettingsBody), (status = 400, description = "Invalid fields", body = super::ErrorBody))
)]
#[patch("/settings")]
pub async fn patch_settings(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authed(p): Authed,
    RawBody(body): RawBody,
) -> HttpResponse {
    let uid = p.user_id;
    let raw = body.clone();
    mutate(&state, &req, &p, &body, move |repo| {
        Box::pin(async move {
            let b: PatchSettings = parse_json(&raw)?;
            let patch = SettingsPatch {
                timezone: b.timezone,
                notifications: b
                    .notifications
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, c)| (k, (c.email, c.push)))
                    .collect(),
            };
            let s = profile::update_settings(repo, uid, patch).await?;
            Reply::ok(&SettingsBody::from(s))
        })
    })
    .await
}

/// The IP allowlist: CIDR blocks token calls must come from. Empty = any address.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Allowlist {
    #[schema(example = json!(["203.0.113.0/24", "2001:db8::/32"]))]
    pub cidrs: Vec<String>,
}

/// The caller's IP allowlist.
#[utoipa::path(tag = "settings", responses((status = 200, body = Allowlist)))]
#[get("/settings/ip-allowlist")]
pub async fn get_allowlist(
    state: web::Data<AppState>,
    Authed(p): Authed,
) -> Result<HttpResponse, ApiError> {
    let uid = p.user_id;
    let nets = state
        .db
        .read(move |r| Box::pin(async move { r.allowlist(uid).await.map_err(Error::from) }))
        .await?;
    Ok(HttpResponse::Ok().json(Allowlist {
        cidrs: nets.iter().map(ToString::to_string).collect(),
    }))
}

/// Replaces the IP allowlist. A list that would exclude the caller's own address is refused,
/// so nobody locks themselves out.
#[utoipa::path(
    tag = "settings",
    request_body = Allowlist,
    responses((status = 200, body = Allowlist), (status = 400, description = "Malformed CIDR, too many entries, or the list would exclude the caller", body = super::ErrorBody))
)]
#[put("/settings/ip-allowlist")]
pub async fn put_allowlist(
    state: web::Data<AppState>,
    req: HttpRequest,
    Authed(p): Authed,
    RawBody(body): RawBody,
) -> HttpResponse {
    let uid = p.user_id;
    let raw = body.clone();
    let caller = caller_ip(&req);
    let res = mutate(&state, &req, &p, &body, move |repo| {
        Box::pin(async move {
            let b: Allowlist = parse_json(&raw)?;
            let nets = profile::replace_allowlist(repo, uid, &b.cidrs, caller).await?;
            Reply::ok(&Allowlist {
                cidrs: nets.iter().map(ToString::to_string).collect(),
            })
        })
    })
    .await;
    if res.status().is_success() {
        state.auth.invalidate_all();
    }
    res
}
