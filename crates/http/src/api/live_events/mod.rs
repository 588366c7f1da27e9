//! Live events as the public sees them: no token needed.

use chrono::{DateTime, Utc};
use jobby_domain::model::event::{LiveEvent, MINUTES_PER_INTERVIEW, estimated_wait_seconds};
use jobby_domain::model::ids::EventId;
use serde::Serialize;
use utoipa::ToSchema;

operations! {
    list => list_live_events,
    get => get_live_event,
}

/// A live event as the public sees it.
#[derive(Serialize, ToSchema)]
pub struct LiveEventBody {
    #[schema(value_type = String)]
    pub id: EventId,
    pub title: String,
    pub description: Option<String>,
    pub company: Option<String>,
    /// Jobs (`job_…`) the event hires for.
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<String>,
    /// Seekers waiting now.
    pub queue_length: u32,
    /// Interviewers receiving matches now.
    pub available_interviewers: u32,
    /// A rough wait for someone joining now, assuming 10-minute interviews.
    pub estimated_wait_seconds: u32,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub ends_at: Option<DateTime<Utc>>,
}

impl From<LiveEvent> for LiveEventBody {
    fn from(l: LiveEvent) -> Self {
        let e = l.event;
        LiveEventBody {
            id: e.id,
            title: e.title,
            description: e.description,
            company: e.company,
            roles: e.job_ids.iter().map(ToString::to_string).collect(),
            queue_length: l.queue_length,
            available_interviewers: l.available_seats,
            estimated_wait_seconds: estimated_wait_seconds(
                l.queue_length + 1,
                l.available_seats,
                MINUTES_PER_INTERVIEW,
            ),
            started_at: e.started_at,
            ends_at: e.ends_at,
        }
    }
}
