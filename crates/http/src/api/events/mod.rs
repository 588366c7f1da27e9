//! Events as their owner and interviewers see them: recruiter accounts only.

use chrono::{DateTime, Utc};
use jobby_domain::model::event::Seat;
use jobby_domain::model::ids::{EventId, UserId};
use jobby_domain::usecases::events::EventView;
use serde::Serialize;
use utoipa::ToSchema;

operations! {
    list => list_events,
    create => create_event,
    get => get_event,
    update => patch_event,
    start => start_event,
    end => end_event,
    availability => put_availability,
}

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
