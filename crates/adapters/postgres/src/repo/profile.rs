//! Profiles, settings and IP allowlists.

use super::{PgRepo, no_account};
use crate::rows::profile::{
    ProfileRow, ProfileWrite, allowlist, allowlist_strings, notifications_json, settings_from,
};
use crate::rows::store_err;
use crate::schema::{profiles, settings, users};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use ipnet::IpNet;
use jobby_domain::model::ids::UserId;
use jobby_domain::model::profile::{Profile, Settings};
use jobby_domain::ports::{ProfileRepo, StoreError};

#[async_trait]
impl ProfileRepo for PgRepo<'_> {
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
}
