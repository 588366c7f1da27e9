//! Completing idempotency keys inside the transaction that applied the effect.

use super::MemRepo;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobby_domain::model::idempotency::{IdempotencyScope, SavedResponse};
use jobby_domain::ports::{IdempotencyRepo, StoreError};

#[async_trait]
impl IdempotencyRepo for MemRepo<'_> {
    async fn complete_idempotency(
        &mut self,
        scope: &IdempotencyScope,
        response: &SavedResponse,
        claimed_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self.state.idempotency.get_mut(scope) {
            Some(row) if row.response.is_none() && row.created_at == claimed_at => {
                row.response = Some(response.clone());
                Ok(())
            }
            _ => Err(StoreError::Unavailable(
                "this request no longer holds the idempotency key".into(),
            )),
        }
    }
}
