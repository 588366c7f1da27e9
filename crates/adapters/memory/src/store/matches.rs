//! Matches, declines and room tickets.

use super::MemRepo;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobby_domain::model::ids::UserId;
use jobby_domain::model::ids::{EventId, MatchId};
use jobby_domain::model::matches::{Match, MatchStatus, Side};
use jobby_domain::model::page::PageRequest;
use jobby_domain::model::room::RoomTicket;
use jobby_domain::model::token::TokenHash;
use jobby_domain::ports::{MatchRepo, StoreError};
use std::collections::HashSet;

#[async_trait]
impl MatchRepo for MemRepo<'_> {
    async fn declined_pairs(
        &mut self,
        event: EventId,
    ) -> Result<HashSet<(UserId, UserId)>, StoreError> {
        Ok(self
            .state
            .matches
            .values()
            .filter(|m| m.event_id == event && m.declined_by == Some(Side::Interviewer))
            .map(|m| (m.seeker_id, m.interviewer_id))
            .collect())
    }
    async fn insert_matches(&mut self, ms: &[Match]) -> Result<(), StoreError> {
        for (i, m) in ms.iter().enumerate() {
            let taken = |o: &Match| {
                o.status.is_live()
                    && (o.seeker_id == m.seeker_id || o.interviewer_id == m.interviewer_id)
            };
            if self.state.matches.values().any(taken) || ms[..i].iter().any(taken) {
                return Err(StoreError::Conflict("match"));
            }
        }
        for m in ms {
            self.state.matches.insert(m.id, m.clone());
        }
        Ok(())
    }
    async fn update_match(&mut self, m: &Match) -> Result<(), StoreError> {
        self.state.matches.insert(m.id, m.clone());
        Ok(())
    }
    async fn match_for(&mut self, user: UserId, id: MatchId) -> Result<Option<Match>, StoreError> {
        Ok(self
            .state
            .matches
            .get(&id)
            .filter(|m| m.side_of(user).is_some())
            .cloned())
    }
    async fn lock_match(&mut self, user: UserId, id: MatchId) -> Result<Option<Match>, StoreError> {
        // The whole transaction already holds the store's lock.
        self.match_for(user, id).await
    }
    async fn list_matches_for(
        &mut self,
        user: UserId,
        status: Option<MatchStatus>,
        page: PageRequest<MatchId>,
    ) -> Result<Vec<Match>, StoreError> {
        Ok(self
            .state
            .matches
            .values()
            .rev()
            .filter(|m| m.side_of(user).is_some())
            .filter(|m| status.is_none_or(|s| m.status == s))
            .filter(|m| page.after.is_none_or(|a| m.id < a))
            .take(page.limit as usize)
            .cloned()
            .collect())
    }
    async fn live_matches(&mut self, event: EventId) -> Result<Vec<Match>, StoreError> {
        Ok(self
            .state
            .matches
            .values()
            .filter(|m| m.event_id == event && m.status.is_live())
            .cloned()
            .collect())
    }
    async fn due_matches(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Match>, StoreError> {
        let mut due: Vec<Match> = self
            .state
            .matches
            .values()
            .filter(|m| m.status == MatchStatus::Pending && m.expires_at <= now)
            .cloned()
            .collect();
        due.sort_by_key(|m| (m.expires_at, m.id));
        due.truncate(limit);
        Ok(due)
    }
    async fn insert_room_ticket(
        &mut self,
        hash: &TokenHash,
        ticket: &RoomTicket,
    ) -> Result<(), StoreError> {
        if self.state.tickets.contains_key(hash) {
            return Err(StoreError::Conflict("room_ticket"));
        }
        self.state.tickets.insert(*hash, *ticket);
        Ok(())
    }
    async fn room_ticket(&mut self, hash: &TokenHash) -> Result<Option<RoomTicket>, StoreError> {
        Ok(self.state.tickets.get(hash).copied())
    }
    async fn use_room_ticket(
        &mut self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        match self.state.tickets.get_mut(hash) {
            Some(t) if t.used_at.is_none() => {
                t.used_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
