//! Events and their interviewer seats.

use super::PgRepo;
use crate::rows::events::{EventRow, SeatRow};
use crate::rows::store_err;
use crate::schema::{event_interviewers, events, matches, queue_counts, queue_entries, users};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jobby_domain::model::event::{Event, LiveEvent, Seat};
use jobby_domain::model::ids::EventId;
use jobby_domain::model::ids::UserId;
use jobby_domain::model::matching::FreeSeat;
use jobby_domain::model::page::PageRequest;
use jobby_domain::ports::{EventLock, EventRepo, StoreError};
use uuid::Uuid;

#[async_trait]
impl EventRepo for PgRepo<'_> {
    async fn insert_event(&mut self, event: &Event) -> Result<(), StoreError> {
        diesel::insert_into(events::table)
            .values(EventRow::from(event))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }
    async fn update_event(&mut self, event: &Event) -> Result<(), StoreError> {
        diesel::update(events::table.find(event.id.uuid()))
            .set(EventRow::from(event))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }
    async fn event_for(&mut self, user: UserId, id: EventId) -> Result<Option<Event>, StoreError> {
        let seat = event_interviewers::table
            .filter(event_interviewers::event_id.eq(events::id))
            .filter(event_interviewers::user_id.eq(user.uuid()));
        let row = events::table
            .filter(events::id.eq(id.uuid()))
            .filter(
                events::owner_id
                    .eq(user.uuid())
                    .or(diesel::dsl::exists(seat)),
            )
            .select(EventRow::as_select())
            .first(&mut *self.conn)
            .await
            .optional()
            .map_err(store_err)?;
        row.map(EventRow::into_event).transpose()
    }
    async fn list_events_for(
        &mut self,
        user: UserId,
        page: PageRequest<EventId>,
    ) -> Result<Vec<Event>, StoreError> {
        let seat = event_interviewers::table
            .filter(event_interviewers::event_id.eq(events::id))
            .filter(event_interviewers::user_id.eq(user.uuid()));
        let mut query = events::table
            .filter(
                events::owner_id
                    .eq(user.uuid())
                    .or(diesel::dsl::exists(seat)),
            )
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(events::id.lt(after.uuid()));
        }
        let rows = query
            .order(events::id.desc())
            .limit(i64::from(page.limit))
            .select(EventRow::as_select())
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        rows.into_iter().map(EventRow::into_event).collect()
    }
    async fn lock_event(
        &mut self,
        id: EventId,
        lock: EventLock,
    ) -> Result<Option<Event>, StoreError> {
        // Matching takes the event's advisory lock, not its row: joins update the row (the
        // waiting count) beside a round. A status change takes both, the advisory lock first
        // as every holder of both does; its row lock (UPDATE) waits for the joins under way,
        // whose KEY SHARE it conflicts with, and keeps new ones out.
        if lock != EventLock::Status {
            diesel::sql_query("SELECT pg_advisory_xact_lock(event_matching_key($1))")
                .bind::<diesel::sql_types::Uuid, _>(id.uuid())
                .execute(&mut *self.conn)
                .await
                .map_err(store_err)?;
        }
        let query = events::table.find(id.uuid()).select(EventRow::as_select());
        let row = match lock {
            EventLock::Status => query.for_key_share().first(&mut *self.conn).await,
            EventLock::Matching => query.first(&mut *self.conn).await,
            EventLock::Exclusive => query.for_update().first(&mut *self.conn).await,
        }
        .optional()
        .map_err(store_err)?;
        row.map(EventRow::into_event).transpose()
    }
    async fn live_events(
        &mut self,
        page: PageRequest<EventId>,
    ) -> Result<Vec<LiveEvent>, StoreError> {
        let mut query = events::table.filter(events::status.eq("live")).into_boxed();
        if let Some(after) = page.after {
            query = query.filter(events::id.lt(after.uuid()));
        }
        let rows = query
            .order(events::id.desc())
            .limit(i64::from(page.limit))
            .select(EventRow::as_select())
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        self.with_counts(rows).await
    }
    async fn live_event(&mut self, id: EventId) -> Result<Option<LiveEvent>, StoreError> {
        let rows = events::table
            .filter(events::id.eq(id.uuid()))
            .filter(events::status.eq("live"))
            .select(EventRow::as_select())
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(self.with_counts(rows).await?.pop())
    }
    async fn seats(&mut self, event: EventId) -> Result<Vec<Seat>, StoreError> {
        let rows = event_interviewers::table
            .filter(event_interviewers::event_id.eq(event.uuid()))
            .order(event_interviewers::user_id)
            .select(SeatRow::as_select())
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(rows.into_iter().map(Seat::from).collect())
    }
    async fn replace_seats(
        &mut self,
        event: EventId,
        users: &[UserId],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let ids: Vec<Uuid> = users.iter().map(UserId::uuid).collect();
        diesel::delete(
            event_interviewers::table
                .filter(event_interviewers::event_id.eq(event.uuid()))
                .filter(diesel::dsl::not(event_interviewers::user_id.eq_any(&ids))),
        )
        .execute(&mut *self.conn)
        .await
        .map_err(store_err)?;
        let rows: Vec<_> = ids
            .iter()
            .map(|u| {
                (
                    event_interviewers::event_id.eq(event.uuid()),
                    event_interviewers::user_id.eq(*u),
                    event_interviewers::available.eq(false),
                    event_interviewers::idle_since.eq(now),
                )
            })
            .collect();
        diesel::insert_into(event_interviewers::table)
            .values(rows)
            .on_conflict_do_nothing()
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }
    async fn set_available(
        &mut self,
        event: EventId,
        user: UserId,
        available: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let seat = event_interviewers::table
            .find((event.uuid(), user.uuid()))
            .select(SeatRow::as_select())
            .first(&mut *self.conn)
            .await
            .optional()
            .map_err(store_err)?;
        let Some(seat) = seat else {
            return Ok(false);
        };
        let idle_since = if available && !seat.available {
            now
        } else {
            seat.idle_since
        };
        diesel::update(event_interviewers::table.find((event.uuid(), user.uuid())))
            .set((
                event_interviewers::available.eq(available),
                event_interviewers::idle_since.eq(idle_since),
            ))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(true)
    }
    async fn touch_idle(
        &mut self,
        event: EventId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        diesel::update(event_interviewers::table.find((event.uuid(), user.uuid())))
            .set(event_interviewers::idle_since.eq(now))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }
    async fn can_seat(&mut self, event: EventId) -> Result<bool, StoreError> {
        let busy = matches::table
            .filter(matches::interviewer_id.eq(event_interviewers::user_id))
            .filter(matches::status.eq_any(["pending", "accepted"]));
        let free = event_interviewers::table
            .filter(event_interviewers::event_id.eq(event.uuid()))
            .filter(event_interviewers::available.eq(true))
            .filter(diesel::dsl::not(diesel::dsl::exists(busy)));
        let waiting = queue_entries::table
            .filter(queue_entries::event_id.eq(event.uuid()))
            .filter(queue_entries::state.eq("waiting"));
        diesel::select(diesel::dsl::exists(free).and(diesel::dsl::exists(waiting)))
            .get_result(&mut *self.conn)
            .await
            .map_err(store_err)
    }
    async fn free_seats(&mut self, event: EventId) -> Result<Vec<FreeSeat>, StoreError> {
        let busy = matches::table
            .filter(matches::interviewer_id.eq(event_interviewers::user_id))
            .filter(matches::status.eq_any(["pending", "accepted"]));
        let rows: Vec<(Uuid, DateTime<Utc>)> = event_interviewers::table
            .filter(event_interviewers::event_id.eq(event.uuid()))
            .filter(event_interviewers::available.eq(true))
            .filter(diesel::dsl::not(diesel::dsl::exists(busy)))
            .select((event_interviewers::user_id, event_interviewers::idle_since))
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(rows
            .into_iter()
            .map(|(u, idle_since)| FreeSeat {
                interviewer: UserId::from_uuid(u),
                idle_since,
            })
            .collect())
    }
    async fn claim_seats(
        &mut self,
        event: EventId,
        interviewers: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        // Lock the accounts first, then look for their live matches in a fresh statement,
        // which sees every match committed before the locks were granted.
        let ids: Vec<Uuid> = interviewers.iter().map(|u| u.uuid()).collect();
        let _: Vec<Uuid> = users::table
            .filter(users::id.eq_any(&ids))
            .order(users::id)
            .select(users::id)
            .for_no_key_update()
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        let busy = matches::table
            .filter(matches::interviewer_id.eq(event_interviewers::user_id))
            .filter(matches::status.eq_any(["pending", "accepted"]));
        let rows: Vec<Uuid> = event_interviewers::table
            .filter(event_interviewers::event_id.eq(event.uuid()))
            .filter(event_interviewers::user_id.eq_any(&ids))
            .filter(event_interviewers::available.eq(true))
            .filter(diesel::dsl::not(diesel::dsl::exists(busy)))
            .select(event_interviewers::user_id)
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(rows.into_iter().map(UserId::from_uuid).collect())
    }
}

