//! Recruiter events: `draft → scheduled → live → ended`, with their interviewer seats.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::fields::{FieldErrors, check_text};
use super::ids::{EventId, JobId, UserId};

pub const TITLE_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 5000;
pub const COMPANY_MAX: usize = 200;
pub const JOBS_MAX: usize = 50;
/// Interviewers per event, the owner included.
pub const INTERVIEWERS_MAX: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Draft,
    Scheduled,
    Live,
    Ended,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Draft => "draft",
            EventStatus::Scheduled => "scheduled",
            EventStatus::Live => "live",
            EventStatus::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "draft" => EventStatus::Draft,
            "scheduled" => EventStatus::Scheduled,
            "live" => EventStatus::Live,
            "ended" => EventStatus::Ended,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: EventId,
    pub owner_id: UserId,
    pub title: String,
    pub description: Option<String>,
    pub company: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub job_ids: Vec<JobId>,
    pub status: EventStatus,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// An interviewer's seat at an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seat {
    pub user_id: UserId,
    pub available: bool,
    /// Since when the interviewer has been free: the longest idle is matched first.
    pub idle_since: DateTime<Utc>,
}

/// A live event as the public sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveEvent {
    pub event: Event,
    /// Seekers waiting.
    pub queue_length: u32,
    /// Interviewers marked available.
    pub available_seats: u32,
}

/// The editable fields of an event. On create, absent means empty; on update, `None`
/// leaves a field as it is and `Some(None)` clears an optional one.
#[derive(Clone, Debug, Default)]
pub struct EventPatch {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub company: Option<Option<String>>,
    pub starts_at: Option<Option<DateTime<Utc>>>,
    pub ends_at: Option<Option<DateTime<Utc>>>,
    pub job_ids: Option<Vec<String>>,
    pub interviewer_ids: Option<Vec<String>>,
}

/// A validated patch: what to write, and the interviewer list if it changes (owner first,
/// without duplicates).
#[derive(Clone, Debug)]
pub struct CheckedPatch {
    pub interviewers: Option<Vec<UserId>>,
}

impl Event {
    pub fn new(id: EventId, owner: UserId, now: DateTime<Utc>) -> Self {
        Event {
            id,
            owner_id: owner,
            title: String::new(),
            description: None,
            company: None,
            starts_at: None,
            ends_at: None,
            job_ids: vec![],
            status: EventStatus::Draft,
            created_at: now,
            started_at: None,
            ended_at: None,
        }
    }

    /// Applies a patch, checking every field; on error nothing is changed. A draft becomes
    /// `scheduled` once it has a start time (and a scheduled event without one is a draft).
    pub fn apply(&mut self, patch: EventPatch) -> Result<CheckedPatch, FieldErrors> {
        let mut e = FieldErrors::new();
        let mut next = self.clone();
        if let Some(t) = patch.title {
            check_text(&mut e, "title", &t, TITLE_MAX);
            next.title = t.trim().to_owned();
        }
        if let Some(d) = patch.description {
            if let Some(d) = &d {
                check_text(&mut e, "description", d, DESCRIPTION_MAX);
            }
            next.description = d;
        }
        if let Some(c) = patch.company {
            if let Some(c) = &c {
                check_text(&mut e, "company", c, COMPANY_MAX);
            }
            next.company = c.map(|c| c.trim().to_owned());
        }
        if let Some(s) = patch.starts_at {
            next.starts_at = s;
        }
        if let Some(s) = patch.ends_at {
            next.ends_at = s;
        }
        if let (Some(s), Some(end)) = (next.starts_at, next.ends_at)
            && end <= s
        {
            e.add("ends_at", "must be after starts_at");
        }
        if let Some(jobs) = patch.job_ids {
            if jobs.len() > JOBS_MAX {
                e.add("job_ids", format!("at most {JOBS_MAX} jobs"));
            }
            let mut ids = Vec::with_capacity(jobs.len());
            for (i, j) in jobs.iter().enumerate() {
                match j.parse::<JobId>() {
                    Ok(id) if !ids.contains(&id) => ids.push(id),
                    Ok(_) => {}
                    Err(_) => e.add(format!("job_ids[{i}]"), "must be a job id (`job_…`)"),
                }
            }
            next.job_ids = ids;
        }
        let interviewers = match patch.interviewer_ids {
            None => None,
            Some(raw) => {
                let mut ids = vec![self.owner_id];
                for (i, s) in raw.iter().enumerate() {
                    match s.parse::<UserId>() {
                        Ok(id) if !ids.contains(&id) => ids.push(id),
                        Ok(_) => {}
                        Err(_) => e.add(
                            format!("interviewer_ids[{i}]"),
                            "must be a user id (`usr_…`)",
                        ),
                    }
                }
                if ids.len() > INTERVIEWERS_MAX {
                    e.add(
                        "interviewer_ids",
                        format!("at most {INTERVIEWERS_MAX} interviewers, the owner included"),
                    );
                }
                Some(ids)
            }
        };
        if next.title.is_empty() {
            e.add("title", "must not be empty");
        }
        e.into_result()?;
        if matches!(next.status, EventStatus::Draft | EventStatus::Scheduled) {
            next.status = if next.starts_at.is_some() {
                EventStatus::Scheduled
            } else {
                EventStatus::Draft
            };
        }
        *self = next;
        Ok(CheckedPatch { interviewers })
    }

