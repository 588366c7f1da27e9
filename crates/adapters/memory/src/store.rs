use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use jobby_domain::model::account::{Email, User};
use jobby_domain::model::event::{Event, EventStatus, LiveEvent, Seat};
use jobby_domain::model::idempotency::{Claim, Fingerprint, IdempotencyScope, SavedResponse};
use jobby_domain::model::ids::{EventId, MatchId};
use jobby_domain::model::ids::{TokenId, UserId};
use jobby_domain::model::matches::{Match, MatchStatus, Side};
use jobby_domain::model::matching::{FreeSeat, Waiting};
use jobby_domain::model::outbox::{DomainEvent, OutboxRecord};
use jobby_domain::model::page::PageRequest;
use jobby_domain::model::profile::{Profile, Settings};
use jobby_domain::model::queue::{EntryState, QueueEntry, QueueView};
use jobby_domain::model::ratelimit::{Overrides, RateClass};
use jobby_domain::model::room::RoomTicket;
use jobby_domain::model::session::SessionRecord;
use jobby_domain::model::token::{TokenHash, TokenPrincipal, TokenRecord};
use jobby_domain::ports::{Database, Repo, StoreError, TxBody, TxOutput};
use tokio::sync::Mutex;
use uuid::Uuid;

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

    async fn insert_event(&mut self, event: &Event) -> Result<(), StoreError> {
        self.state.events.insert(event.id, event.clone());
        Ok(())
    }

    async fn update_event(&mut self, event: &Event) -> Result<(), StoreError> {
        self.state.events.insert(event.id, event.clone());
        Ok(())
    }

    async fn event_for(&mut self, user: UserId, id: EventId) -> Result<Option<Event>, StoreError> {
        Ok(self
            .state
            .events
            .get(&id)
            .filter(|e| e.owner_id == user || self.state.seats.contains_key(&(id, user)))
            .cloned())
    }

    async fn list_events_for(
        &mut self,
        user: UserId,
        page: PageRequest<EventId>,
    ) -> Result<Vec<Event>, StoreError> {
        let state = &*self.state;
        Ok(state
            .events
            .values()
            .rev()
            .filter(|e| page.after.is_none_or(|a| e.id < a))
            .filter(|e| e.owner_id == user || state.seats.contains_key(&(e.id, user)))
            .take(page.limit as usize)
            .cloned()
            .collect())
    }

    async fn lock_event(&mut self, id: EventId) -> Result<Option<Event>, StoreError> {
        // The whole transaction already holds the store's lock.
        Ok(self.state.events.get(&id).cloned())
    }

    async fn live_events(
        &mut self,
        page: PageRequest<EventId>,
    ) -> Result<Vec<LiveEvent>, StoreError> {
        let state = &*self.state;
        Ok(state
            .events
            .values()
            .rev()
            .filter(|e| e.status == EventStatus::Live && page.after.is_none_or(|a| e.id < a))
            .take(page.limit as usize)
            .map(|e| state.live(e))
            .collect())
    }

    async fn live_event(&mut self, id: EventId) -> Result<Option<LiveEvent>, StoreError> {
        let state = &*self.state;
        Ok(state
            .events
            .get(&id)
            .filter(|e| e.status == EventStatus::Live)
            .map(|e| state.live(e)))
    }

    async fn seats(&mut self, event: EventId) -> Result<Vec<Seat>, StoreError> {
        let mut seats: Vec<Seat> = self
            .state
            .seats
            .range(
                (event, UserId::from_uuid(Uuid::nil()))..=(event, UserId::from_uuid(Uuid::max())),
            )
            .map(|(_, s)| *s)
            .collect();
        seats.sort_by_key(|s| s.user_id);
        Ok(seats)
    }

    async fn replace_seats(
        &mut self,
        event: EventId,
        users: &[UserId],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.state
            .seats
            .retain(|(e, u), _| *e != event || users.contains(u));
        for &u in users {
            self.state.seats.entry((event, u)).or_insert(Seat {
                user_id: u,
                available: false,
                idle_since: now,
            });
        }
        Ok(())
    }

    async fn set_available(
        &mut self,
        event: EventId,
        user: UserId,
        available: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Some(seat) = self.state.seats.get_mut(&(event, user)) else {
            return Ok(false);
        };
        if available && !seat.available {
            seat.idle_since = now;
        }
        seat.available = available;
        Ok(true)
    }

    async fn touch_idle(
        &mut self,
        event: EventId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if let Some(seat) = self.state.seats.get_mut(&(event, user)) {
            seat.idle_since = now;
        }
        Ok(())
    }

    async fn free_seats(&mut self, event: EventId) -> Result<Vec<FreeSeat>, StoreError> {
        let busy: HashSet<UserId> = self
            .state
            .matches
            .values()
            .filter(|m| m.status.is_live())
            .map(|m| m.interviewer_id)
            .collect();
        Ok(self
            .seats(event)
            .await?
            .into_iter()
            .filter(|s| s.available && !busy.contains(&s.user_id))
            .map(|s| FreeSeat {
                interviewer: s.user_id,
                idle_since: s.idle_since,
            })
            .collect())
    }

    async fn claim_seats(
        &mut self,
        event: EventId,
        interviewers: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        // Everything here runs under the store's one lock: no other matching runs meanwhile.
        Ok(self
            .free_seats(event)
            .await?
            .into_iter()
            .map(|s| s.interviewer)
            .filter(|u| interviewers.contains(u))
            .collect())
    }

    async fn declined_pairs(
        &mut self,
        event: EventId,
    ) -> Result<HashSet<(UserId, UserId)>, StoreError> {
        Ok(self
            .state
            .matches
            .values()
            .filter(|m| m.event_id == event && m.declined_by == Some(Side::Interviewer))
            .map(|m| (m.seeker_id, m.interviewer_id))
            .collect())
    }

    async fn waiting(&mut self, event: EventId, limit: usize) -> Result<Vec<Waiting>, StoreError> {
        let mut w = self.state.waiting_in(event);
        w.truncate(limit);
        Ok(w)
    }

    async fn entry_of(&mut self, seeker: UserId) -> Result<Option<QueueEntry>, StoreError> {
        Ok(self.state.entries.get(&seeker).copied())
    }

    async fn insert_entry(&mut self, entry: &QueueEntry) -> Result<(), StoreError> {
        if self.state.entries.contains_key(&entry.seeker_id) {
            return Err(StoreError::Conflict("queue_entry"));
        }
        self.state.entries.insert(entry.seeker_id, *entry);
        Ok(())
    }

    async fn set_entry_state(
        &mut self,
        seeker: UserId,
        state: EntryState,
    ) -> Result<(), StoreError> {
        if let Some(e) = self.state.entries.get_mut(&seeker) {
            e.state = state;
        }
        Ok(())
    }

    async fn delete_entry(&mut self, seeker: UserId) -> Result<(), StoreError> {
        self.state.entries.remove(&seeker);
        Ok(())
    }

    async fn remove_waiting(&mut self, event: EventId) -> Result<Vec<UserId>, StoreError> {
        let gone: Vec<UserId> = self
            .state
            .waiting_in(event)
            .into_iter()
            .map(|w| w.seeker)
            .collect();
        for s in &gone {
            self.state.entries.remove(s);
        }
        Ok(gone)
    }

    async fn queue_view(&mut self, seeker: UserId) -> Result<Option<QueueView>, StoreError> {
        let Some(entry) = self.state.entries.get(&seeker).copied() else {
            return Ok(None);
        };
        let waiting = self.state.waiting_in(entry.event_id);
        let position = match entry.state {
            EntryState::Waiting => waiting
                .iter()
                .position(|w| w.seeker == seeker)
                .map_or(0, |p| p as u32 + 1),
            EntryState::Matched(_) => 0,
        };
        let match_status = match entry.state {
            EntryState::Matched(id) => self.state.matches.get(&id).map(|m| m.status),
            EntryState::Waiting => None,
        };
        Ok(Some(QueueView {
            event_id: entry.event_id,
            state: entry.state,
            position,
            queue_length: waiting.len() as u32,
            match_status,
        }))
    }

    async fn insert_match(&mut self, m: &Match) -> Result<(), StoreError> {
        if self.state.matches.values().any(|o| {
            o.status.is_live()
                && (o.seeker_id == m.seeker_id || o.interviewer_id == m.interviewer_id)
        }) {
            return Err(StoreError::Conflict("match"));
        }
        self.state.matches.insert(m.id, m.clone());
        Ok(())
    }

    async fn update_match(&mut self, m: &Match) -> Result<(), StoreError> {
        self.state.matches.insert(m.id, m.clone());
        Ok(())
    }

    async fn match_for(&mut self, user: UserId, id: MatchId) -> Result<Option<Match>, StoreError> {
        Ok(self
            .state
            .matches
            .get(&id)
            .filter(|m| m.side_of(user).is_some())
            .cloned())
    }

    async fn list_matches_for(
        &mut self,
        user: UserId,
        status: Option<MatchStatus>,
        page: PageRequest<MatchId>,
    ) -> Result<Vec<Match>, StoreError> {
        Ok(self
            .state
            .matches
            .values()
            .rev()
            .filter(|m| m.side_of(user).is_some())
            .filter(|m| status.is_none_or(|s| m.status == s))
            .filter(|m| page.after.is_none_or(|a| m.id < a))
            .take(page.limit as usize)
            .cloned()
            .collect())
    }

    async fn live_matches(&mut self, event: EventId) -> Result<Vec<Match>, StoreError> {
        Ok(self
            .state
            .matches
            .values()
            .filter(|m| m.event_id == event && m.status.is_live())
            .cloned()
            .collect())
    }

    async fn due_matches(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Match>, StoreError> {
        let mut due: Vec<Match> = self
            .state
            .matches
            .values()
            .filter(|m| m.status == MatchStatus::Pending && m.expires_at <= now)
            .cloned()
            .collect();
        due.sort_by_key(|m| (m.expires_at, m.id));
        due.truncate(limit);
        Ok(due)
    }

    async fn insert_room_ticket(
        &mut self,
        hash: &TokenHash,
        ticket: &RoomTicket,
    ) -> Result<(), StoreError> {
        if self.state.tickets.contains_key(hash) {
            return Err(StoreError::Conflict("room_ticket"));
        }
        self.state.tickets.insert(*hash, *ticket);
        Ok(())
    }

    async fn room_ticket(&mut self, hash: &TokenHash) -> Result<Option<RoomTicket>, StoreError> {
        Ok(self.state.tickets.get(hash).copied())
    }

    async fn use_room_ticket(
        &mut self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        match self.state.tickets.get_mut(hash) {
            Some(t) if t.used_at.is_none() => {
                t.used_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn append_outbox(&mut self, events: &[DomainEvent]) -> Result<(), StoreError> {
        for e in events {
            self.state.outbox_seq += 1;
            self.state.outbox.push_back(OutboxRecord {
                seq: self.state.outbox_seq,
                event: e.clone(),
            });
        }
        while self.state.outbox.len() > OUTBOX_KEEP {
            self.state.outbox.pop_front();
        }
        Ok(())
    }

    async fn outbox_after(
        &mut self,
        seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        Ok(self
            .state
            .outbox
            .iter()
            .filter(|r| r.seq > seq)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn outbox_head(&mut self) -> Result<i64, StoreError> {
        Ok(self.state.outbox_seq)
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