impl PgRepo<'_> {
    /// Adds each live event's queue length and available seats (two grouped counts).
    async fn with_counts(&mut self, rows: Vec<EventRow>) -> Result<Vec<LiveEvent>, StoreError> {
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let queued: Vec<(Uuid, i64)> = queue_counts::table
            .filter(queue_counts::event_id.eq_any(&ids))
            .group_by(queue_counts::event_id)
            .select((
                queue_counts::event_id,
                diesel::dsl::sum(queue_counts::waiting),
            ))
            .load::<(Uuid, Option<i64>)>(&mut *self.conn)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|(id, n)| (id, n.unwrap_or(0)))
            .collect();
        let seats: Vec<(Uuid, i64)> = event_interviewers::table
            .filter(event_interviewers::event_id.eq_any(&ids))
            .filter(event_interviewers::available.eq(true))
            .group_by(event_interviewers::event_id)
            .select((event_interviewers::event_id, diesel::dsl::count_star()))
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        let count = |list: &[(Uuid, i64)], id: Uuid| {
            list.iter()
                .find(|(e, _)| *e == id)
                .map_or(0, |(_, n)| u32::try_from(*n).unwrap_or(u32::MAX))
        };
        rows.into_iter()
            .map(|r| {
                let id = r.id;
                Ok(LiveEvent {
                    event: r.into_event()?,
                    queue_length: count(&queued, id),
                    available_seats: count(&seats, id),
                })
            })
            .collect()
    }
}
