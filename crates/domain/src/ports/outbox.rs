//! The outbox of domain events.

use crate::model::outbox::{DomainEvent, OutboxRecord};
use async_trait::async_trait;

use super::StoreError;

/// The durable, ordered outbox every use-case writes its domain events to, last in its transaction.
#[async_trait]
pub trait OutboxRepo: Send {
    async fn append_outbox(&mut self, events: &[DomainEvent]) -> Result<(), StoreError>;
    /// Records after `seq`, in order, at most `limit`.
    async fn outbox_after(
        &mut self,
        seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, StoreError>;
    /// The records at these positions that exist now, in order (for positions a reader gave
    /// up waiting for).
    async fn outbox_at(&mut self, seqs: &[i64]) -> Result<Vec<OutboxRecord>, StoreError>;
    /// The newest record's position (0 when empty).
    async fn outbox_head(&mut self) -> Result<i64, StoreError>;
}
