//! Personal access tokens, and the principal a token authenticates.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types as st;
use jobby_domain::model::ids::{TokenId, UserId};
use jobby_domain::model::ratelimit::{Overrides, RateClass};
use jobby_domain::model::scopes::{Scope, ScopeSet};
use jobby_domain::model::token::{TokenPrincipal, TokenRecord};
use jobby_domain::ports::StoreError;
use uuid::Uuid;

use super::accounts::account_type;
use super::corrupt;
use super::profile::allowlist;
use crate::schema::api_tokens;

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

/// What `find_token` returns (a raw statement joining tokens and users).
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
