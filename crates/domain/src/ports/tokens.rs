//! Personal access tokens.

use crate::model::ids::{TokenId, UserId};
use crate::model::page::PageRequest;
use crate::model::token::{TokenHash, TokenRecord};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// Personal access tokens. Finders only ever return the given account's tokens.
#[async_trait]
pub trait TokenRepo: Send {
    async fn insert_token(
        &mut self,
        token: &TokenRecord,
        hash: &TokenHash,
    ) -> Result<(), StoreError>;
    /// Newest first, `limit + 1` rows so the caller can tell whether more follow.
    async fn list_tokens(
        &mut self,
        user: UserId,
        page: PageRequest<TokenId>,
    ) -> Result<Vec<TokenRecord>, StoreError>;
    async fn find_token(
        &mut self,
        user: UserId,
        id: TokenId,
    ) -> Result<Option<TokenRecord>, StoreError>;
    /// Sets `revoked_at` if it is not set yet. Returns the token as it now is.
    async fn revoke_token(
        &mut self,
        user: UserId,
        id: TokenId,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenRecord>, StoreError>;
}
