//! Completing idempotency keys inside the transaction that applied the effect.

use super::PgRepo;
use crate::rows::store_err;
use crate::schema::idempotency_keys;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jobby_domain::model::idempotency::{IdempotencyScope, SavedResponse};
use jobby_domain::ports::{IdempotencyRepo, StoreError};

#[async_trait]
impl IdempotencyRepo for PgRepo<'_> {
    async fn complete_idempotency(
        &mut self,
        scope: &IdempotencyScope,
        response: &SavedResponse,
        claimed_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let status = i16::try_from(response.status).map_err(|_| {
            StoreError::Unavailable(format!("response status {} does not fit", response.status))
        })?;
        let n = diesel::update(
            idempotency_keys::table
                .filter(idempotency_keys::user_id.eq(scope.user_id.uuid()))
                .filter(idempotency_keys::key.eq(scope.key))
                .filter(idempotency_keys::response_status.is_null())
                .filter(idempotency_keys::created_at.eq(claimed_at)),
        )
        .set((
            idempotency_keys::response_status.eq(status),
            idempotency_keys::response_content_type.eq(&response.content_type),
            idempotency_keys::response_body.eq(&response.body),
        ))
        .execute(&mut *self.conn)
        .await
        .map_err(store_err)?;
        if n == 0 {
            return Err(StoreError::Unavailable(
                "this request no longer holds the idempotency key".into(),
            ));
        }
        Ok(())
    }
}
