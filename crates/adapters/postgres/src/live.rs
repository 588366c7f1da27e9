//! Rows of the live queue's tables and their conversions to the domain's types.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types as st;
use jobby_domain::model::event::{Event, EventStatus, Seat};
use jobby_domain::model::ids::{EventId, JobId, MatchId, UserId};
use jobby_domain::model::matches::{Match, MatchStatus, Side};
use jobby_domain::model::outbox::{DomainEvent, Kind, OutboxRecord};
use jobby_domain::model::queue::{EntryState, QueueEntry};
use jobby_domain::model::room::RoomTicket;
use jobby_domain::ports::StoreError;
use uuid::Uuid;

use crate::rows::corrupt;
use crate::schema::{event_interviewers, events, matches, outbox, queue_entries, room_tickets};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = events, check_for_backend(Pg), treat_none_as_null = true)]
pub(crate) struct EventRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub company: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub job_ids: Vec<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
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
    pub fn into_event(self) -> Result<Event, StoreError> {
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
    pub user_id: Uuid,
    pub available: bool,
    pub idle_since: DateTime<Utc>,
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

#[derive(Queryable, Selectable)]
#[diesel(table_name = queue_entries, check_for_backend(Pg))]
pub(crate) struct EntryRow {
    pub seeker_id: Uuid,
    pub event_id: Uuid,
    pub joined_at: DateTime<Utc>,
    pub state: String,
    pub match_id: Option<Uuid>,
}

pub(crate) fn entry_columns(state: EntryState) -> (&'static str, Option<Uuid>) {
    match state {
        EntryState::Waiting => ("waiting", None),
        EntryState::Matched(m) => ("matched", Some(m.uuid())),
    }
}

fn entry_state(state: &str, match_id: Option<Uuid>) -> Result<EntryState, StoreError> {
    match (state, match_id) {
        ("waiting", None) => Ok(EntryState::Waiting),
        ("matched", Some(m)) => Ok(EntryState::Matched(MatchId::from_uuid(m))),
        _ => Err(corrupt(state)),
    }
}

impl EntryRow {
    pub fn into_entry(self) -> Result<QueueEntry, StoreError> {
        Ok(QueueEntry {
            seeker_id: UserId::from_uuid(self.seeker_id),
            event_id: EventId::from_uuid(self.event_id),
            joined_at: self.joined_at,
            state: entry_state(&self.state, self.match_id)?,
        })
    }
}

/// A seeker's entry with its position, the queue's length and the match's status: one
/// round trip for `GET /queue/status`.
#[derive(QueryableByName)]
pub(crate) struct ViewRow {
    #[diesel(sql_type = st::Uuid)]
    pub event_id: Uuid,
    #[diesel(sql_type = st::Text)]
    pub state: String,
    #[diesel(sql_type = st::Nullable<st::Uuid>)]
    pub match_id: Option<Uuid>,
    #[diesel(sql_type = st::BigInt)]
    pub position: i64,
    #[diesel(sql_type = st::BigInt)]
    pub queue_length: i64,
    #[diesel(sql_type = st::Nullable<st::Text>)]
    pub match_status: Option<String>,
}

impl ViewRow {
    pub fn into_view(self) -> Result<jobby_domain::model::queue::QueueView, StoreError> {
        let match_status = match self.match_status.as_deref() {
            None => None,
            Some(s) => Some(MatchStatus::parse(s).ok_or_else(|| corrupt(s))?),
        };
        Ok(jobby_domain::model::queue::QueueView {
            event_id: EventId::from_uuid(self.event_id),
            state: entry_state(&self.state, self.match_id)?,
            position: u32::try_from(self.position).unwrap_or(u32::MAX),
            queue_length: u32::try_from(self.queue_length).unwrap_or(u32::MAX),
            match_status,
        })
    }
}

/// A seeker's status in one statement. The queue length is the event's `waiting_count`
/// (kept by a trigger); the place is that less the waiting seekers behind, so a new seeker's
/// place costs nothing to count.
pub(crate) const QUEUE_VIEW: &str = "\
SELECT q.event_id, q.state, q.match_id, \
  CASE WHEN q.state = 'waiting' THEN e.waiting_count::bigint - (SELECT count(*) FROM queue_entries w \
    WHERE w.event_id = q.event_id AND w.state = 'waiting' \
      AND (w.joined_at, w.seeker_id) > (q.joined_at, q.seeker_id)) ELSE 0 END AS position, \
  e.waiting_count::bigint AS queue_length, \
  m.status AS match_status \
FROM queue_entries q JOIN events e ON e.id = q.event_id LEFT JOIN matches m ON m.id = q.match_id \
WHERE q.seeker_id = $1";

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = matches, check_for_backend(Pg), treat_none_as_null = true)]
pub(crate) struct MatchRow {
    pub id: Uuid,
    pub event_id: Uuid,
    pub seeker_id: Uuid,
    pub interviewer_id: Uuid,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub seeker_accepted_at: Option<DateTime<Utc>>,
    pub interviewer_accepted_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub declined_by: Option<String>,
    pub room_name: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
}

