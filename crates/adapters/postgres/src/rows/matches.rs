//! Matches and room tickets.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use jobby_domain::model::ids::{EventId, MatchId, UserId};
use jobby_domain::model::matches::{Match, MatchStatus, Side};
use jobby_domain::model::room::RoomTicket;
use jobby_domain::ports::StoreError;
use uuid::Uuid;

use super::corrupt;
use crate::schema::{matches, room_tickets};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = matches, check_for_backend(Pg), treat_none_as_null = true)]
pub(crate) struct MatchRow {
    id: Uuid,
    event_id: Uuid,
    seeker_id: Uuid,
    interviewer_id: Uuid,
    status: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    seeker_accepted_at: Option<DateTime<Utc>>,
    interviewer_accepted_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    declined_by: Option<String>,
    room_name: Option<String>,
    started_at: Option<DateTime<Utc>>,
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
    pub(crate) fn into_match(self) -> Result<Match, StoreError> {
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
    match_id: Uuid,
    user_id: Uuid,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
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