    /// Goes live. `Ok(false)` when it already is.
    pub fn start(&mut self, now: DateTime<Utc>) -> Result<bool, EventStatus> {
        match self.status {
            EventStatus::Draft | EventStatus::Scheduled => {
                self.status = EventStatus::Live;
                self.started_at = Some(now);
                Ok(true)
            }
            EventStatus::Live => Ok(false),
            EventStatus::Ended => Err(EventStatus::Ended),
        }
    }

    /// Ends a live event. `Ok(false)` when it already has.
    pub fn end(&mut self, now: DateTime<Utc>) -> Result<bool, EventStatus> {
        match self.status {
            EventStatus::Live => {
                self.status = EventStatus::Ended;
                self.ended_at = Some(now);
                Ok(true)
            }
            EventStatus::Ended => Ok(false),
            other => Err(other),
        }
    }
}

/// The estimated wait for the last seeker in a queue of `queue_length`, with `seats`
/// interviewers, at `minutes_per_interview` per interview: whole rounds of interviews ahead.
pub fn estimated_wait_seconds(queue_length: u32, seats: u32, minutes_per_interview: u32) -> u32 {
    if queue_length == 0 {
        return 0;
    }
    let rounds = queue_length.div_ceil(seats.max(1));
    rounds
        .saturating_mul(minutes_per_interview)
        .saturating_mul(60)
}

/// The assumed length of one interview, for estimated waits.
pub const MINUTES_PER_INTERVIEW: u32 = 10;

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn create_validates_and_schedules() {
        let owner = UserId::new();
        let mut e = Event::new(EventId::new(), owner, now());
        let err = e.apply(EventPatch::default()).unwrap_err();
        assert!(err.0.contains_key("title"));
        let patch = EventPatch {
            title: Some("Rust fair".into()),
            starts_at: Some(Some(now())),
            ends_at: Some(Some(now() - chrono::Duration::hours(1))),
            job_ids: Some(vec!["nope".into()]),
            interviewer_ids: Some(vec!["usr_x".into()]),
            ..Default::default()
        };
        let err = e.apply(patch).unwrap_err();
        assert_eq!(
            err.0.keys().collect::<Vec<_>>(),
            ["ends_at", "interviewer_ids[0]", "job_ids[0]"]
        );
        assert_eq!(e.title, "", "a refused patch changes nothing");
        let other = UserId::new();
        let checked = e
            .apply(EventPatch {
                title: Some(" Rust fair ".into()),
                starts_at: Some(Some(now())),
                interviewer_ids: Some(vec![other.to_string(), owner.to_string()]),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(e.title, "Rust fair");
        assert_eq!(e.status, EventStatus::Scheduled);
        assert_eq!(checked.interviewers, Some(vec![owner, other]));
    }

    #[test]
    fn lifecycle() {
        let mut e = Event::new(EventId::new(), UserId::new(), now());
        assert_eq!(e.end(now()), Err(EventStatus::Draft));
        assert_eq!(e.start(now()), Ok(true));
        assert_eq!(e.start(now()), Ok(false));
        assert_eq!(e.end(now()), Ok(true));
        assert_eq!(e.end(now()), Ok(false));
        assert_eq!(e.start(now()), Err(EventStatus::Ended));
    }

    #[test]
    fn waits() {
        assert_eq!(estimated_wait_seconds(0, 3, 10), 0);
        assert_eq!(estimated_wait_seconds(1, 3, 10), 600);
        assert_eq!(estimated_wait_seconds(4, 3, 10), 1200);
        assert_eq!(estimated_wait_seconds(4, 0, 10), 2400);
    }
}
