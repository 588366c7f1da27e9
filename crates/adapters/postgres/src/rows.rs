//! Rows as diesel reads them, their conversion to domain types, and error mapping.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types as st;
use ipnet::IpNet;
use jobby_domain::model::account::{AccountType, Email, User};
use jobby_domain::model::ids::{SessionId, TokenId, UserId};
use jobby_domain::model::profile::{Channels, Profile, Settings};
use jobby_domain::model::ratelimit::{Overrides, RateClass};
use jobby_domain::model::scopes::{Scope, ScopeSet};
use jobby_domain::model::session::SessionRecord;
use jobby_domain::model::token::{TokenHash, TokenPrincipal, TokenRecord};
use jobby_domain::ports::{StoreError, TxError};
use uuid::Uuid;

use crate::schema::{api_tokens, idempotency_keys, profiles, sessions, users};

/// Maps a diesel error to the port's: a taken email (or token hash) is a conflict, a lost
/// connection is the store being unreachable, anything else is the store being unavailable.
pub(crate) fn store_err(e: DieselError) -> StoreError {
    if let DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) = &e {
        return StoreError::Unreachable(e.to_string());
    }
    if let DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) = &e {
        match info.constraint_name() {
            Some("users_email_key") => return StoreError::Conflict("email"),
            Some("api_tokens_token_hash_key") => return StoreError::Conflict("token_hash"),
            Some("queue_entries_pkey") => return StoreError::Conflict("queue_entry"),
            Some("matches_live_seeker_key" | "matches_live_interviewer_key") => {
                return StoreError::Conflict("match");
            }
            Some("room_tickets_pkey") => return StoreError::Conflict("room_ticket"),
            _ => {}
        }
    }
    StoreError::Unavailable(e.to_string())
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("unreadable row: {what}"))
}

/// Why a diesel-async transaction ended early: a query failed, a conversion failed, or the
/// body gave up (its error is carried through untouched).
pub(crate) enum Failure {
    Diesel(DieselError),
    Store(StoreError),
    Body(TxError),
}

impl From<DieselError> for Failure {
    fn from(e: DieselError) -> Self {
        Failure::Diesel(e)
    }
}

impl Failure {
    pub(crate) fn into_tx(self) -> TxError {
        match self {
            Failure::Diesel(e) => TxError::Store(store_err(e)),
            Failure::Store(e) => TxError::Store(e),
            Failure::Body(e) => e,
        }
    }

    pub(crate) fn into_store(self) -> StoreError {
        match self.into_tx() {
            TxError::Store(e) => e,
            TxError::Abort(_) => StoreError::Unavailable("transaction aborted".into()),
        }
    }
}

fn account_type(s: &str) -> Result<AccountType, StoreError> {
    s.parse()
        .map_err(|()| corrupt(format_args!("account type {s:?}")))
}

/// Scope names as stored. A name this build does not know is dropped (with a warning):
/// fewer permissions, never more.
fn scope_set(names: Vec<String>) -> ScopeSet {
    names
        .into_iter()
        .filter_map(|n| match n.parse::<Scope>() {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring a stored token scope");
                None
            }
        })
        .collect()
}

pub(crate) fn scope_names(scopes: &ScopeSet) -> Vec<&'static str> {
    scopes.iter().map(|s| s.as_str()).collect()
}

/// CIDRs as stored. An unreadable entry is an error, not skipped: dropping it could turn a
/// restrictive list into an empty one, which allows every address.
pub(crate) fn allowlist(cidrs: Vec<String>) -> Result<Vec<IpNet>, StoreError> {
    cidrs
        .iter()
        .map(|c| {
            c.parse()
                .map_err(|_| corrupt(format_args!("allowlist entry {c:?}")))
        })
        .collect()
}

pub(crate) fn allowlist_strings(cidrs: &[IpNet]) -> Vec<String> {
    cidrs.iter().map(ToString::to_string).collect()
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

/// A profile as written (insert and update); the primary key is left out of updates.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = profiles, primary_key(user_id), treat_none_as_null = true)]
pub(crate) struct ProfileWrite<'a> {
    user_id: Uuid,
    name: &'a str,
    headline: Option<&'a str>,
    skills: &'a [String],
    location: Option<&'a str>,
    links: &'a [String],
    resume_text: Option<&'a str>,
    company: Option<&'a str>,
}

