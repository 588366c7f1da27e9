//! Matches, declines and room tickets.

use super::PgRepo;
use crate::rows::matches::{MatchRow, TicketRow};
use crate::rows::store_err;
use crate::schema::{matches, room_tickets};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jobby_domain::model::ids::UserId;
use jobby_domain::model::ids::{EventId, MatchId};
use jobby_domain::model::matches::{Match, MatchStatus};
use jobby_domain::model::page::PageRequest;
use jobby_domain::model::room::RoomTicket;
use jobby_domain::model::token::TokenHash;
use jobby_domain::ports::{MatchRepo, StoreError};
use std::collections::HashSet;
use uuid::Uuid;

#[async_trait]
impl MatchRepo for PgRepo<'_> {
    async fn declined_pairs(
        &mut self,
        event: EventId,
    ) -> Result<HashSet<(UserId, UserId)>, StoreError> {
        let rows: Vec<(Uuid, Uuid)> = matches::table
            .filter(matches::event_id.eq(event.uuid()))
            .filter(matches::declined_by.eq("interviewer"))
            .select((matches::seeker_id, matches::interviewer_id))
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(rows
            .into_iter()
            .map(|(s, i)| (UserId::from_uuid(s), UserId::from_uuid(i)))
            .collect())
    }
    async fn insert_matches(&mut self, ms: &[Match]) -> Result<(), StoreError> {
        let rows: Vec<MatchRow> = ms.iter().map(MatchRow::from).collect();
        diesel::insert_into(matches::table)
            .values(rows)
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }
    async fn update_match(&mut self, m: &Match) -> Result<(), StoreError> {
        diesel::update(matches::table.find(m.id.uuid()))
            .set(MatchRow::from(m))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }
    async fn match_for(&mut self, user: UserId, id: MatchId) -> Result<Option<Match>, StoreError> {
        let row = matches::table
            .filter(matches::id.eq(id.uuid()))
            .filter(
                matches::seeker_id
                    .eq(user.uuid())
                    .or(matches::interviewer_id.eq(user.uuid())),
            )
            .select(MatchRow::as_select())
            .first(&mut *self.conn)
            .await
            .optional()
            .map_err(store_err)?;
        row.map(MatchRow::into_match).transpose()
    }
    async fn lock_match(&mut self, user: UserId, id: MatchId) -> Result<Option<Match>, StoreError> {
        let row = matches::table
            .filter(matches::id.eq(id.uuid()))
            .filter(
                matches::seeker_id
                    .eq(user.uuid())
                    .or(matches::interviewer_id.eq(user.uuid())),
            )
            .select(MatchRow::as_select())
            .for_no_key_update()
            .first(&mut *self.conn)
            .await
            .optional()
            .map_err(store_err)?;
        row.map(MatchRow::into_match).transpose()
    }
    async fn list_matches_for(
        &mut self,
        user: UserId,
        status: Option<MatchStatus>,
        page: PageRequest<MatchId>,
    ) -> Result<Vec<Match>, StoreError> {
        let mut query = matches::table
            .filter(
                matches::seeker_id
                    .eq(user.uuid())
                    .or(matches::interviewer_id.eq(user.uuid())),
            )
            .into_boxed();
        if let Some(s) = status {
            query = query.filter(matches::status.eq(s.as_str()));
        }
        if let Some(after) = page.after {
            query = query.filter(matches::id.lt(after.uuid()));
        }
        let rows = query
            .order(matches::id.desc())
            .limit(i64::from(page.limit))
            .select(MatchRow::as_select())
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        rows.into_iter().map(MatchRow::into_match).collect()
    }
    async fn live_matches(&mut self, event: EventId) -> Result<Vec<Match>, StoreError> {
        let rows = matches::table
            .filter(matches::event_id.eq(event.uuid()))
            .filter(matches::status.eq_any(["pending", "accepted"]))
            .order(matches::id)
            .select(MatchRow::as_select())
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        rows.into_iter().map(MatchRow::into_match).collect()
    }
    async fn due_matches(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Match>, StoreError> {
        let rows = matches::table
            .filter(matches::status.eq("pending"))
            .filter(matches::expires_at.le(now))
            .order((matches::expires_at, matches::id))
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .select(MatchRow::as_select())
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        rows.into_iter().map(MatchRow::into_match).collect()
    }
    async fn insert_room_ticket(
        &mut self,
        hash: &TokenHash,
        ticket: &RoomTicket,
    ) -> Result<(), StoreError> {
        diesel::insert_into(room_tickets::table)
            .values((
                room_tickets::secret_hash.eq(&hash.0[..]),
                room_tickets::match_id.eq(ticket.match_id.uuid()),
                room_tickets::user_id.eq(ticket.user_id.uuid()),
                room_tickets::issued_at.eq(ticket.issued_at),
                room_tickets::expires_at.eq(ticket.expires_at),
                room_tickets::used_at.eq(ticket.used_at),
            ))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }
    async fn room_ticket(&mut self, hash: &TokenHash) -> Result<Option<RoomTicket>, StoreError> {
        let row = room_tickets::table
            .find(&hash.0[..])
            .select(TicketRow::as_select())
            .first(&mut *self.conn)
            .await
            .optional()
            .map_err(store_err)?;
        Ok(row.map(RoomTicket::from))
    }
    async fn use_room_ticket(
        &mut self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            room_tickets::table
                .filter(room_tickets::secret_hash.eq(&hash.0[..]))
                .filter(room_tickets::used_at.is_null()),
        )
        .set(room_tickets::used_at.eq(now))
        .execute(&mut *self.conn)
        .await
        .map_err(store_err)?;
        Ok(n == 1)
    }
}