impl From<&Match> for MatchRow {
    fn from(m: &Match) -> Self {
        MatchRow {
            id: m.id.uuid(),
            event_id: m.event_id.uuid(),
            seeker_id: m.seeker_id.uuid(),
            interviewer_id: m.interviewer_id.uuid(),
            status: m.status.as_str().to_owned(),
            created_at: m.created_at,
            expires_at: m.expires_at,
            seeker_accepted_at: m.seeker_accepted_at,
            interviewer_accepted_at: m.interviewer_accepted_at,
            ended_at: m.ended_at,
            declined_by: m.declined_by.map(|s| s.as_str().to_owned()),
            room_name: m.room_name.clone(),
            started_at: m.started_at,
        }
    }
}

impl MatchRow {
    pub fn into_match(self) -> Result<Match, StoreError> {
        let status = MatchStatus::parse(&self.status).ok_or_else(|| corrupt(&self.status))?;
        let declined_by = match self.declined_by.as_deref() {
            None => None,
            Some(s) => Some(Side::parse(s).ok_or_else(|| corrupt(s))?),
        };
        Ok(Match {
            id: MatchId::from_uuid(self.id),
            event_id: EventId::from_uuid(self.event_id),
            seeker_id: UserId::from_uuid(self.seeker_id),
            interviewer_id: UserId::from_uuid(self.interviewer_id),
            status,
            created_at: self.created_at,
            expires_at: self.expires_at,
            seeker_accepted_at: self.seeker_accepted_at,
            interviewer_accepted_at: self.interviewer_accepted_at,
            ended_at: self.ended_at,
            declined_by,
            room_name: self.room_name,
            started_at: self.started_at,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = room_tickets, check_for_backend(Pg))]
pub(crate) struct TicketRow {
    pub match_id: Uuid,
    pub user_id: Uuid,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

impl From<TicketRow> for RoomTicket {
    fn from(r: TicketRow) -> Self {
        RoomTicket {
            match_id: MatchId::from_uuid(r.match_id),
            user_id: UserId::from_uuid(r.user_id),
            issued_at: r.issued_at,
            expires_at: r.expires_at,
            used_at: r.used_at,
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = outbox, check_for_backend(Pg))]
pub(crate) struct OutboxRow {
    pub id: i64,
    pub kind: String,
    pub event_id: Option<Uuid>,
    pub user_ids: Vec<Uuid>,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl OutboxRow {
    pub fn into_record(self) -> Result<OutboxRecord, StoreError> {
        Ok(OutboxRecord {
            seq: self.id,
            event: DomainEvent {
                kind: Kind::parse(&self.kind).ok_or_else(|| corrupt(&self.kind))?,
                event_id: self.event_id.map(EventId::from_uuid),
                users: self.user_ids.into_iter().map(UserId::from_uuid).collect(),
                payload: self.payload,
                at: self.created_at,
            },
        })
    }
}
