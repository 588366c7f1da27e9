//! Queue statuses for reads. A fair's normal state is thousands of seekers waiting, each with
//! an agent polling; answering each poll from the store would make polls most of the
//! database's work. Each process keeps two things instead:
//!
//! - per event, the lineup of waiting seekers as read at most [`MAX_AGE`] ago, so a seeker's
//!   place costs no count (a seeker waiting but not in the lineup, who joined since, has their
//!   place counted exactly);
//! - per seeker, their entry (and their match's status) as last read, kept while the outbox
//!   feed is heard. Every change to an entry or a match writes an outbox record naming the
//!   seeker, in its transaction; the feed forgets the seeker's entry when it reads that
//!   record, and the process that made the change forgets it as the change commits. While
//!   the feed is not heard (it lags, or the store is unreachable), entries are read every
//!   time.
//!
//! So in the steady state a poll costs no store round trip. The seeker's state reflects a
//! change made through another process within the feed's bound (see
//! [`Authenticator::hearing`]), and one made through this process at once; the place and the
//! queue length may trail a change by up to [`MAX_AGE`] more.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jobby_domain::error::Error;
use jobby_domain::model::ids::{EventId, UserId};
use jobby_domain::model::matches::MatchStatus;
use jobby_domain::model::outbox::OutboxRecord;
use jobby_domain::model::queue::{Lineup, QueueEntry, QueueStatus};
use jobby_domain::ports::Db;
use jobby_domain::usecases::auth::Authenticator;
use jobby_domain::usecases::queue;

/// How stale a lineup may be.
pub const MAX_AGE: Duration = Duration::from_millis(250);
/// A lineup this old is read again in the background while it is still served, so status
/// reads seldom wait for one.
const REFRESH_AFTER: Duration = Duration::from_millis(150);
/// Events whose lineups are kept; beyond this the oldest are forgotten.
const EVENTS_KEPT: usize = 1024;
/// How long a seeker's entry is kept while the feed is heard. Every change is heard, so this
/// only bounds what a missed one (a bug) could cost.
const ENTRY_TTL: Duration = Duration::from_secs(300);
/// How long a forgotten entry is remembered as forgotten: a read of the entry that began
/// before it was forgotten, and finishes within this, is not kept. A read slower than this
/// is not kept either.
const FORGOTTEN_KEPT: Duration = Duration::from_secs(30);
/// Seekers whose entries are kept; beyond this all are forgotten.
const ENTRIES_KEPT: usize = 200_000;

#[derive(Default)]
struct Slot {
    current: RwLock<Option<(Instant, Arc<Lineup>)>>,
    /// One foreground read at a time; the others wait for it.
    reading: tokio::sync::Mutex<()>,
    refreshing: AtomicBool,
}

impl Slot {
    fn fresh(&self) -> Option<(Duration, Arc<Lineup>)> {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        current
            .as_ref()
            .map(|(read_at, l)| (read_at.elapsed(), l.clone()))
            .filter(|(age, _)| *age < MAX_AGE)
    }

    /// Reads the lineup and keeps it unless a newer one arrived meanwhile.
    async fn read(&self, db: &Db, event: EventId) -> Result<Arc<Lineup>, Error> {
        let read_at = Instant::now();
        let lineup = Arc::new(
            db.read(move |r| Box::pin(async move { queue::lineup(r, event).await }))
                .await?,
        );
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if current.as_ref().is_none_or(|(t, _)| *t < read_at) {
            *current = Some((read_at, lineup.clone()));
        }
        Ok(lineup)
    }
}

/// A seeker's queue entry and, when matched, their match's status.
pub type Entry = (QueueEntry, Option<MatchStatus>);

/// What this process knows of a seeker's entry.
#[derive(Default)]
struct Known {
    /// Their entry (`None`: not queued) and when it was read; none since it was forgotten.
    kept: Option<(Option<Entry>, Instant)>,
    /// The generation (see [`Entries::generation`]) at which it was last forgotten, and
    /// when: a read that began before then is never kept, whatever was kept since.
    forgotten: Option<(u64, Instant)>,
}

#[derive(Default)]
struct Entries {
    map: Mutex<HashMap<UserId, Known>>,
    /// Bumped by every forgetting, so a read that straddles one is not kept.
    generation: AtomicU64,
    /// Reads that began before this generation are not kept (everything was forgotten).
    floor: AtomicU64,
}

