use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use jobby_domain::model::account::{Email, User};
use jobby_domain::model::idempotency::{Claim, Fingerprint, IdempotencyScope, SavedResponse};
use jobby_domain::model::ids::{TokenId, UserId};
use jobby_domain::model::page::PageRequest;
use jobby_domain::model::profile::{Profile, Settings};
use jobby_domain::model::ratelimit::{Overrides, RateClass};
use jobby_domain::model::session::SessionRecord;
use jobby_domain::model::token::{TokenHash, TokenPrincipal, TokenRecord};
use jobby_domain::ports::{Database, Repo, StoreError, TxBody, TxOutput};
use tokio::sync::Mutex;

#[derive(Clone)]
struct Account {
    user: User,
    profile: Profile,
    settings: Option<Settings>,
    allowlist: Vec<IpNet>,
    rate_limits: Overrides,
}

#[derive(Clone)]
struct IdemRow {
    fingerprint: Fingerprint,
    created_at: DateTime<Utc>,
    response: Option<SavedResponse>,
}

#[derive(Clone, Default)]
struct State {
    accounts: HashMap<UserId, Account>,
    by_email: HashMap<String, UserId>,
    tokens: BTreeMap<TokenId, TokenRecord>,
    token_by_hash: HashMap<TokenHash, TokenId>,
    sessions: HashMap<TokenHash, SessionRecord>,
    idempotency: HashMap<IdempotencyScope, IdemRow>,
}

/// Every store port over one in-process state. A transaction holds the lock for its whole
/// body and restores a snapshot if the body fails, so it is atomic and isolated.
#[derive(Default)]
pub struct MemoryDatabase {
    state: Mutex<State>,
}

impl MemoryDatabase {
    pub fn new() -> Self {
        Self::default()
    }
}

struct MemRepo<'s> {
    state: &'s mut State,
}

#[async_trait]
impl Database for MemoryDatabase {
    async fn transaction(&self, body: TxBody) -> TxOutput {
        let mut guard = self.state.lock().await;
        let snapshot = guard.clone();
        let out = body(&mut MemRepo { state: &mut guard }).await;
        if out.is_err() {
            *guard = snapshot;
        }
        out
    }

    async fn read(&self, body: TxBody) -> TxOutput {
        let mut guard = self.state.lock().await;
        body(&mut MemRepo { state: &mut guard }).await
    }

    async fn authenticate_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
        ip: &str,
    ) -> Result<Option<TokenPrincipal>, StoreError> {
        let mut guard = self.state.lock().await;
        let state = &mut *guard;
        let Some(id) = state.token_by_hash.get(hash) else {
            return Ok(None);
        };
        let Some(token) = state.tokens.get_mut(id) else {
            return Ok(None);
        };
        if !token.is_active(now) {
            return Ok(None);
        }
        token.last_used_at = Some(now);
        token.last_used_ip = Some(ip.to_owned());
        let Some(account) = state.accounts.get(&token.user_id) else {
            return Ok(None);
        };
        Ok(Some(TokenPrincipal {
            token_id: token.id,
            user_id: token.user_id,
            account_type: account.user.account_type,
            scopes: token.scopes.clone(),
            expires_at: token.expires_at,
            allowlist: account.allowlist.clone(),
            rate_limits: account.rate_limits,
        }))
    }

    async fn claim_idempotency(
        &self,
        scope: &IdempotencyScope,
        fp: &Fingerprint,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let mut guard = self.state.lock().await;
        match guard.idempotency.get(scope) {
            Some(row) if row.fingerprint != *fp => Ok(Claim::Mismatch),
            Some(IdemRow {
                response: Some(saved),
                ..
            }) => Ok(Claim::Replay(saved.clone())),
            Some(row) if row.created_at >= stale_before => Ok(Claim::InUse),
            _ => {
                guard.idempotency.insert(
                    *scope,
                    IdemRow {
                        fingerprint: *fp,
                        created_at: now,
                        response: None,
                    },
                );
                Ok(Claim::Fresh)
            }
        }
    }

    async fn release_idempotency(
        &self,
        scope: &IdempotencyScope,
        claimed_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut guard = self.state.lock().await;
        if guard
            .idempotency
            .get(scope)
            .is_some_and(|r| r.response.is_none() && r.created_at == claimed_at)
        {
            guard.idempotency.remove(scope);
        }
        Ok(())
    }

    async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut guard = self.state.lock().await;
        let n = guard.idempotency.len();
        guard.idempotency.retain(|_, r| r.created_at >= before);
        Ok((n - guard.idempotency.len()) as u64)
    }

    async fn purge_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut guard = self.state.lock().await;
        let n = guard.sessions.len();
        guard.sessions.retain(|_, s| s.expires_at >= before);
        Ok((n - guard.sessions.len()) as u64)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl MemRepo<'_> {
    fn account(&mut self, user: UserId) -> Result<&mut Account, StoreError> {
        self.state
            .accounts
            .get_mut(&user)
            .ok_or_else(|| StoreError::Unavailable(format!("no account {user}")))
    }
}

#[async_trait]
impl Repo for MemRepo<'_> {
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

    async fn profile(&mut self, user: UserId) -> Result<Profile, StoreError> {
        Ok(self.account(user)?.profile.clone())
    }

    async fn save_profile(&mut self, user: UserId, profile: &Profile) -> Result<(), StoreError> {
        self.account(user)?.profile = profile.clone();
        Ok(())
    }

    async fn settings(&mut self, user: UserId) -> Result<Settings, StoreError> {
        Ok(self.account(user)?.settings.clone().unwrap_or_default())
    }

    async fn save_settings(&mut self, user: UserId, settings: &Settings) -> Result<(), StoreError> {
        self.account(user)?.settings = Some(settings.clone());
        Ok(())
    }

    async fn allowlist(&mut self, user: UserId) -> Result<Vec<IpNet>, StoreError> {
        Ok(self.account(user)?.allowlist.clone())
    }

    async fn save_allowlist(&mut self, user: UserId, cidrs: &[IpNet]) -> Result<(), StoreError> {
        self.account(user)?.allowlist = cidrs.to_vec();
        Ok(())
    }

    async fn set_rate_limit(
        &mut self,
        user: UserId,
        class: RateClass,
        per_minute: Option<u32>,
    ) -> Result<(), StoreError> {
        self.account(user)?.rate_limits.set(class, per_minute);
        Ok(())
    }

    async fn complete_idempotency(
        &mut self,
        scope: &IdempotencyScope,
        response: &SavedResponse,
        claimed_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self.state.idempotency.get_mut(scope) {
            Some(row) if row.response.is_none() && row.created_at == claimed_at => {
                row.response = Some(response.clone());
                Ok(())
            }
            _ => Err(StoreError::Unavailable(
                "this request no longer holds the idempotency key".into(),
            )),
        }
    }
}

#[cfg(test)]
mod contract {
    use std::sync::Arc;

    use jobby_domain::ports::Database;

    async fn fresh() -> Arc<dyn Database> {
        Arc::new(super::MemoryDatabase::new())
    }

    jobby_domain::db_contract_tests!(fresh());
}
