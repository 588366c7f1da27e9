//! Profiles and settings: what a person says about themselves and how they want to be told.

use std::collections::BTreeMap;

use super::account::AccountType;
use super::fields::{FieldErrors, check_text};

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    pub name: String,
    pub headline: Option<String>,
    pub skills: Vec<String>,
    pub location: Option<String>,
    pub links: Vec<String>,
    pub resume_text: Option<String>,
    pub company: Option<String>,
}

/// A partial update. For optional text fields, `Some(None)` (JSON `null`) clears the field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfilePatch {
    pub name: Option<String>,
    pub headline: Option<Option<String>>,
    pub skills: Option<Vec<String>>,
    pub location: Option<Option<String>>,
    pub links: Option<Vec<String>>,
    pub resume_text: Option<Option<String>>,
    pub company: Option<Option<String>>,
}

pub const NAME_MAX: usize = 100;
pub const HEADLINE_MAX: usize = 200;
pub const LOCATION_MAX: usize = 100;
pub const SKILLS_MAX: usize = 50;
pub const SKILL_MAX: usize = 50;
pub const LINKS_MAX: usize = 10;
pub const LINK_MAX: usize = 500;
pub const RESUME_MAX: usize = 20_000;
pub const COMPANY_MAX: usize = 100;

impl ProfilePatch {
    /// Validates the patch for this account type, then applies it.
    pub fn apply(self, account: AccountType, profile: &mut Profile) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        if let Some(name) = &self.name {
            check_text(&mut e, "name", name, NAME_MAX);
        }
        for (field, value, max) in [
            ("headline", &self.headline, HEADLINE_MAX),
            ("location", &self.location, LOCATION_MAX),
            ("resume_text", &self.resume_text, RESUME_MAX),
            ("company", &self.company, COMPANY_MAX),
        ] {
            if let Some(Some(v)) = value {
                check_text(&mut e, field, v, max);
            }
        }
        if account == AccountType::Seeker && matches!(self.company, Some(Some(_))) {
            e.add("company", "only recruiter accounts have a company");
        }
        if let Some(skills) = &self.skills {
            if skills.len() > SKILLS_MAX {
                e.add("skills", format!("at most {SKILLS_MAX} skills"));
            }
            for (i, s) in skills.iter().enumerate() {
                check_text(&mut e, &format!("skills[{i}]"), s, SKILL_MAX);
            }
        }
        if let Some(links) = &self.links {
            if links.len() > LINKS_MAX {
                e.add("links", format!("at most {LINKS_MAX} links"));
            }
            for (i, l) in links.iter().enumerate() {
                let ok = (l.starts_with("https://") || l.starts_with("http://"))
                    && l.chars().count() <= LINK_MAX
                    && l.split_once("://")
                        .is_some_and(|(_, rest)| !rest.is_empty())
                    && !l.chars().any(|c| c.is_whitespace() || c.is_control());
                if !ok {
                    e.add(
                        format!("links[{i}]"),
                        "must be an http(s) URL of at most 500 characters",
                    );
                }
            }
        }
        e.into_result()?;
        let trim = |s: String| s.trim().to_owned();
        if let Some(v) = self.name {
            profile.name = trim(v);
        }
        if let Some(v) = self.headline {
            profile.headline = v.map(trim);
        }
        if let Some(v) = self.skills {
            profile.skills = v.into_iter().map(trim).collect();
        }
        if let Some(v) = self.location {
            profile.location = v.map(trim);
        }
        if let Some(v) = self.links {
            profile.links = v;
        }
        if let Some(v) = self.resume_text {
            profile.resume_text = v;
        }
        if let Some(v) = self.company {
            profile.company = v.map(trim);
        }
        Ok(())
    }
}

/// The event types a person can be notified about.
pub const NOTIFICATION_EVENTS: &[&str] = &[
    "queue.joined",
    "queue.left",
    "match.created",
    "match.accepted",
    "match.declined",
    "match.expired",
    "match.completed",
    "event.started",
    "event.ended",
    "billing.invoice",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Channels {
    pub email: bool,
    pub push: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    pub timezone: String,
    pub notifications: BTreeMap<String, Channels>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timezone: "UTC".into(),
            notifications: NOTIFICATION_EVENTS
                .iter()
                .map(|e| {
                    (
                        (*e).to_owned(),
                        Channels {
                            email: true,
                            push: true,
                        },
                    )
                })
                .collect(),
        }
    }
}

/// A partial update of settings; each channel of each event type may be set on its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettingsPatch {
    pub timezone: Option<String>,
    pub notifications: BTreeMap<String, (Option<bool>, Option<bool>)>,
}

impl SettingsPatch {
    pub fn apply(self, settings: &mut Settings) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        if let Some(tz) = &self.timezone
            && tz.parse::<chrono_tz::Tz>().is_err()
        {
            e.add(
                "timezone",
                "must be an IANA time zone name, like Europe/Berlin or UTC",
            );
        }
        for key in self.notifications.keys() {
            if !NOTIFICATION_EVENTS.contains(&key.as_str()) {
                e.add(
                    format!("notifications.{key}"),
                    "is not a notification event type",
                );
            }
        }
        e.into_result()?;
        if let Some(tz) = self.timezone {
            settings.timezone = tz;
        }
        for (key, (email, push)) in self.notifications {
            let c = settings.notifications.entry(key).or_insert(Channels {
                email: true,
                push: true,
            });
            if let Some(v) = email {
                c.email = v;
            }
            if let Some(v) = push {
                c.push = v;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_patch_validates_everything_before_applying() {
        let mut p = Profile {
            name: "Ada".into(),
            ..Default::default()
        };
        let patch = ProfilePatch {
            name: Some("".into()),
            links: Some(vec!["ftp://x".into()]),
            company: Some(Some("Acme".into())),
            headline: Some(Some("Engineer".into())),
            ..Default::default()
        };
        let err = patch.apply(AccountType::Seeker, &mut p).unwrap_err();
        assert_eq!(
            err.0.keys().collect::<Vec<_>>(),
            vec!["company", "links[0]", "name"]
        );
        assert_eq!(p.name, "Ada");
        assert_eq!(p.headline, None, "nothing applied on error");

        let ok = ProfilePatch {
            headline: Some(Some(" Engineer ".into())),
            ..Default::default()
        };
        ok.apply(AccountType::Seeker, &mut p).unwrap();
        assert_eq!(p.headline.as_deref(), Some("Engineer"));
        let clear = ProfilePatch {
            headline: Some(None),
            ..Default::default()
        };
        clear.apply(AccountType::Seeker, &mut p).unwrap();
        assert_eq!(p.headline, None);
    }

    #[test]
    fn settings_patch_merges_channels() {
        let mut s = Settings::default();
        let mut patch = SettingsPatch {
            timezone: Some("Europe/Berlin".into()),
            ..Default::default()
        };
        patch
            .notifications
            .insert("match.created".into(), (Some(false), None));
        patch.apply(&mut s).unwrap();
        assert_eq!(s.timezone, "Europe/Berlin");
        assert_eq!(
            s.notifications["match.created"],
            Channels {
                email: false,
                push: true
            }
        );
        let bad = SettingsPatch {
            timezone: Some("Mars/Olympus".into()),
            ..Default::default()
        };
        assert!(bad.apply(&mut s).is_err());
        assert_eq!(s.timezone, "Europe/Berlin");
    }
}
