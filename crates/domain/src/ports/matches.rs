//! Matches, declines and room tickets.

use crate::model::ids::UserId;
use crate::model::ids::{EventId, MatchId};
use crate::model::matches::{Match, MatchStatus};
use crate::model::page::PageRequest;
use crate::model::room::RoomTicket;
use crate::model::token::TokenHash;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashSet;

use super::StoreError;

/// Matches, the pairs interviewers declined, and the one-time tickets into a match's room.
#[async_trait]
pub trait MatchRepo: Send {
    /// (seeker, interviewer) pairs the interviewer declined in this event.
    async fn declined_pairs(
        &mut self,
        event: EventId,
    ) -> Result<HashSet<(UserId, UserId)>, StoreError>;
    /// Inserts the matches in one write. `Conflict("match")` when a seeker or an interviewer
    /// already has a live match (then none is inserted).
    async fn insert_matches(&mut self, ms: &[Match]) -> Result<(), StoreError>;
    async fn update_match(&mut self, m: &Match) -> Result<(), StoreError>;
    /// A match the user takes part in.
    async fn match_for(&mut self, user: UserId, id: MatchId) -> Result<Option<Match>, StoreError>;
    /// [`MatchRepo::match_for`], the match locked until the transaction ends: every change
    /// to a match is made holding this, so two changes to one match never interleave.
    async fn lock_match(&mut self, user: UserId, id: MatchId) -> Result<Option<Match>, StoreError>;
    /// The user's matches, newest first, `limit + 1` rows.
    async fn list_matches_for(
        &mut self,
        user: UserId,
        status: Option<MatchStatus>,
        page: PageRequest<MatchId>,
    ) -> Result<Vec<Match>, StoreError>;
    /// The event's pending and accepted matches.
    async fn live_matches(&mut self, event: EventId) -> Result<Vec<Match>, StoreError>;
    /// Pending matches whose accept window closed by `now`, oldest deadline first.
    async fn due_matches(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Match>, StoreError>;
    async fn insert_room_ticket(
        &mut self,
        hash: &TokenHash,
        ticket: &RoomTicket,
    ) -> Result<(), StoreError>;
    async fn room_ticket(&mut self, hash: &TokenHash) -> Result<Option<RoomTicket>, StoreError>;
    /// Marks the ticket used, once: `false` when it already was.
    async fn use_room_ticket(
        &mut self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}
