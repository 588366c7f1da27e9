//! The outbox of domain events.

use super::{MemRepo, OUTBOX_KEEP};
use async_trait::async_trait;
use jobby_domain::model::outbox::{DomainEvent, OutboxRecord};
use jobby_domain::ports::{OutboxRepo, StoreError};

#[async_trait]
impl OutboxRepo for MemRepo<'_> {
    async fn append_outbox(&mut self, events: &[DomainEvent]) -> Result<(), StoreError> {
        for e in events {
            self.state.outbox_seq += 1;
            self.state.outbox.push_back(OutboxRecord {
                seq: self.state.outbox_seq,
                event: e.clone(),
            });
        }
        while self.state.outbox.len() > OUTBOX_KEEP {
            self.state.outbox.pop_front();
        }
        Ok(())
    }
    async fn outbox_after(
        &mut self,
        seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        Ok(self
            .state
            .outbox
            .iter()
            .filter(|r| r.seq > seq)
            .take(limit)
            .cloned()
            .collect())
    }
    async fn outbox_at(&mut self, seqs: &[i64]) -> Result<Vec<OutboxRecord>, StoreError> {
        Ok(self
            .state
            .outbox
            .iter()
            .filter(|r| seqs.contains(&r.seq))
            .cloned()
            .collect())
    }
    async fn outbox_head(&mut self) -> Result<i64, StoreError> {
        Ok(self.state.outbox_seq)
    }
}
