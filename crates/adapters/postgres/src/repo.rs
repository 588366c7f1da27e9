//! [`Repo`] over one connection: inside a transaction when [`crate::PgDatabase`] opened one,
//! statement by statement otherwise.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types as st;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use ipnet::IpNet;
use jobby_domain::model::account::{Email, User};
use jobby_domain::model::idempotency::{IdempotencyScope, SavedResponse};
use jobby_domain::model::ids::{TokenId, UserId};
use jobby_domain::model::page::PageRequest;
use jobby_domain::model::profile::{Profile, Settings};
use jobby_domain::model::session::SessionRecord;
use jobby_domain::model::token::{TokenHash, TokenRecord};
use jobby_domain::ports::{Repo, StoreError};

use std::collections::HashSet;

use jobby_domain::model::event::{Event, LiveEvent, Seat};
use jobby_domain::model::ids::{EventId, MatchId};
use jobby_domain::model::matches::{Match, MatchStatus};
use jobby_domain::model::matching::{FreeSeat, Waiting};
use jobby_domain::model::outbox::{DomainEvent, OutboxRecord};
use jobby_domain::model::queue::{EntryState, QueueEntry, QueueView};
use jobby_domain::model::room::RoomTicket;
use uuid::Uuid;

use crate::live::{
    EntryRow, EventRow, MatchRow, OutboxRow, QUEUE_VIEW, SeatRow, TicketRow, ViewRow, entry_columns,
};
use crate::rows::{
    ProfileRow, ProfileWrite, SessionRow, TokenRow, UserRow, allowlist, allowlist_strings,
    notifications_json, scope_names, settings_from, store_err,
};
use crate::schema::{
    api_tokens, event_interviewers, events, idempotency_keys, matches, outbox, profiles,
    queue_entries, rate_limit_overrides, room_tickets, sessions, settings, users,
};
use jobby_domain::model::ratelimit::RateClass;

/// The repository over a borrowed connection.
pub struct PgRepo<'c> {
    conn: &'c mut AsyncPgConnection,
}

impl<'c> PgRepo<'c> {
    pub fn new(conn: &'c mut AsyncPgConnection) -> Self {
        PgRepo { conn }
    }
}

impl PgRepo<'_> {
    /// Adds each live event's queue length and available seats (two grouped counts).
    async fn with_counts(&mut self, rows: Vec<EventRow>) -> Result<Vec<LiveEvent>, StoreError> {
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let queued: Vec<(Uuid, i64)> = events::table
            .filter(events::id.eq_any(&ids))
            .select((events::id, events::waiting_count))
            .load::<(Uuid, i32)>(&mut *self.conn)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|(id, n)| (id, i64::from(n)))
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

fn no_account(user: UserId) -> StoreError {
    StoreError::Unavailable(format!("no account {user}"))
}

