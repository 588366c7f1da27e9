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

use crate::rows::{
    ProfileRow, ProfileWrite, SessionRow, TokenRow, UserRow, allowlist, allowlist_strings,
    notifications_json, scope_names, settings_from, store_err,
};
use crate::schema::{
    api_tokens, idempotency_keys, profiles, rate_limit_overrides, sessions, settings, users,
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
