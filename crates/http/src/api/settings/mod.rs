//! The caller's settings, notification preferences and IP allowlist.

use std::collections::BTreeMap;

use jobby_domain::model::profile::{Channels, Settings};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

operations! {
    get => get_settings,
    update => patch_settings,
    get_allowlist => get_allowlist,
    replace_allowlist => put_allowlist,
}

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

/// The IP allowlist: CIDR blocks token calls must come from. Empty = any address.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Allowlist {
    /// At most 50 blocks (or single addresses).
    #[schema(example = json!(["203.0.113.0/24", "2001:db8::/32"]), max_items = 50)]
    pub cidrs: Vec<String>,
}
