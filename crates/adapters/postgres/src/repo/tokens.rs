//! Personal access tokens.

use super::PgRepo;
use crate::rows::store_err;
use crate::rows::tokens::{TokenRow, scope_names};
use crate::schema::api_tokens;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types as st;
use diesel_async::RunQueryDsl;
use jobby_domain::model::ids::{TokenId, UserId};
use jobby_domain::model::page::PageRequest;
use jobby_domain::model::token::{TokenHash, TokenRecord};
use jobby_domain::ports::{StoreError, TokenRepo};

#[async_trait]
impl TokenRepo for PgRepo<'_> {
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
}
