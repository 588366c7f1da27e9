//! Events and their interviewer seats.

use super::MemRepo;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobby_domain::model::event::{Event, EventStatus, LiveEvent, Seat};
use jobby_domain::model::ids::EventId;
use jobby_domain::model::ids::UserId;
use jobby_domain::model::matching::FreeSeat;
use jobby_domain::model::page::PageRequest;
use jobby_domain::ports::{EventLock, EventRepo, StoreError};
use std::collections::HashSet;
use uuid::Uuid;

#[async_trait]
impl EventRepo for MemRepo<'_> {
    async fn insert_event(&mut self, event: &Event) -> Result<(), StoreError> {
        self.state.events.insert(event.id, event.clone());
        Ok(())
    }
    async fn update_event(&mut self, event: &Event) -> Result<(), StoreError> {
        self.state.events.insert(event.id, event.clone());
        Ok(())
    }
    async fn event_for(&mut self, user: UserId, id: EventId) -> Result<Option<Event>, StoreError> {
        Ok(self
            .state
            .events
            .get(&id)
            .filter(|e| e.owner_id == user || self.state.seats.contains_key(&(id, user)))
            .cloned())
    }
    async fn list_events_for(
        &mut self,
        user: UserId,
        page: PageRequest<EventId>,
    ) -> Result<Vec<Event>, StoreError> {
        let state = &*self.state;
        Ok(state
            .events
            .values()
            .rev()
            .filter(|e| page.after.is_none_or(|a| e.id < a))
            .filter(|e| e.owner_id == user || state.seats.contains_key(&(e.id, user)))
            .take(page.limit as usize)
            .cloned()
            .collect())
    }
    async fn lock_event(
        &mut self,
        id: EventId,
        _lock: EventLock,
    ) -> Result<Option<Event>, StoreError> {
        // The whole transaction already holds the store's lock.
        Ok(self.state.events.get(&id).cloned())
    }
    async fn live_events(
        &mut self,
        page: PageRequest<EventId>,
    ) -> Result<Vec<LiveEvent>, StoreError> {
        let state = &*self.state;
        Ok(state
            .events
            .values()
            .rev()
            .filter(|e| e.status == EventStatus::Live && page.after.is_none_or(|a| e.id < a))
            .take(page.limit as usize)
            .map(|e| state.live(e))
            .collect())
    }
    async fn live_event(&mut self, id: EventId) -> Result<Option<LiveEvent>, StoreError> {
        let state = &*self.state;
        Ok(state
            .events
            .get(&id)
            .filter(|e| e.status == EventStatus::Live)
            .map(|e| state.live(e)))
    }
    async fn seats(&mut self, event: EventId) -> Result<Vec<Seat>, StoreError> {
        let mut seats: Vec<Seat> = self
            .state
            .seats
            .range(
                (event, UserId::from_uuid(Uuid::nil()))..=(event, UserId::from_uuid(Uuid::max())),
            )
            .map(|(_, s)| *s)
            .collect();
        seats.sort_by_key(|s| s.user_id);
        Ok(seats)
    }
    async fn replace_seats(
        &mut self,
        event: EventId,
        users: &[UserId],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.state
            .seats
            .retain(|(e, u), _| *e != event || users.contains(u));
        for &u in users {
            self.state.seats.entry((event, u)).or_insert(Seat {
                user_id: u,
                available: false,
                idle_since: now,
            });
        }
        Ok(())
    }
    async fn set_available(
        &mut self,
        event: EventId,
        user: UserId,
        available: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Some(seat) = self.state.seats.get_mut(&(event, user)) else {
            return Ok(false);
        };
        if available && !seat.available {
            seat.idle_since = now;
        }
        seat.available = available;
        Ok(true)
    }
    async fn touch_idle(
        &mut self,
        event: EventId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if let Some(seat) = self.state.seats.get_mut(&(event, user)) {
            seat.idle_since = now;
        }
        Ok(())
    }
    async fn can_seat(&mut self, event: EventId) -> Result<bool, StoreError> {
        let waiting = !self.state.waiting_in(event).is_empty();
        Ok(waiting && !self.free_seats(event).await?.is_empty())
    }
    async fn free_seats(&mut self, event: EventId) -> Result<Vec<FreeSeat>, StoreError> {
        let busy: HashSet<UserId> = self
            .state
            .matches
            .values()
            .filter(|m| m.status.is_live())
            .map(|m| m.interviewer_id)
            .collect();
        Ok(self
            .seats(event)
            .await?
            .into_iter()
            .filter(|s| s.available && !busy.contains(&s.user_id))
            .map(|s| FreeSeat {
                interviewer: s.user_id,
                idle_since: s.idle_since,
            })
            .collect())
    }
    async fn claim_seats(
        &mut self,
        event: EventId,
        interviewers: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        // Everything here runs under the store's one lock: no other matching runs meanwhile.
        Ok(self
            .free_seats(event)
            .await?
            .into_iter()
            .map(|s| s.interviewer)
            .filter(|u| interviewers.contains(u))
            .collect())
    }
}
