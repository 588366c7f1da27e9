//! Accounts and browser sessions.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use jobby_domain::model::account::{AccountType, Email, User};
use jobby_domain::model::ids::{SessionId, UserId};
use jobby_domain::model::session::SessionRecord;
use jobby_domain::model::token::TokenHash;
use jobby_domain::ports::StoreError;
use uuid::Uuid;

use super::corrupt;
use crate::schema::{sessions, users};

pub(super) fn account_type(s: &str) -> Result<AccountType, StoreError> {
    s.parse()
        .map_err(|()| corrupt(format_args!("account type {s:?}")))
}

fn hash32(bytes: Vec<u8>, what: &str) -> Result<TokenHash, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(TokenHash)
        .map_err(|b| corrupt(format_args!("{what} of {} bytes", b.len())))
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(Pg))]
pub(crate) struct UserRow {
    id: Uuid,
    email: String,
    account_type: String,
    password_hash: String,
    created_at: DateTime<Utc>,
}

impl UserRow {
    pub(crate) fn into_user(self) -> Result<User, StoreError> {
        Ok(User {
            id: UserId::from_uuid(self.id),
            email: Email::from_trusted(self.email),
            account_type: account_type(&self.account_type)?,
            password_hash: self.password_hash,
            created_at: self.created_at,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = sessions, check_for_backend(Pg))]
pub(crate) struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    secret_hash: Vec<u8>,
    csrf_token: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl SessionRow {
    pub(crate) fn into_record(self) -> Result<SessionRecord, StoreError> {
        Ok(SessionRecord {
            id: SessionId::from_uuid(self.id),
            user_id: UserId::from_uuid(self.user_id),
            secret_hash: hash32(self.secret_hash, "session hash")?,
            csrf_token: self.csrf_token,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}
