//! Events and their interviewer seats.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use jobby_domain::model::event::{Event, EventStatus, Seat};
use jobby_domain::model::ids::{EventId, JobId, UserId};
use jobby_domain::ports::StoreError;
use uuid::Uuid;

use super::corrupt;
use crate::schema::{event_interviewers, events};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = events, check_for_backend(Pg), treat_none_as_null = true)]
pub(crate) struct EventRow {
    pub(crate) id: Uuid,
    owner_id: Uuid,
    title: String,
    description: Option<String>,
    company: Option<String>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    job_ids: Vec<String>,
    status: String,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
}

impl From<&Event> for EventRow {
    fn from(e: &Event) -> Self {
        EventRow {
            id: e.id.uuid(),
            owner_id: e.owner_id.uuid(),
            title: e.title.clone(),
            description: e.description.clone(),
            company: e.company.clone(),
            starts_at: e.starts_at,
            ends_at: e.ends_at,
            job_ids: e.job_ids.iter().map(ToString::to_string).collect(),
            status: e.status.as_str().to_owned(),
            created_at: e.created_at,
            started_at: e.started_at,
            ended_at: e.ended_at,
        }
    }
}

impl EventRow {
    pub(crate) fn into_event(self) -> Result<Event, StoreError> {
        let status = EventStatus::parse(&self.status).ok_or_else(|| corrupt(&self.status))?;
        let job_ids = self
            .job_ids
            .iter()
            .map(|j| j.parse::<JobId>().map_err(|_| corrupt(j)))
            .collect::<Result<_, _>>()?;
        Ok(Event {
            id: EventId::from_uuid(self.id),
            owner_id: UserId::from_uuid(self.owner_id),
            title: self.title,
            description: self.description,
            company: self.company,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            job_ids,
            status,
            created_at: self.created_at,
            started_at: self.started_at,
            ended_at: self.ended_at,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = event_interviewers, check_for_backend(Pg))]
pub(crate) struct SeatRow {
    user_id: Uuid,
    pub(crate) available: bool,
    pub(crate) idle_since: DateTime<Utc>,
}

impl From<SeatRow> for Seat {
    fn from(r: SeatRow) -> Self {
        Seat {
            user_id: UserId::from_uuid(r.user_id),
            available: r.available,
            idle_since: r.idle_since,
        }
    }
}
