//! The queue of an event.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types as st;
use jobby_domain::model::ids::{EventId, MatchId, UserId};
use jobby_domain::model::matches::MatchStatus;
use jobby_domain::model::queue::{EntryState, QueueEntry};
use jobby_domain::ports::StoreError;
use uuid::Uuid;

use super::corrupt;
use crate::schema::queue_entries;

#[derive(Queryable, Selectable)]
#[diesel(table_name = queue_entries, check_for_backend(Pg))]
pub(crate) struct EntryRow {
    seeker_id: Uuid,
    event_id: Uuid,
    joined_at: DateTime<Utc>,
    state: String,
    match_id: Option<Uuid>,
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
    pub(crate) fn into_entry(self) -> Result<QueueEntry, StoreError> {
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
    event_id: Uuid,
    #[diesel(sql_type = st::Text)]
    state: String,
    #[diesel(sql_type = st::Nullable<st::Uuid>)]
    match_id: Option<Uuid>,
    #[diesel(sql_type = st::BigInt)]
    position: i64,
    #[diesel(sql_type = st::BigInt)]
    queue_length: i64,
    #[diesel(sql_type = st::Nullable<st::Text>)]
    match_status: Option<String>,
}

impl ViewRow {
    pub(crate) fn into_view(self) -> Result<jobby_domain::model::queue::QueueView, StoreError> {
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

/// A seeker's status in one statement. The queue length is the sum of the event's
/// `queue_counts` (kept by a trigger); the place is that less the waiting seekers behind,
/// so a new seeker's place costs nothing to count.
pub(crate) const QUEUE_VIEW: &str = "\
SELECT q.event_id, q.state, q.match_id, \
  CASE WHEN q.state = 'waiting' THEN n.waiting - (SELECT count(*) FROM queue_entries w \
    WHERE w.event_id = q.event_id AND w.state = 'waiting' \
      AND (w.joined_at, w.seeker_id) > (q.joined_at, q.seeker_id)) ELSE 0 END AS position, \
  n.waiting AS queue_length, \
  m.status AS match_status \
FROM queue_entries q \
  CROSS JOIN LATERAL (SELECT coalesce(sum(c.waiting), 0)::bigint AS waiting FROM queue_counts c \
    WHERE c.event_id = q.event_id) n \
  LEFT JOIN matches m ON m.id = q.match_id \
WHERE q.seeker_id = $1";