#[async_trait]
impl Repo for PgRepo<'_> {
    async fn insert_user(&mut self, user: &User, profile: &Profile) -> Result<(), StoreError> {
        diesel::insert_into(users::table)
            .values((
                users::id.eq(user.id.uuid()),
                users::email.eq(user.email.as_str()),
                users::account_type.eq(user.account_type.as_str()),
                users::password_hash.eq(&user.password_hash),
                users::created_at.eq(user.created_at),
            ))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        diesel::insert_into(profiles::table)
            .values(ProfileWrite::new(user.id, profile))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn user_by_email(&mut self, email: &Email) -> Result<Option<User>, StoreError> {
        let row = users::table
            .filter(users::email.eq(email.as_str()))
            .select(UserRow::as_select())
            .first(&mut *self.conn)
            .await
            .optional()
            .map_err(store_err)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn user_by_id(&mut self, id: UserId) -> Result<Option<User>, StoreError> {
        let row = users::table
            .find(id.uuid())
            .select(UserRow::as_select())
            .first(&mut *self.conn)
            .await
            .optional()
            .map_err(store_err)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn insert_token(
        &mut self,
        token: &TokenRecord,
        hash: &TokenHash,
    ) -> Result<(), StoreError> {
        diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::id.eq(token.id.uuid()),
                api_tokens::user_id.eq(token.user_id.uuid()),
                api_tokens::name.eq(&token.name),
                api_tokens::scopes.eq(scope_names(&token.scopes)),
                api_tokens::token_hash.eq(&hash.0[..]),
                api_tokens::last4.eq(&token.last4),
                api_tokens::created_at.eq(token.created_at),
                api_tokens::expires_at.eq(token.expires_at),
                api_tokens::last_used_at.eq(token.last_used_at),
                api_tokens::last_used_ip.eq(token.last_used_ip.as_deref()),
                api_tokens::revoked_at.eq(token.revoked_at),
            ))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn list_tokens(
        &mut self,
        user: UserId,
        page: PageRequest<TokenId>,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        let mut query = api_tokens::table
            .filter(api_tokens::user_id.eq(user.uuid()))
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(api_tokens::id.lt(after.uuid()));
        }
        let rows = query
            .order(api_tokens::id.desc())
            .limit(i64::from(page.limit))
            .select(TokenRow::as_select())
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(rows.into_iter().map(TokenRecord::from).collect())
    }

    async fn find_token(
        &mut self,
        user: UserId,
        id: TokenId,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let row = api_tokens::table
            .filter(api_tokens::id.eq(id.uuid()))
            .filter(api_tokens::user_id.eq(user.uuid()))
            .select(TokenRow::as_select())
            .first(&mut *self.conn)
            .await
            .optional()
            .map_err(store_err)?;
        Ok(row.map(TokenRecord::from))
    }

    async fn revoke_token(
        &mut self,
        user: UserId,
        id: TokenId,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        // The first revocation time stands; revoking again changes nothing.
        let revoked_at = diesel::dsl::sql::<st::Nullable<st::Timestamptz>>("coalesce(revoked_at, ")
            .bind::<st::Timestamptz, _>(now)
            .sql(")");
        let row = diesel::update(
            api_tokens::table
                .filter(api_tokens::id.eq(id.uuid()))
                .filter(api_tokens::user_id.eq(user.uuid())),
        )
        .set(api_tokens::revoked_at.eq(revoked_at))
        .returning(TokenRow::as_returning())
        .get_result(&mut *self.conn)
        .await
        .optional()
        .map_err(store_err)?;
        Ok(row.map(TokenRecord::from))
    }

    async fn insert_session(&mut self, session: &SessionRecord) -> Result<(), StoreError> {
        diesel::insert_into(sessions::table)
            .values((
                sessions::id.eq(session.id.uuid()),
                sessions::user_id.eq(session.user_id.uuid()),
                sessions::secret_hash.eq(&session.secret_hash.0[..]),
                sessions::csrf_token.eq(&session.csrf_token),
                sessions::created_at.eq(session.created_at),
                sessions::expires_at.eq(session.expires_at),
            ))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn session_by_hash(
        &mut self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<(SessionRecord, User)>, StoreError> {
        let row = sessions::table
            .inner_join(users::table)
            .filter(sessions::secret_hash.eq(&hash.0[..]))
            .filter(sessions::expires_at.gt(now))
            .select((SessionRow::as_select(), UserRow::as_select()))
            .first::<(SessionRow, UserRow)>(&mut *self.conn)
            .await
            .optional()
            .map_err(store_err)?;
        row.map(|(s, u)| Ok((s.into_record()?, u.into_user()?)))
            .transpose()
    }

    async fn delete_session(&mut self, hash: &TokenHash) -> Result<(), StoreError> {
        diesel::delete(sessions::table.filter(sessions::secret_hash.eq(&hash.0[..])))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn profile(&mut self, user: UserId) -> Result<Profile, StoreError> {
        let row = profiles::table
            .find(user.uuid())
            .select(ProfileRow::as_select())
            .first(&mut *self.conn)
            .await
            .optional()
            .map_err(store_err)?;
        row.map(Profile::from).ok_or_else(|| no_account(user))
    }

    async fn save_profile(&mut self, user: UserId, profile: &Profile) -> Result<(), StoreError> {
        let n = diesel::update(profiles::table.find(user.uuid()))
            .set((
                ProfileWrite::new(user, profile),
                profiles::updated_at.eq(diesel::dsl::now),
            ))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        if n == 0 {
            return Err(no_account(user));
        }
        Ok(())
    }

    async fn settings(&mut self, user: UserId) -> Result<Settings, StoreError> {
        let row: Option<(Option<String>, Option<serde_json::Value>)> = users::table
            .left_join(settings::table)
            .filter(users::id.eq(user.uuid()))
            .select((
                settings::timezone.nullable(),
                settings::notifications.nullable(),
            ))
            .first(&mut *self.conn)
            .await
            .optional()
            .map_err(store_err)?;
        match row {
            None => Err(no_account(user)),
            Some((Some(timezone), Some(notifications))) => settings_from(timezone, notifications),
            Some(_) => Ok(Settings::default()),
        }
    }

    async fn save_settings(&mut self, user: UserId, s: &Settings) -> Result<(), StoreError> {
        let notifications = notifications_json(s)?;
        diesel::insert_into(settings::table)
            .values((
                settings::user_id.eq(user.uuid()),
                settings::timezone.eq(&s.timezone),
                settings::notifications.eq(&notifications),
            ))
            .on_conflict(settings::user_id)
            .do_update()
            .set((
                settings::timezone.eq(excluded(settings::timezone)),
                settings::notifications.eq(excluded(settings::notifications)),
            ))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn allowlist(&mut self, user: UserId) -> Result<Vec<IpNet>, StoreError> {
        let row: Option<Vec<String>> = users::table
            .find(user.uuid())
            .select(users::ip_allowlist)
            .first(&mut *self.conn)
            .await
            .optional()
            .map_err(store_err)?;
        allowlist(row.ok_or_else(|| no_account(user))?)
    }

    async fn save_allowlist(&mut self, user: UserId, cidrs: &[IpNet]) -> Result<(), StoreError> {
        let n = diesel::update(users::table.find(user.uuid()))
            .set(users::ip_allowlist.eq(allowlist_strings(cidrs)))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        if n == 0 {
            return Err(no_account(user));
        }
        Ok(())
    }

    async fn set_rate_limit(
        &mut self,
        user: UserId,
        class: RateClass,
        per_minute: Option<u32>,
    ) -> Result<(), StoreError> {
        use rate_limit_overrides::dsl as o;
        match per_minute {
            Some(n) => {
                let n = i32::try_from(n)
                    .map_err(|_| StoreError::Unavailable(format!("override {n} out of range")))?;
                diesel::insert_into(o::rate_limit_overrides)
                    .values((
                        o::user_id.eq(user.uuid()),
                        o::class.eq(class.as_str()),
                        o::per_minute.eq(n),
                    ))
                    .on_conflict((o::user_id, o::class))
                    .do_update()
                    .set(o::per_minute.eq(excluded(o::per_minute)))
                    .execute(&mut *self.conn)
                    .await
                    .map_err(store_err)?;
            }
            None => {
                diesel::delete(
                    o::rate_limit_overrides
                        .filter(o::user_id.eq(user.uuid()))
                        .filter(o::class.eq(class.as_str())),
                )
                .execute(&mut *self.conn)
                .await
                .map_err(store_err)?;
            }
        }
        Ok(())
    }

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

    async fn lock_event(&mut self, id: EventId) -> Result<Option<Event>, StoreError> {
        let row = events::table
            .find(id.uuid())
            .select(EventRow::as_select())
            .for_no_key_update()
            .first(&mut *self.conn)
            .await
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

    async fn declined_pairs(
        &mut self,
        event: EventId,
    ) -> Result<HashSet<(UserId, UserId)>, StoreError> {
        let rows: Vec<(Uuid, Uuid)> = matches::table
            .filter(matches::event_id.eq(event.uuid()))
            .filter(matches::declined_by.eq("interviewer"))
            .select((matches::seeker_id, matches::interviewer_id))
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(rows
            .into_iter()
            .map(|(s, i)| (UserId::from_uuid(s), UserId::from_uuid(i)))
            .collect())
    }

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

    async fn insert_entry(&mut self, entry: &QueueEntry) -> Result<(), StoreError> {
        let (state, match_id) = entry_columns(entry.state);
        diesel::insert_into(queue_entries::table)
            .values((
                queue_entries::seeker_id.eq(entry.seeker_id.uuid()),
                queue_entries::event_id.eq(entry.event_id.uuid()),
                queue_entries::joined_at.eq(entry.joined_at),
                queue_entries::state.eq(state),
                queue_entries::match_id.eq(match_id),
            ))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
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

    async fn insert_match(&mut self, m: &Match) -> Result<(), StoreError> {
        diesel::insert_into(matches::table)
            .values(MatchRow::from(m))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn update_match(&mut self, m: &Match) -> Result<(), StoreError> {
        diesel::update(matches::table.find(m.id.uuid()))
            .set(MatchRow::from(m))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn match_for(&mut self, user: UserId, id: MatchId) -> Result<Option<Match>, StoreError> {
        let row = matches::table
            .filter(matches::id.eq(id.uuid()))
            .filter(
                matches::seeker_id
                    .eq(user.uuid())
                    .or(matches::interviewer_id.eq(user.uuid())),
            )
            .select(MatchRow::as_select())
            .first(&mut *self.conn)
            .await
            .optional()
            .map_err(store_err)?;
        row.map(MatchRow::into_match).transpose()
    }

    async fn list_matches_for(
        &mut self,
        user: UserId,
        status: Option<MatchStatus>,
        page: PageRequest<MatchId>,
    ) -> Result<Vec<Match>, StoreError> {
        let mut query = matches::table
            .filter(
                matches::seeker_id
                    .eq(user.uuid())
                    .or(matches::interviewer_id.eq(user.uuid())),
            )
            .into_boxed();
        if let Some(s) = status {
            query = query.filter(matches::status.eq(s.as_str()));
        }
        if let Some(after) = page.after {
            query = query.filter(matches::id.lt(after.uuid()));
        }
        let rows = query
            .order(matches::id.desc())
            .limit(i64::from(page.limit))
            .select(MatchRow::as_select())
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        rows.into_iter().map(MatchRow::into_match).collect()
    }

    async fn live_matches(&mut self, event: EventId) -> Result<Vec<Match>, StoreError> {
        let rows = matches::table
            .filter(matches::event_id.eq(event.uuid()))
            .filter(matches::status.eq_any(["pending", "accepted"]))
            .order(matches::id)
            .select(MatchRow::as_select())
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        rows.into_iter().map(MatchRow::into_match).collect()
    }

    async fn due_matches(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Match>, StoreError> {
        let rows = matches::table
            .filter(matches::status.eq("pending"))
            .filter(matches::expires_at.le(now))
            .order((matches::expires_at, matches::id))
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .select(MatchRow::as_select())
            .load(&mut *self.conn)
            .await
            .map_err(store_err)?;
        rows.into_iter().map(MatchRow::into_match).collect()
    }

    async fn insert_room_ticket(
        &mut self,
        hash: &TokenHash,
        ticket: &RoomTicket,
    ) -> Result<(), StoreError> {
        diesel::insert_into(room_tickets::table)
            .values((
                room_tickets::secret_hash.eq(&hash.0[..]),
                room_tickets::match_id.eq(ticket.match_id.uuid()),
                room_tickets::user_id.eq(ticket.user_id.uuid()),
                room_tickets::issued_at.eq(ticket.issued_at),
                room_tickets::expires_at.eq(ticket.expires_at),
                room_tickets::used_at.eq(ticket.used_at),
            ))
            .execute(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn room_ticket(&mut self, hash: &TokenHash) -> Result<Option<RoomTicket>, StoreError> {
        let row = room_tickets::table
            .find(&hash.0[..])
            .select(TicketRow::as_select())
            .first(&mut *self.conn)
            .await
            .optional()
            .map_err(store_err)?;
        Ok(row.map(RoomTicket::from))
    }

    async fn use_room_ticket(
        &mut self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            room_tickets::table
                .filter(room_tickets::secret_hash.eq(&hash.0[..]))
                .filter(room_tickets::used_at.is_null()),
        )
        .set(room_tickets::used_at.eq(now))
        .execute(&mut *self.conn)
        .await
        .map_err(store_err)?;
        Ok(n == 1)
    }

    async fn append_outbox(&mut self, events: &[DomainEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
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

    async fn outbox_head(&mut self) -> Result<i64, StoreError> {
        let head: Option<i64> = outbox::table
            .select(diesel::dsl::max(outbox::id))
            .first(&mut *self.conn)
            .await
            .map_err(store_err)?;
        Ok(head.unwrap_or(0))
    }

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
