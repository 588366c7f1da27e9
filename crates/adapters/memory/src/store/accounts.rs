//! Accounts and browser sessions.

use super::{Account, MemRepo};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobby_domain::model::account::{Email, User};
use jobby_domain::model::ids::UserId;
use jobby_domain::model::profile::Profile;
use jobby_domain::model::ratelimit::Overrides;
use jobby_domain::model::session::SessionRecord;
use jobby_domain::model::token::TokenHash;
use jobby_domain::ports::{AccountRepo, StoreError};

#[async_trait]
impl AccountRepo for MemRepo<'_> {
    async fn insert_user(&mut self, user: &User, profile: &Profile) -> Result<(), StoreError> {
        if self.state.by_email.contains_key(user.email.as_str()) {
            return Err(StoreError::Conflict("email"));
        }
        self.state
            .by_email
            .insert(user.email.as_str().to_owned(), user.id);
        let account = Account {
            user: user.clone(),
            profile: profile.clone(),
            settings: None,
            allowlist: vec![],
            rate_limits: Overrides::default(),
        };
        self.state.accounts.insert(user.id, account);
        Ok(())
    }
    async fn user_by_email(&mut self, email: &Email) -> Result<Option<User>, StoreError> {
        Ok(self
            .state
            .by_email
            .get(email.as_str())
            .and_then(|id| self.state.accounts.get(id))
            .map(|a| a.user.clone()))
    }
    async fn user_by_id(&mut self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.state.accounts.get(&id).map(|a| a.user.clone()))
    }
    async fn insert_session(&mut self, session: &SessionRecord) -> Result<(), StoreError> {
        self.state
            .sessions
            .insert(session.secret_hash, session.clone());
        Ok(())
    }
    async fn session_by_hash(
        &mut self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<(SessionRecord, User)>, StoreError> {
        let Some(s) = self.state.sessions.get(hash).filter(|s| s.expires_at > now) else {
            return Ok(None);
        };
        Ok(self
            .state
            .accounts
            .get(&s.user_id)
            .map(|a| (s.clone(), a.user.clone())))
    }
    async fn delete_session(&mut self, hash: &TokenHash) -> Result<(), StoreError> {
        self.state.sessions.remove(hash);
        Ok(())
    }
}