impl<'a> ProfileWrite<'a> {
    pub(crate) fn new(user: UserId, p: &'a Profile) -> Self {
        ProfileWrite {
            user_id: user.uuid(),
            name: &p.name,
            headline: p.headline.as_deref(),
            skills: &p.skills,
            location: p.location.as_deref(),
            links: &p.links,
            resume_text: p.resume_text.as_deref(),
            company: p.company.as_deref(),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = profiles, check_for_backend(Pg))]
pub(crate) struct ProfileRow {
    name: String,
    headline: Option<String>,
    skills: Vec<String>,
    location: Option<String>,
    links: Vec<String>,
    resume_text: Option<String>,
    company: Option<String>,
}

impl From<ProfileRow> for Profile {
    fn from(r: ProfileRow) -> Self {
        Profile {
            name: r.name,
            headline: r.headline,
            skills: r.skills,
            location: r.location,
            links: r.links,
            resume_text: r.resume_text,
            company: r.company,
        }
    }
}

pub(crate) fn settings_from(
    timezone: String,
    notifications: serde_json::Value,
) -> Result<Settings, StoreError> {
    let notifications: BTreeMap<String, Channels> = serde_json::from_value(notifications)
        .map_err(|e| corrupt(format_args!("notification settings: {e}")))?;
    Ok(Settings {
        timezone,
        notifications,
    })
}

pub(crate) fn notifications_json(settings: &Settings) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(&settings.notifications)
        .map_err(|e| StoreError::Unavailable(format!("encoding notification settings: {e}")))
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_tokens, check_for_backend(Pg))]
pub(crate) struct TokenRow {
    id: Uuid,
    user_id: Uuid,
    name: String,
    scopes: Vec<String>,
    last4: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    last_used_ip: Option<String>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<TokenRow> for TokenRecord {
    fn from(r: TokenRow) -> Self {
        TokenRecord {
            id: TokenId::from_uuid(r.id),
            user_id: UserId::from_uuid(r.user_id),
            name: r.name,
            scopes: scope_set(r.scopes),
            last4: r.last4,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            last_used_ip: r.last_used_ip,
            revoked_at: r.revoked_at,
        }
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

/// What `authenticate_token` returns (a raw statement joining tokens and users).
#[derive(QueryableByName)]
pub(crate) struct PrincipalRow {
    #[diesel(sql_type = st::Uuid)]
    id: Uuid,
    #[diesel(sql_type = st::Uuid)]
    user_id: Uuid,
    #[diesel(sql_type = st::Text)]
    account_type: String,
    #[diesel(sql_type = st::Array<st::Text>)]
    scopes: Vec<String>,
    #[diesel(sql_type = st::Nullable<st::Timestamptz>)]
    expires_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = st::Array<st::Text>)]
    ip_allowlist: Vec<String>,
    /// `class=per_minute` pairs.
    #[diesel(sql_type = st::Array<st::Text>)]
    rate_limits: Vec<String>,
}

fn overrides(pairs: Vec<String>) -> Result<Overrides, StoreError> {
    let mut o = Overrides::default();
    for pair in pairs {
        let parsed = pair
            .split_once('=')
            .and_then(|(c, n)| Some((c.parse::<RateClass>().ok()?, n.parse::<u32>().ok()?)));
        let (class, n) =
            parsed.ok_or_else(|| corrupt(format_args!("rate-limit override {pair:?}")))?;
        o.set(class, Some(n));
    }
    Ok(o)
}

impl PrincipalRow {
    pub(crate) fn into_principal(self) -> Result<TokenPrincipal, StoreError> {
        Ok(TokenPrincipal {
            token_id: TokenId::from_uuid(self.id),
            user_id: UserId::from_uuid(self.user_id),
            account_type: account_type(&self.account_type)?,
            scopes: scope_set(self.scopes),
            expires_at: self.expires_at,
            allowlist: allowlist(self.ip_allowlist)?,
            rate_limits: overrides(self.rate_limits)?,
        })
    }
}

/// An idempotency key as `claim_idempotency` reads it (under `FOR UPDATE`).
#[derive(Queryable, Selectable)]
#[diesel(table_name = idempotency_keys, check_for_backend(Pg))]
pub(crate) struct IdempotencyRow {
    pub(crate) fingerprint: Vec<u8>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) response_status: Option<i16>,
    pub(crate) response_content_type: Option<String>,
    pub(crate) response_body: Option<Vec<u8>>,
}
