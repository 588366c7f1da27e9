//! Accounts and browser sessions.

use crate::model::account::{Email, User};
use crate::model::ids::UserId;
use crate::model::profile::Profile;
use crate::model::session::SessionRecord;
use crate::model::token::TokenHash;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// Accounts and the browser sessions that log into them.
#[async_trait]
pub trait AccountRepo: Send {
    async fn insert_user(&mut self, user: &User, profile: &Profile) -> Result<(), StoreError>;
    async fn user_by_email(&mut self, email: &Email) -> Result<Option<User>, StoreError>;
    async fn user_by_id(&mut self, id: UserId) -> Result<Option<User>, StoreError>;
    async fn insert_session(&mut self, session: &SessionRecord) -> Result<(), StoreError>;
    async fn session_by_hash(
        &mut self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<(SessionRecord, User)>, StoreError>;
    async fn delete_session(&mut self, hash: &TokenHash) -> Result<(), StoreError>;
}
