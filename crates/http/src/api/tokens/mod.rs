//! Personal access tokens: the calling token, and the caller's tokens.

use chrono::{DateTime, Utc};
use jobby_domain::Error;
use jobby_domain::model::account::AccountType;
use jobby_domain::model::ids::{TokenId, UserId};
use jobby_domain::model::token::{TokenPrincipal, TokenRecord};
use jobby_domain::usecases::tokens;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

operations! {
    caller => token_self,
    current => token_current,
    list => list_tokens,
    revoke => revoke_token,
}

/// The token making the call.
#[derive(Serialize, ToSchema)]
pub struct TokenSelf {
    #[schema(value_type = String, example = "tok_0193b1c2d3e4f5a6b7c8d9e0f1a2b3c4")]
    pub id: TokenId,
    #[schema(value_type = Vec<String>, example = json!(["profile:read", "queue:read"]))]
    pub scopes: Vec<&'static str>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    #[schema(value_type = String)]
    pub user_id: UserId,
    #[schema(value_type = String, example = "seeker")]
    pub account_type: AccountType,
}

impl From<&TokenPrincipal> for TokenSelf {
    fn from(p: &TokenPrincipal) -> Self {
        TokenSelf {
            id: p.token_id,
            scopes: p.scopes.iter().map(|s| s.as_str()).collect(),
            expires_at: p.expires_at,
            user_id: p.user_id,
            account_type: p.account_type,
        }
    }
}

/// A personal access token as its owner sees it. The secret is never shown again.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    #[schema(value_type = String)]
    pub id: TokenId,
    pub name: String,
    #[schema(value_type = Vec<String>)]
    pub scopes: Vec<&'static str>,
    /// The last four characters of the token, to recognise it.
    pub last4: String,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<TokenRecord> for TokenView {
    fn from(t: TokenRecord) -> Self {
        TokenView {
            id: t.id,
            name: t.name,
            scopes: t.scopes.iter().map(|s| s.as_str()).collect(),
            last4: t.last4,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            last_used_ip: t.last_used_ip,
            revoked_at: t.revoked_at,
        }
    }
}

/// For the account pages: the caller's tokens.
pub async fn all_tokens(state: &AppState, user: UserId) -> Result<Vec<TokenRecord>, Error> {
    let page = jobby_domain::model::page::PageRequest {
        limit: 100,
        after: None,
    };
    state
        .db
        .read(move |r| Box::pin(async move { tokens::list(r, user, page).await }))
        .await
        .map(|p| p.data)
}
