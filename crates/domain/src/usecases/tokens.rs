//! Minting, listing and revoking personal access tokens.

use chrono::{DateTime, Duration, Utc};

use crate::error::Error;
use crate::model::account::User;
use crate::model::fields::{FieldErrors, check_text};
use crate::model::ids::{TokenId, UserId};
use crate::model::outbox::DomainEvent;
use crate::model::page::{Page, PageRequest};
use crate::model::scopes::{Scope, ScopeGrantError, ScopeSet, check_grant};
use crate::model::token::{MAX_EXPIRY_DAYS, PlainToken, TOKEN_NAME_MAX, TokenRecord};
use crate::ports::Repo;

#[derive(Clone, Debug)]
pub struct MintRequest {
    pub name: String,
    pub scopes: Vec<String>,
    /// `None` = never expires.
    pub expires_in_days: Option<i64>,
}

/// Validates a mint request for this account and stores the token. The plaintext is
/// returned once and never stored.
pub async fn mint(
    repo: &mut dyn Repo,
    owner: &User,
    req: MintRequest,
    now: DateTime<Utc>,
) -> Result<(PlainToken, TokenRecord), Error> {
    let mut e = FieldErrors::new();
    check_text(&mut e, "name", &req.name, TOKEN_NAME_MAX);
    let mut scopes = ScopeSet::new();
    for s in &req.scopes {
        match s.parse::<Scope>() {
            Ok(scope) => {
                scopes.insert(scope);
            }
            Err(err) => e.add("scopes", err.to_string()),
        }
    }
    if e.is_empty() {
        match check_grant(owner.account_type, &scopes) {
            Ok(()) => {}
            Err(err @ ScopeGrantError::Empty) => e.add("scopes", err.to_string()),
            Err(err @ ScopeGrantError::RecruiterOnly(_)) => e.add("scopes", err.to_string()),
        }
    }
    if let Some(days) = req.expires_in_days
        && !(1..=MAX_EXPIRY_DAYS).contains(&days)
    {
        e.add(
            "expires_in_days",
            format!("must be between 1 and {MAX_EXPIRY_DAYS}, or empty for never"),
        );
    }
    e.into_result()?;
    let token = PlainToken::generate();
    let record = TokenRecord {
        id: TokenId::new(),
        user_id: owner.id,
        name: req.name.trim().to_owned(),
        scopes,
        last4: token.last4().to_owned(),
        created_at: now,
        expires_at: req.expires_in_days.map(|d| now + Duration::days(d)),
        last_used_at: None,
        last_used_ip: None,
        revoked_at: None,
    };
    repo.insert_token(&record, &token.hash()).await?;
    Ok((token, record))
}

pub async fn list(
    repo: &mut dyn Repo,
    owner: UserId,
    page: PageRequest<TokenId>,
) -> Result<Page<TokenRecord>, Error> {
    let rows = repo
        .list_tokens(
            owner,
            PageRequest {
                limit: page.limit + 1,
                after: page.after,
            },
        )
        .await?;
    Ok(Page::from_overfetch(rows, page.limit, |t| t.id.to_string()))
}

/// Revokes one of the owner's tokens. Revoking an already revoked token is a no-op that
/// answers the same; another account's token is not found. Every server process hears of
/// it through the outbox and forgets the account's cached tokens.
pub async fn revoke(
    repo: &mut dyn Repo,
    owner: UserId,
    id: TokenId,
    now: DateTime<Utc>,
) -> Result<TokenRecord, Error> {
    let record = repo
        .revoke_token(owner, id, now)
        .await?
        .ok_or(Error::NotFound)?;
    repo.append_outbox(&[DomainEvent::access_changed(owner, now)])
        .await?;
    Ok(record)
}
