//! The queue of an event.

use crate::model::ids::EventId;
use crate::model::ids::{MatchId, UserId};
use crate::model::matching::Waiting;
use crate::model::queue::{EntryState, QueueEntry, QueueView};
use async_trait::async_trait;

use super::StoreError;

/// The seekers waiting in an event's queue, one entry per seeker.
#[async_trait]
pub trait QueueRepo: Send {
    /// The first `limit` waiting seekers, first come first served.
    async fn waiting(&mut self, event: EventId, limit: usize) -> Result<Vec<Waiting>, StoreError>;
    async fn entry_of(&mut self, seeker: UserId) -> Result<Option<QueueEntry>, StoreError>;
    /// Adds the entry; `false` (and nothing changes) when the seeker already has one, in this
    /// event or another. A concurrent insert for the same seeker is waited for.
    async fn insert_entry(&mut self, entry: &QueueEntry) -> Result<bool, StoreError>;
    async fn set_entry_state(
        &mut self,
        seeker: UserId,
        state: EntryState,
    ) -> Result<(), StoreError>;
    /// Marks each seeker's entry matched with their match, in one write.
    async fn set_entries_matched(&mut self, seated: &[(UserId, MatchId)])
    -> Result<(), StoreError>;
    async fn delete_entry(&mut self, seeker: UserId) -> Result<(), StoreError>;
    /// Removes every waiting seeker of the event; returns who they were.
    async fn remove_waiting(&mut self, event: EventId) -> Result<Vec<UserId>, StoreError>;
    /// The seeker's entry with its position and the queue's length.
    async fn queue_view(&mut self, seeker: UserId) -> Result<Option<QueueView>, StoreError>;
}
