//! Queue places for status reads. Counting a seeker's place in the store costs a scan of
//! everyone ahead; with thousands waiting and each polling, that is most of the database's
//! work. Instead each process keeps, per event, the lineup of waiting seekers as read at most
//! [`MAX_AGE`] ago, and a status read costs one lookup of the seeker's own entry. The seeker's
//! state (waiting or matched, the match and its status) is always current; the place and the
//! queue length may trail a change by up to [`MAX_AGE`]. A seeker who is waiting but not in
//! the lineup (they joined since) has their place counted exactly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jobby_domain::error::Error;
use jobby_domain::model::ids::{EventId, UserId};
use jobby_domain::model::queue::{Lineup, QueueStatus};
use jobby_domain::ports::Db;
use jobby_domain::usecases::queue;

/// How stale a lineup may be.
pub const MAX_AGE: Duration = Duration::from_millis(250);
/// Events whose lineups are kept; beyond this the oldest are forgotten.
const EVENTS_KEPT: usize = 1024;

type Slot = Arc<tokio::sync::Mutex<Option<(Instant, Arc<Lineup>)>>>;

#[derive(Default)]
pub struct Lineups {
    slots: Mutex<HashMap<EventId, (Instant, Slot)>>,
}

impl Lineups {
    fn slot(&self, event: EventId) -> Slot {
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
        let entry = slots.entry(event).or_insert_with(|| (now, Slot::default()));
        entry.0 = now;
        entry.1.clone()
    }

    /// The event's lineup, read again when older than [`MAX_AGE`]. Concurrent callers wait
    /// for one read instead of each reading.
    pub async fn get(&self, db: &Db, event: EventId) -> Result<Arc<Lineup>, Error> {
        let slot = self.slot(event);
        let mut held = slot.lock().await;
        if let Some((read_at, lineup)) = held.as_ref()
            && read_at.elapsed() < MAX_AGE
        {
            return Ok(lineup.clone());
        }
        let read_at = Instant::now();
        let lineup = Arc::new(
            db.read(move |r| Box::pin(async move { queue::lineup(r, event).await }))
                .await?,
        );
        *held = Some((read_at, lineup.clone()));
        Ok(lineup)
    }

    /// The seeker's status: their own entry from the store, their place from the lineup.
    pub async fn status(&self, db: &Db, seeker: UserId) -> Result<QueueStatus, Error> {
        let entry = db
            .read(move |r| Box::pin(async move { queue::entry_with_match(r, seeker).await }))
            .await?;
        let Some((entry, match_status)) = entry else {
            return Ok(QueueStatus::of(None));
        };
        let lineup = self.get(db, entry.event_id).await?;
        match lineup.status_of(&entry, match_status) {
            Some(s) => Ok(s),
            None => {
                db.read(move |r| Box::pin(async move { queue::status(r, seeker).await }))
                    .await
            }
        }
    }
}
