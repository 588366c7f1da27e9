//! Personal access tokens.

use super::MemRepo;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobby_domain::model::ids::{TokenId, UserId};
use jobby_domain::model::page::PageRequest;
use jobby_domain::model::token::{TokenHash, TokenRecord};
use jobby_domain::ports::{StoreError, TokenRepo};

#[async_trait]
impl TokenRepo for MemRepo<'_> {
    async fn insert_token(
        &mut self,
        token: &TokenRecord,
        hash: &TokenHash,
    ) -> Result<(), StoreError> {
        if self.state.token_by_hash.contains_key(hash) {
            return Err(StoreError::Conflict("token_hash"));
        }
        self.state.token_by_hash.insert(*hash, token.id);
        self.state.tokens.insert(token.id, token.clone());
        Ok(())
    }
    async fn list_tokens(
        &mut self,
        user: UserId,
        page: PageRequest<TokenId>,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        let upper = page.after;
        Ok(self
            .state
            .tokens
            .values()
            .rev()
            .filter(|t| t.user_id == user && upper.is_none_or(|u| t.id < u))
            .take(page.limit as usize)
            .cloned()
            .collect())
    }
    async fn find_token(
        &mut self,
        user: UserId,
        id: TokenId,
    ) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self
            .state
            .tokens
            .get(&id)
            .filter(|t| t.user_id == user)
            .cloned())
    }
    async fn revoke_token(
        &mut self,
        user: UserId,
        id: TokenId,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self
            .state
            .tokens
            .get_mut(&id)
            .filter(|t| t.user_id == user)
            .map(|t| {
                t.revoked_at.get_or_insert(now);
                t.clone()
            }))
    }
}
