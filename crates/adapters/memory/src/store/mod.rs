//! Every store port in one in-process state, one file per aggregate port.

mod accounts;
mod events;
mod idempotency;
mod matches;
mod outbox;
mod profile;
mod queue;
mod ratelimit;
mod tokens;

use std::collections::{BTreeMap, HashMap, VecDeque};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use jobby_domain::model::account::User;
use jobby_domain::model::event::{Event, LiveEvent, Seat};
use jobby_domain::model::idempotency::{Claim, Fingerprint, IdempotencyScope, SavedResponse};
use jobby_domain::model::ids::{EventId, MatchId};
use jobby_domain::model::ids::{TokenId, UserId};
use jobby_domain::model::matches::Match;
use jobby_domain::model::matching::Waiting;
use jobby_domain::model::outbox::OutboxRecord;
use jobby_domain::model::profile::{Profile, Settings};
use jobby_domain::model::queue::{EntryState, QueueEntry};
use jobby_domain::model::ratelimit::Overrides;
use jobby_domain::model::room::RoomTicket;
use jobby_domain::model::session::SessionRecord;
use jobby_domain::model::token::{TokenHash, TokenPrincipal, TokenRecord, TokenUse};
use jobby_domain::ports::{
    CommitListener, CommitListeners, Database, ReadBody, StoreError, TxBody, TxOutput,
};
use tokio::sync::Mutex;

/// Outbox records kept in memory: readers use them as change notices and re-read state, so
/// only the recent ones matter.
const OUTBOX_KEEP: usize = 10_000;

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
    events: BTreeMap<EventId, Event>,
    seats: BTreeMap<(EventId, UserId), Seat>,
    entries: HashMap<UserId, QueueEntry>,
    matches: BTreeMap<MatchId, Match>,
    tickets: HashMap<TokenHash, RoomTicket>,
    outbox: VecDeque<OutboxRecord>,
    outbox_seq: i64,
}

impl State {
    /// The event's waiting seekers, first come first served.
    fn waiting_in(&self, event: EventId) -> Vec<Waiting> {
        let mut w: Vec<Waiting> = self
            .entries
            .values()
            .filter(|e| e.event_id == event && e.state == EntryState::Waiting)
            .map(|e| Waiting {
                seeker: e.seeker_id,
                joined_at: e.joined_at,
            })
            .collect();
        w.sort_by_key(|w| (w.joined_at, w.seeker));
        w
    }

    fn live(&self, e: &Event) -> LiveEvent {
        LiveEvent {
            event: e.clone(),
            queue_length: self.waiting_in(e.id).len() as u32,
            available_seats: self
                .seats
                .iter()
                .filter(|((ev, _), s)| *ev == e.id && s.available)
                .count() as u32,
        }
    }
}

/// Every store port over one in-process state. A transaction holds the lock for its whole
/// body and restores a snapshot if the body fails, so it is atomic and isolated.
#[derive(Default)]
pub struct MemoryDatabase {
    state: std::sync::Arc<Mutex<State>>,
    /// Told of every commit that wrote outbox records.
    committed: CommitListeners,
}

impl MemoryDatabase {
    pub fn new() -> Self {
        Self::default()
    }

    /// Another handle on the same store, as a second server process has: the same data and
    /// outbox, its own commit listeners.
    pub fn sibling(&self) -> Self {
        MemoryDatabase {
            state: self.state.clone(),
            committed: CommitListeners::default(),
        }
    }
}

struct MemRepo<'s> {
    state: &'s mut State,
}

#[async_trait]
impl Database for MemoryDatabase {
    fn on_commit(&self, listener: CommitListener) {
        self.committed.add(listener);
    }

    async fn transaction(&self, body: TxBody) -> TxOutput {
        // A real store answers later: let other tasks run first, so concurrent callers
        // interleave around transactions as they do on Postgres.
        tokio::task::yield_now().await;
        let mut guard = self.state.lock().await;
        let snapshot = guard.clone();
        let out = body(&mut MemRepo { state: &mut guard }).await;
        if out.is_err() {
            *guard = snapshot;
            return out;
        }
        let named: Vec<UserId> = guard
            .outbox
            .iter()
            .filter(|r| r.seq > snapshot.outbox_seq)
            .flat_map(|r| r.event.users.iter().copied())
            .collect();
        drop(guard);
        self.committed.tell(&named);
        out
    }

    async fn read(&self, body: ReadBody) -> TxOutput {
        let mut guard = self.state.lock().await;
        body(&mut MemRepo { state: &mut guard }).await
    }

    async fn find_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenPrincipal>, StoreError> {
        let guard = self.state.lock().await;
        let state = &*guard;
        let Some(id) = state.token_by_hash.get(hash) else {
            return Ok(None);
        };
        let Some(token) = state.tokens.get(id) else {
            return Ok(None);
        };
        if !token.is_active(now) {
            return Ok(None);
        }
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

    async fn record_token_uses(&self, uses: &[TokenUse]) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        for u in uses {
            if let Some(token) = state.tokens.get_mut(&u.token_id)
                && token.last_used_at.is_none_or(|t| t < u.at)
            {
                token.last_used_at = Some(u.at);
                token.last_used_ip = Some(u.ip.clone());
            }
        }
        Ok(())
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

    async fn purge_outbox(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut guard = self.state.lock().await;
        let n = guard.outbox.len();
        let newest = guard.outbox.back().map(|r| r.seq);
        guard
            .outbox
            .retain(|r| r.event.at >= before || Some(r.seq) == newest);
        Ok((n - guard.outbox.len()) as u64)
    }

    async fn purge_room_tickets(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut guard = self.state.lock().await;
        let n = guard.tickets.len();
        guard.tickets.retain(|_, t| t.expires_at >= before);
        Ok((n - guard.tickets.len()) as u64)
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

#[cfg(test)]
mod contract {
    use std::sync::Arc;

    use jobby_domain::ports::Database;

    async fn fresh() -> Arc<dyn Database> {
        Arc::new(super::MemoryDatabase::new())
    }

    jobby_domain::db_contract_tests!(fresh());
}