impl Entries {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Known>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, seeker: UserId) -> Option<Option<Entry>> {
        match self.lock().get(&seeker)?.kept {
            Some((entry, read_at)) if read_at.elapsed() < ENTRY_TTL => Some(entry),
            _ => None,
        }
    }

    /// Keeps an entry read from the store, unless it was forgotten since the read began.
    fn keep(&self, seeker: UserId, entry: Option<Entry>, began: (u64, Instant)) {
        let (generation, read_at) = began;
        // A mark older than FORGOTTEN_KEPT may be gone: so may be a slower read's reason not
        // to keep what it read.
        if read_at.elapsed() >= FORGOTTEN_KEPT || generation < self.floor.load(Ordering::SeqCst) {
            return;
        }
        let mut map = self.lock();
        if map.len() >= ENTRIES_KEPT && !map.contains_key(&seeker) {
            self.floor.store(
                self.generation.fetch_add(1, Ordering::SeqCst) + 1,
                Ordering::SeqCst,
            );
            map.clear();
            return;
        }
        let known = map.entry(seeker).or_default();
        if known.forgotten.is_some_and(|(g, _)| g > generation) {
            return;
        }
        known.kept = Some((entry, read_at));
    }

    fn forget(&self, seekers: impl IntoIterator<Item = UserId>) {
        let mut map = self.lock();
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let at = Instant::now();
        for seeker in seekers {
            let known = map.entry(seeker).or_default();
            known.kept = None;
            known.forgotten = Some((generation, at));
        }
        // Now and then, drop the marks no read in flight can need.
        if generation.is_multiple_of(4096) {
            map.retain(|_, k| {
                if k.forgotten
                    .is_some_and(|(_, at)| at.elapsed() >= FORGOTTEN_KEPT)
                {
                    k.forgotten = None;
                }
                k.kept.is_some() || k.forgotten.is_some()
            });
        }
    }

    /// Where a read begins, for [`Entries::keep`].
    fn began(&self) -> (u64, Instant) {
        (self.generation.load(Ordering::SeqCst), Instant::now())
    }
}

pub struct Lineups {
    slots: Mutex<HashMap<EventId, (Instant, Arc<Slot>)>>,
    entries: Entries,
    /// Tells whether the outbox feed is heard.
    auth: Option<Arc<Authenticator>>,
}

impl Default for Lineups {
    /// Lineups that never keep entries (nothing tells them of changes).
    fn default() -> Self {
        Lineups {
            slots: Mutex::default(),
            entries: Entries::default(),
            auth: None,
        }
    }
}

impl Lineups {
    /// Lineups that keep seekers' entries while `auth` hears the outbox feed (which must
    /// then call [`Lineups::changed`] for every record it reads).
    pub fn new(auth: Arc<Authenticator>) -> Self {
        Lineups {
            auth: Some(auth),
            ..Lineups::default()
        }
    }

    /// Forgets the entries of everyone these outbox records name.
    pub fn changed(&self, records: &[OutboxRecord]) {
        if records.is_empty() {
            return;
        }
        self.entries
            .forget(records.iter().flat_map(|r| r.event.users.iter().copied()));
    }

    /// Forgets the entries of these accounts: a transaction of this process that changed
    /// them committed (see [`jobby_domain::ports::Database::on_commit`]).
    pub fn committed(&self, users: &[UserId]) {
        self.entries.forget(users.iter().copied());
    }

    fn hearing(&self) -> bool {
        self.auth.as_ref().is_some_and(|a| a.hearing())
    }

    /// The seeker's entry, kept or read (and then kept). Answers whether it was kept.
    async fn entry(&self, db: &Db, seeker: UserId) -> Result<(Option<Entry>, bool), Error> {
        if self.hearing()
            && let Some(entry) = self.entries.get(seeker)
        {
            return Ok((entry, true));
        }
        Ok((self.read_entry(db, seeker).await?, false))
    }

    /// The seeker's entry from the store, kept while the feed is heard.
    async fn read_entry(&self, db: &Db, seeker: UserId) -> Result<Option<Entry>, Error> {
        // Whether to keep what is read is decided before reading: a read that began while
        // the feed was not heard may miss a change the feed will never report.
        let hearing = self.hearing();
        let began = self.entries.began();
        let entry = db
            .read(move |r| Box::pin(async move { queue::entry_with_match(r, seeker).await }))
            .await?;
        if hearing {
            self.entries.keep(seeker, entry, began);
        }
        Ok(entry)
    }

