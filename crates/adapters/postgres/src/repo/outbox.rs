//! The outbox of domain events.

use super::PgRepo;
use crate::rows::outbox::OutboxRow;
use crate::rows::store_err;
use crate::schema::outbox;
use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jobby_domain::model::ids::UserId;
use jobby_domain::model::outbox::{DomainEvent, OutboxRecord};
use jobby_domain::ports::{OutboxRepo, StoreError};

#[async_trait]
impl OutboxRepo for PgRepo<'_> {
    async fn append_outbox(&mut self, events: &[DomainEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        self.named
            .extend(events.iter().flat_map(|e| e.users.iter().copied()));
        let rows: Vec<_> = events
            .iter()
            .map(|e| {
                (
                    outbox::kind.eq(e.kind.as_str()),
                    outbox::event_id.eq(e.event_id.map(|id| id.uuid())),
                    outbox::user_ids.eq(e.users.iter().map(UserId::uuid).collect::<Vec<_>>()),
                    outbox::payload.eq(&e.payload),
                    outbox::created_at.eq(e.at),
                )
            })
            .collect();
        diesel::insert_into(outbox::table)
            .values(rows)
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }
    async fn outbox_after(
        &mut self,
        seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        let rows = outbox::table
            .filter(outbox::id.gt(seq))
            .order(outbox::id)
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .select(OutboxRow::as_select())
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        rows.into_iter().map(OutboxRow::into_record).collect()
    }
    async fn outbox_at(&mut self, seqs: &[i64]) -> Result<Vec<OutboxRecord>, StoreError> {
        if seqs.is_empty() {
            return Ok(vec![]);
        }
        let rows = outbox::table
            .filter(outbox::id.eq_any(seqs))
            .order(outbox::id)
            .select(OutboxRow::as_select())
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        rows.into_iter().map(OutboxRow::into_record).collect()
    }
    async fn outbox_head(&mut self) -> Result<i64, StoreError> {
        let head: Option<i64> = outbox::table
            .select(diesel::dsl::max(outbox::id))
            .first(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(head.unwrap_or(0))
    }
}
