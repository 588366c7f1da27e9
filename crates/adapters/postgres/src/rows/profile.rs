//! Profiles, settings and IP allowlists.

use std::collections::BTreeMap;

use diesel::pg::Pg;
use diesel::prelude::*;
use ipnet::IpNet;
use jobby_domain::model::ids::UserId;
use jobby_domain::model::profile::{Channels, Profile, Settings};
use jobby_domain::ports::StoreError;
use uuid::Uuid;

use super::corrupt;
use crate::schema::profiles;

/// A profile as written (insert and update); the primary key is left out of updates.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = profiles, primary_key(user_id), treat_none_as_null = true)]
pub(crate) struct ProfileWrite<'a> {
    user_id: Uuid,
    name: &'a str,
    headline: Option<&'a str>,
    skills: &'a [String],
    location: Option<&'a str>,
    links: &'a [String],
    resume_text: Option<&'a str>,
    company: Option<&'a str>,
}

impl<'a> ProfileWrite<'a> {
    pub(crate) fn new(user: UserId, p: &'a Profile) -> Self {
        ProfileWrite {
            user_id: user.uuid(),
            name: &p.name,
            headline: p.headline.as_deref(),
            skills: &p.skills,
            location: p.location.as_deref(),
            links: &p.links,
            resume_text: p.resume_text.as_deref(),
            company: p.company.as_deref(),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = profiles, check_for_backend(Pg))]
pub(crate) struct ProfileRow {
    name: String,
    headline: Option<String>,
    skills: Vec<String>,
    location: Option<String>,
    links: Vec<String>,
    resume_text: Option<String>,
    company: Option<String>,
}

impl From<ProfileRow> for Profile {
    fn from(r: ProfileRow) -> Self {
        Profile {
            name: r.name,
            headline: r.headline,
            skills: r.skills,
            location: r.location,
            links: r.links,
            resume_text: r.resume_text,
            company: r.company,
        }
    }
}

pub(crate) fn settings_from(
    timezone: String,
    notifications: serde_json::Value,
) -> Result<Settings, StoreError> {
    let notifications: BTreeMap<String, Channels> = serde_json::from_value(notifications)
        .map_err(|e| corrupt(format_args!("notification settings: {e}")))?;
    Ok(Settings {
        timezone,
        notifications,
    })
}

pub(crate) fn notifications_json(settings: &Settings) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(&settings.notifications)
        .map_err(|e| StoreError::Unavailable(format!("encoding notification settings: {e}")))
}

/// CIDRs as stored. An unreadable entry is an error, not skipped: dropping it could turn a
/// restrictive list into an empty one, which allows every address.
pub(crate) fn allowlist(cidrs: Vec<String>) -> Result<Vec<IpNet>, StoreError> {
    cidrs
        .iter()
        .map(|c| {
            c.parse()
                .map_err(|_| corrupt(format_args!("allowlist entry {c:?}")))
        })
        .collect()
}

pub(crate) fn allowlist_strings(cidrs: &[IpNet]) -> Vec<String> {
    cidrs.iter().map(ToString::to_string).collect()
}
