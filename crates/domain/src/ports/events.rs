//! Events and their interviewer seats.

use crate::model::event::{Event, LiveEvent, Seat};
use crate::model::ids::EventId;
use crate::model::ids::UserId;
use crate::model::matching::FreeSeat;
use crate::model::page::PageRequest;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// How [`EventRepo::lock_event`] holds an event until the transaction ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventLock {
    /// The event keeps its status (live, ended, …) until the transaction ends; any number
    /// of transactions hold this at once, beside one holding [`EventLock::Matching`]. A join
    /// takes this: its entry cannot land in an event that ended meanwhile.
    Status,
    /// One transaction at a time seats the event's interviewers: matching rounds, accepts,
    /// completions, expiries, leaves, availability. Joins and declines go on beside it (a
    /// decline holds only its match, see [`super::MatchRepo::lock_match`]).
    Matching,
    /// [`EventLock::Matching`], and nothing else either: the event's own status or settings
    /// change (start, end, update).
    Exclusive,
}

/// Events and their interviewer seats. Seats are given under [`EventRepo::lock_event`] with
/// [`EventLock::Matching`] or stronger; a seeker enters the queue under
/// [`EventLock::Status`].
#[async_trait]
pub trait EventRepo: Send {
    async fn insert_event(&mut self, event: &Event) -> Result<(), StoreError>;
    async fn update_event(&mut self, event: &Event) -> Result<(), StoreError>;
    /// An event the user owns or interviews at.
    async fn event_for(&mut self, user: UserId, id: EventId) -> Result<Option<Event>, StoreError>;
    /// The events the user owns or interviews at, newest first, `limit + 1` rows.
    async fn list_events_for(
        &mut self,
        user: UserId,
        page: PageRequest<EventId>,
    ) -> Result<Vec<Event>, StoreError>;
    /// Locks the event until the transaction ends and returns it as it is once the lock is
    /// held. Matching runs under [`EventLock::Matching`], one round at a time per event
    /// whichever process runs it, so a seat is never given twice.
    async fn lock_event(
        &mut self,
        id: EventId,
        lock: EventLock,
    ) -> Result<Option<Event>, StoreError>;
    /// Live events, newest first, `limit + 1` rows.
    async fn live_events(
        &mut self,
        page: PageRequest<EventId>,
    ) -> Result<Vec<LiveEvent>, StoreError>;
    async fn live_event(&mut self, id: EventId) -> Result<Option<LiveEvent>, StoreError>;
    async fn seats(&mut self, event: EventId) -> Result<Vec<Seat>, StoreError>;
    /// Makes `users` the event's interviewers. Seats of users who stay keep their state; new
    /// seats start unavailable.
    async fn replace_seats(
        &mut self,
        event: EventId,
        users: &[UserId],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Marks an interviewer (un)available; becoming available starts their idle time.
    /// `false` when they hold no seat at the event.
    async fn set_available(
        &mut self,
        event: EventId,
        user: UserId,
        available: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Restarts an interviewer's idle time (their match ended).
    async fn touch_idle(
        &mut self,
        event: EventId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Whether a matching round could seat anyone now: an available interviewer holds no
    /// live match while a seeker waits (a snapshot, taken without any lock).
    async fn can_seat(&mut self, event: EventId) -> Result<bool, StoreError>;
    /// The event's available interviewers who hold no live match in any event (a snapshot:
    /// see [`EventRepo::claim_seats`]).
    async fn free_seats(&mut self, event: EventId) -> Result<Vec<FreeSeat>, StoreError>;
    /// Locks these interviewers' accounts until the transaction ends (in id order, so two
    /// events' matching never deadlock) and returns those still available in this event and
    /// holding no live match in any event. Another event's matching cannot seat them until
    /// this transaction ends.
    async fn claim_seats(
        &mut self,
        event: EventId,
        interviewers: &[UserId],
    ) -> Result<Vec<UserId>, StoreError>;
}
