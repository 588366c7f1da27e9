//! Idempotency keys.

use crate::model::idempotency::{IdempotencyScope, SavedResponse};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// Completing an idempotency key inside the transaction that applied the effect. Claiming and releasing keys are [`Database`](super::Database) calls of their own.
#[async_trait]
pub trait IdempotencyRepo: Send {
    /// Saves the response of a claimed idempotency key, completing it. Called inside the
    /// transaction that applied the effect, so both commit or neither does. Only the claim
    /// made at `claimed_at` may complete: if a retry took a stale claim over, the first
    /// request's completion fails and its effect rolls back.
    async fn complete_idempotency(
        &mut self,
        scope: &IdempotencyScope,
        response: &SavedResponse,
        claimed_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}