    fn slot(&self, event: EventId) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if slots.len() >= EVENTS_KEPT && !slots.contains_key(&event) {
            // Forget the events nobody asked about for longest.
            let mut ages: Vec<(Instant, EventId)> = slots.iter().map(|(e, s)| (s.0, *e)).collect();
            ages.sort_unstable();
            for (_, e) in ages.iter().take(EVENTS_KEPT / 4) {
                slots.remove(e);
            }
        }
        let entry = slots.entry(event).or_insert_with(|| (now, Arc::default()));
        entry.0 = now;
        entry.1.clone()
    }

    /// The event's lineup, never older than [`MAX_AGE`].
    pub async fn get(&self, db: &Db, event: EventId) -> Result<Arc<Lineup>, Error> {
        let slot = self.slot(event);
        if let Some((age, lineup)) = slot.fresh() {
            if age >= REFRESH_AFTER && !slot.refreshing.swap(true, Ordering::AcqRel) {
                let (slot, db) = (slot.clone(), db.clone());
                tokio::spawn(async move {
                    if let Err(e) = slot.read(&db, event).await {
                        tracing::warn!(error = %e, "reading a queue lineup failed");
                    }
                    slot.refreshing.store(false, Ordering::Release);
                });
            }
            return Ok(lineup);
        }
        let _one_reader = slot.reading.lock().await;
        if let Some((_, lineup)) = slot.fresh() {
            return Ok(lineup);
        }
        slot.read(db, event).await
    }

    /// The seeker's status: their own entry (kept, or from the store), their place from the
    /// lineup. Answers whether the entry was kept (no store read for it).
    pub async fn status(&self, db: &Db, seeker: UserId) -> Result<(QueueStatus, bool), Error> {
        let (entry, kept) = self.entry(db, seeker).await?;
        Ok((self.status_of(db, entry).await?.0, kept))
    }

    /// The seeker's status and the entry it was made from, the entry read from the store.
    pub async fn status_and_entry(
        &self,
        db: &Db,
        seeker: UserId,
    ) -> Result<(QueueStatus, Option<Entry>), Error> {
        let entry = self.read_entry(db, seeker).await?;
        self.status_of(db, entry).await
    }

    async fn status_of(
        &self,
        db: &Db,
        entry: Option<Entry>,
    ) -> Result<(QueueStatus, Option<Entry>), Error> {
        match entry {
            Some(entry) => Ok((self.place(db, &entry).await?, Some(entry))),
            None => Ok((QueueStatus::of(None), None)),
        }
    }

    /// The status of a seeker whose entry is known: their place from the lineup, or counted
    /// in the store when the lineup cannot tell.
    pub async fn place(&self, db: &Db, entry: &Entry) -> Result<QueueStatus, Error> {
        let (entry, match_status) = *entry;
        let lineup = self.get(db, entry.event_id).await?;
        match lineup.status_of(&entry, match_status) {
            Some(s) => Ok(s),
            None => {
                let seeker = entry.seeker_id;
                db.read(move |r| Box::pin(async move { queue::status(r, seeker).await }))
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobby_domain::model::queue::EntryState;

    fn waiting(seeker: UserId) -> Option<Entry> {
        Some((
            QueueEntry {
                seeker_id: seeker,
                event_id: EventId::new(),
                joined_at: chrono::Utc::now(),
                state: EntryState::Waiting,
            },
            None,
        ))
    }

    #[test]
    fn a_read_that_began_before_a_forget_is_never_kept() {
        let entries = Entries::default();
        let seeker = UserId::new();
        let was_waiting = waiting(seeker);
        // A read begins; the seeker leaves and is forgotten; it finishes: not kept.
        let slow = entries.began();
        entries.forget([seeker]);
        entries.keep(seeker, was_waiting, slow);
        assert_eq!(entries.get(seeker), None);
        // A read that began after the forget is kept; the slow one, finishing later still,
        // does not replace it.
        let fresh = entries.began();
        entries.keep(seeker, None, fresh);
        entries.keep(seeker, was_waiting, slow);
        assert_eq!(entries.get(seeker), Some(None));
        // Forgotten again: nothing is kept until a read that began after it.
        entries.forget([seeker]);
        assert_eq!(entries.get(seeker), None);
        entries.keep(seeker, None, fresh);
        assert_eq!(entries.get(seeker), None);
        let rejoined = waiting(seeker);
        entries.keep(seeker, rejoined, entries.began());
        assert_eq!(entries.get(seeker), Some(rejoined));
    }
}
