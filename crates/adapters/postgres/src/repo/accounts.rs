//! Accounts and browser sessions.

use super::PgRepo;
use crate::rows::accounts::{SessionRow, UserRow};
use crate::rows::profile::ProfileWrite;
use crate::rows::store_err;
use crate::schema::{profiles, sessions, users};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jobby_domain::model::account::{Email, User};
use jobby_domain::model::ids::UserId;
use jobby_domain::model::profile::Profile;
use jobby_domain::model::session::SessionRecord;
use jobby_domain::model::token::TokenHash;
use jobby_domain::ports::{AccountRepo, StoreError};

#[async_trait]
impl AccountRepo for PgRepo<'_> {
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
}
