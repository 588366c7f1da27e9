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

/// The notification map, each value read only from a JSON object (serde would also read
/// `ChannelsPatch` from an array of its fields).
fn channel_objects<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, ChannelsPatch>>, D::Error> {
    use serde::de::Error;
    let Some(raw) =
        Option::<BTreeMap<String, serde_json::Map<String, serde_json::Value>>>::deserialize(d)?
    else {
        return Ok(None);
    };
    raw.into_iter()
        .map(|(k, v)| {
            serde_json::from_value(serde_json::Value::Object(v))
                .map(|c| (k, c))
                .map_err(D::Error::custom)
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// Any of the settings; notification channels may be set one at a time.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchSettings {
    /// An IANA time zone name, like `Europe/Berlin` or `UTC`.
    #[schema(min_length = 1, max_length = 64)]
    pub timezone: Option<String>,
    /// Channels by notification event type.
    #[serde(default, deserialize_with = "channel_objects")]
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
