//! The queue of an event.

use super::PgRepo;
use crate::rows::queue::{EntryRow, QUEUE_VIEW, ViewRow, entry_columns};
use crate::rows::store_err;
use crate::schema::queue_entries;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types as st;
use diesel_async::RunQueryDsl;
use jobby_domain::model::ids::EventId;
use jobby_domain::model::ids::{MatchId, UserId};
use jobby_domain::model::matching::Waiting;
use jobby_domain::model::queue::{EntryState, QueueEntry, QueueView};
use jobby_domain::ports::{QueueRepo, StoreError};
use uuid::Uuid;

#[async_trait]
impl QueueRepo for PgRepo<'_> {
    async fn waiting(&mut self, event: EventId, limit: usize) -> Result<Vec<Waiting>, StoreError> {
        let rows: Vec<(Uuid, DateTime<Utc>)> = queue_entries::table
            .filter(queue_entries::event_id.eq(event.uuid()))
            .filter(queue_entries::state.eq("waiting"))
            .order((queue_entries::joined_at, queue_entries::seeker_id))
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .select((queue_entries::seeker_id, queue_entries::joined_at))
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(rows
            .into_iter()
            .map(|(s, joined_at)| Waiting {
                seeker: UserId::from_uuid(s),
                joined_at,
            })
            .collect())
    }
    async fn entry_of(&mut self, seeker: UserId) -> Result<Option<QueueEntry>, StoreError> {
        let row = queue_entries::table
            .find(seeker.uuid())
            .select(EntryRow::as_select())
            .first(&mut *self.conn)
            .await
            .optional()
            .map_err(store_err)?;
        row.map(EntryRow::into_entry).transpose()
    }
    async fn insert_entry(&mut self, entry: &QueueEntry) -> Result<bool, StoreError> {
        let (state, match_id) = entry_columns(entry.state);
        let inserted = diesel::insert_into(queue_entries::table)
            .values((
                queue_entries::seeker_id.eq(entry.seeker_id.uuid()),
                queue_entries::event_id.eq(entry.event_id.uuid()),
                queue_entries::joined_at.eq(entry.joined_at),
                queue_entries::state.eq(state),
                queue_entries::match_id.eq(match_id),
            ))
            .on_conflict(queue_entries::seeker_id)
            .do_nothing()
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(inserted == 1)
    }
    async fn set_entry_state(
        &mut self,
        seeker: UserId,
        state: EntryState,
    ) -> Result<(), StoreError> {
        let (state, match_id) = entry_columns(state);
        diesel::update(queue_entries::table.find(seeker.uuid()))
            .set((
                queue_entries::state.eq(state),
                queue_entries::match_id.eq(match_id),
            ))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }
    async fn set_entries_matched(
        &mut self,
        seated: &[(UserId, MatchId)],
    ) -> Result<(), StoreError> {
        let (seekers, ids): (Vec<Uuid>, Vec<Uuid>) =
            seated.iter().map(|(s, m)| (s.uuid(), m.uuid())).unzip();
        diesel::sql_query(
            "UPDATE queue_entries q SET state = 'matched', match_id = s.match_id \
             FROM unnest($1::uuid[], $2::uuid[]) AS s(seeker_id, match_id) \
             WHERE q.seeker_id = s.seeker_id",
        )
        .bind::<st::Array<st::Uuid>, _>(seekers)
        .bind::<st::Array<st::Uuid>, _>(ids)
        .execute(&mut *self.conn)
        .await
        .map_err(store_err)?;
        Ok(())
    }
    async fn delete_entry(&mut self, seeker: UserId) -> Result<(), StoreError> {
        diesel::delete(queue_entries::table.find(seeker.uuid()))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }
    async fn remove_waiting(&mut self, event: EventId) -> Result<Vec<UserId>, StoreError> {
        let gone: Vec<Uuid> = diesel::delete(
            queue_entries::table
                .filter(queue_entries::event_id.eq(event.uuid()))
                .filter(queue_entries::state.eq("waiting")),
        )
        .returning(queue_entries::seeker_id)
        .get_results(&mut *self.conn)
        .await
        .map_err(store_err)?;
        Ok(gone.into_iter().map(UserId::from_uuid).collect())
    }
    async fn queue_view(&mut self, seeker: UserId) -> Result<Option<QueueView>, StoreError> {
        let row: Option<ViewRow> = diesel::sql_query(QUEUE_VIEW)
            .bind::<st::Uuid, _>(seeker.uuid())
            .get_result(&mut *self.conn)
            .await
            .optional()
            .map_err(store_err)?;
        row.map(ViewRow::into_view).transpose()
    }
}
