//! Queue places for status reads. Counting a seeker's place in the store costs a scan of
//! everyone ahead; with thousands waiting and each polling, that is most of the database's
//! work. Instead each process keeps, per event, the lineup of waiting seekers as read at most
//! [`MAX_AGE`] ago, and a status read costs one lookup of the seeker's own entry. The seeker's
//! state (waiting or matched, the match and its status) is always current; the place and the
//! queue length may trail a change by up to [`MAX_AGE`]. A seeker who is waiting but not in
//! the lineup (they joined since) has their place counted exactly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jobby_domain::error::Error;
use jobby_domain::model::ids::{EventId, UserId};
use jobby_domain::model::matches::MatchStatus;
use jobby_domain::model::queue::{Lineup, QueueEntry, QueueStatus};
use jobby_domain::ports::Db;
use jobby_domain::usecases::queue;

/// How stale a lineup may be.
pub const MAX_AGE: Duration = Duration::from_millis(250);
/// A lineup this old is read again in the background while it is still served, so status
/// reads seldom wait for one.
const REFRESH_AFTER: Duration = Duration::from_millis(150);
/// Events whose lineups are kept; beyond this the oldest are forgotten.
const EVENTS_KEPT: usize = 1024;

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

#[derive(Default)]
pub struct Lineups {
    slots: Mutex<HashMap<EventId, (Instant, Arc<Slot>)>>,
}

impl Lineups {
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

    /// The seeker's status: their own entry from the store, their place from the lineup.
    pub async fn status(&self, db: &Db, seeker: UserId) -> Result<QueueStatus, Error> {
        Ok(self.status_and_entry(db, seeker).await?.0)
    }

    /// [`Lineups::status`], with the entry it was made from.
    pub async fn status_and_entry(
        &self,
        db: &Db,
        seeker: UserId,
    ) -> Result<(QueueStatus, Option<Entry>), Error> {
        let entry = db
            .read(move |r| Box::pin(async move { queue::entry_with_match(r, seeker).await }))
            .await?;
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
