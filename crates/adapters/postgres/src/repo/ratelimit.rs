//! Accounts' own rate limits.

use super::PgRepo;
use crate::rows::store_err;
use crate::schema::rate_limit_overrides;
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use jobby_domain::model::ids::UserId;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::ports::{RateLimitRepo, StoreError};

#[async_trait]
impl RateLimitRepo for PgRepo<'_> {
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
}
