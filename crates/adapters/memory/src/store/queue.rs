//! The queue of an event.

use super::MemRepo;
use async_trait::async_trait;
use jobby_domain::model::ids::EventId;
use jobby_domain::model::ids::{MatchId, UserId};
use jobby_domain::model::matching::Waiting;
use jobby_domain::model::queue::{EntryState, QueueEntry, QueueView};
use jobby_domain::ports::{QueueRepo, StoreError};

#[async_trait]
impl QueueRepo for MemRepo<'_> {
    async fn waiting(&mut self, event: EventId, limit: usize) -> Result<Vec<Waiting>, StoreError> {
        let mut w = self.state.waiting_in(event);
        w.truncate(limit);
        Ok(w)
    }
    async fn entry_of(&mut self, seeker: UserId) -> Result<Option<QueueEntry>, StoreError> {
        Ok(self.state.entries.get(&seeker).copied())
    }
    async fn insert_entry(&mut self, entry: &QueueEntry) -> Result<bool, StoreError> {
        if self.state.entries.contains_key(&entry.seeker_id) {
            return Ok(false);
        }
        self.state.entries.insert(entry.seeker_id, *entry);
        Ok(true)
    }
    async fn set_entry_state(
        &mut self,
        seeker: UserId,
        state: EntryState,
    ) -> Result<(), StoreError> {
        if let Some(e) = self.state.entries.get_mut(&seeker) {
            e.state = state;
        }
        Ok(())
    }
    async fn set_entries_matched(
        &mut self,
        seated: &[(UserId, MatchId)],
    ) -> Result<(), StoreError> {
        for (seeker, id) in seated {
            if let Some(e) = self.state.entries.get_mut(seeker) {
                e.state = EntryState::Matched(*id);
            }
        }
        Ok(())
    }
    async fn delete_entry(&mut self, seeker: UserId) -> Result<(), StoreError> {
        self.state.entries.remove(&seeker);
        Ok(())
    }
    async fn remove_waiting(&mut self, event: EventId) -> Result<Vec<UserId>, StoreError> {
        let gone: Vec<UserId> = self
            .state
            .waiting_in(event)
            .into_iter()
            .map(|w| w.seeker)
            .collect();
        for s in &gone {
            self.state.entries.remove(s);
        }
        Ok(gone)
    }
    async fn queue_view(&mut self, seeker: UserId) -> Result<Option<QueueView>, StoreError> {
        let Some(entry) = self.state.entries.get(&seeker).copied() else {
            return Ok(None);
        };
        let waiting = self.state.waiting_in(entry.event_id);
        let position = match entry.state {
            EntryState::Waiting => waiting
                .iter()
                .position(|w| w.seeker == seeker)
                .map_or(0, |p| p as u32 + 1),
            EntryState::Matched(_) => 0,
        };
        let match_status = match entry.state {
            EntryState::Matched(id) => self.state.matches.get(&id).map(|m| m.status),
            EntryState::Waiting => None,
        };
        Ok(Some(QueueView {
            event_id: entry.event_id,
            state: entry.state,
            position,
            queue_length: waiting.len() as u32,
            match_status,
        }))
    }
}
