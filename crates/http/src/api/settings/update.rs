//! `PATCH /api/v1/settings`: updates some of the caller's settings.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, patch, web};
use jobby_domain::model::profile::SettingsPatch;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::profile;
use serde::Deserialize;
use utoipa::ToSchema;

use super::SettingsBody;
use crate::AppState;
use crate::api::ErrorBody;
use crate::api::mutate::{Reply, mutate};
use crate::extract::{Authed, RawBody, parse_json};
use crate::routes::{Access, RouteSpec, route};

pub const ROUTE: RouteSpec = route(
    "PATCH",
    "/api/v1/settings",
    Access::Token(Scope::SettingsWrite),
    RateClass::Write,
);

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
    /// An IANA time zone name, like `Europe/Berlin` or `UTC`.
    #[schema(min_length = 1, max_length = 64)]
    pub timezone: Option<String>,
    /// Channels by notification event type.
    #[schema(value_type = Option<BTreeMap<crate::schema::NotificationEvent, ChannelsPatch>>)]
    pub notifications: Option<BTreeMap<String, ChannelsPatch>>,
}

/// Updates some settings.
#[utoipa::path(
    tag = "settings",
    request_body = PatchSettings,
    responses((status = 200, body = SettingsBody), (status = 400, description = "Invalid fields", body = ErrorBody))
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
