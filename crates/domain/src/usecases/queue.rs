//! Joining and leaving an event's queue, the seeker's status, and matching.
//!
//! Matching runs in rounds, one at a time per event under its matching lock, each seating
//! every waiting seeker a free interviewer can take. A join only adds the entry (beside
//! other joins and a running round) and then waits for a round that starts after it
//! committed; [`Rounds`] lets the joins of one process that arrive together share a round,
//! so matching keeps up however many arrive at once. Changes that already hold the matching
//! lock (leave, complete, expiry, availability) run their round inline.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::Code;
use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::model::event::{Event, EventStatus};
use crate::model::ids::{EventId, MatchId, UserId};
use crate::model::matches::{Match, MatchStatus, SeekerOutcome};
use crate::model::matching::{Pair, plan, seekers_needed};
use crate::model::outbox::{DomainEvent, Kind};
use crate::model::page::PageRequest;
use crate::model::queue::{EntryState, Lineup, QueueEntry, QueueStatus};
use crate::ports::{Clock, Db, EventLock, Repo, StoreError};

fn already_in_queue() -> Error {
    Error::conflict(
        Code::AlreadyInQueue,
        "You are already in another event's queue; leave it first.",
    )
}

/// Pairs the longest-waiting seekers with the longest-idle free interviewers. Call with the
/// event locked for matching (see [`Repo::lock_event`]). Returns the matches made.
pub async fn rematch(
    repo: &mut dyn Repo,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<Vec<Match>, Error> {
    rematch_recording(repo, event, now, Vec::new()).await
}

/// [`rematch`], writing `out` (the change that led to it) to the outbox in one write with
/// the matches' own events, last in the transaction.
pub(crate) async fn rematch_recording(
    repo: &mut dyn Repo,
    event: &Event,
    now: DateTime<Utc>,
    mut out: Vec<DomainEvent>,
) -> Result<Vec<Match>, Error> {
    let pairs = if event.status == EventStatus::Live {
        claimed_plan(repo, event).await?
    } else {
        vec![]
    };
    let made: Vec<Match> = pairs
        .iter()
        .map(|p| Match::new(event.id, p.seeker, p.interviewer, now))
        .collect();
    if !made.is_empty() {
        repo.insert_matches(&made).await?;
        let seated: Vec<(UserId, MatchId)> = made.iter().map(|m| (m.seeker_id, m.id)).collect();
        repo.set_entries_matched(&seated).await?;
        out.extend(
            made.iter()
                .map(|m| DomainEvent::of_match(Kind::MatchCreated, m, now)),
        );
    }
    if !out.is_empty() {
        repo.append_outbox(&out).await?;
    }
    Ok(made)
}

/// The pairs to make now, every interviewer in them locked for this transaction. Only the
/// interviewers about to be seated are locked, so a join holds one account lock, not one
/// per available seat.
async fn claimed_plan(repo: &mut dyn Repo, event: &Event) -> Result<Vec<Pair>, Error> {
    let mut seats = repo.free_seats(event.id).await?;
    if seats.is_empty() {
        return Ok(vec![]);
    }
    let declined = repo.declined_pairs(event.id).await?;
    let waiting = repo
        .waiting(event.id, seekers_needed(seats.len(), declined.len()))
        .await?;
    loop {
        let pairs = plan(&waiting, &seats, &declined);
        if pairs.is_empty() {
            return Ok(pairs);
        }
        let wanted: Vec<UserId> = pairs.iter().map(|p| p.interviewer).collect();
        let claimed = repo.claim_seats(event.id, &wanted).await?;
        if claimed.len() == wanted.len() {
            return Ok(pairs);
        }
        // Another event seated some of them meanwhile (an interviewer may serve several
        // events): plan again without them, so no seeker is passed over while a seat is
        // free. Each round drops at least one seat, so this ends.
        seats.retain(|s| !wanted.contains(&s.interviewer) || claimed.contains(&s.interviewer));
    }
}

/// What becomes of the seeker and the interviewer when a match ends: the seeker leaves the
/// queue (`queue.left`) or waits again at their original place (`queue.joined`, reason
/// `requeued`); the interviewer's idle time restarts. Returns the queue event to record.
pub(crate) async fn settle_seeker(
    repo: &mut dyn Repo,
    m: &Match,
    outcome: SeekerOutcome,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<DomainEvent, Error> {
    repo.touch_idle(m.event_id, m.interviewer_id, now).await?;
    match outcome {
        SeekerOutcome::Leaves => {
            repo.delete_entry(m.seeker_id).await?;
            Ok(DomainEvent::queue(
                Kind::QueueLeft,
                m.event_id,
                m.seeker_id,
                reason,
                now,
            ))
        }
        SeekerOutcome::BackToWaiting => {
            repo.set_entry_state(m.seeker_id, EntryState::Waiting)
                .await?;
            Ok(DomainEvent::queue(
                Kind::QueueJoined,
                m.event_id,
                m.seeker_id,
                "requeued",
                now,
            ))
        }
    }
}

/// The seeker's status, counted exactly in the store.
pub async fn status(repo: &mut dyn Repo, seeker: UserId) -> Result<QueueStatus, Error> {
    Ok(QueueStatus::of(repo.queue_view(seeker).await?))
}

/// The seeker's entry and, when matched, the match's status: their own state, without
/// counting the queue (see [`Lineup`]).
pub async fn entry_with_match(
    repo: &mut dyn Repo,
    seeker: UserId,
) -> Result<Option<(QueueEntry, Option<MatchStatus>)>, Error> {
    let Some(entry) = repo.entry_of(seeker).await? else {
        return Ok(None);
    };
    let match_status = match entry.state {
        EntryState::Matched(id) => repo.match_for(seeker, id).await?.map(|m| m.status),
        EntryState::Waiting => None,
    };
    Ok(Some((entry, match_status)))
}

/// An event's lineup: all its waiting seekers in order.
pub async fn lineup(repo: &mut dyn Repo, event: EventId) -> Result<Lineup, Error> {
    Ok(Lineup::new(&repo.waiting(event, usize::MAX).await?))
}

/// Joins an event's queue: adds the entry and records `queue.joined`; matching follows in a
/// round of its own (see [`join_and_match`]). `Ok(false)` when the seeker already waits in
/// this event (nothing changes); another event's queue is refused.
pub async fn join(
    repo: &mut dyn Repo,
    seeker: UserId,
    event_id: EventId,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    // The event cannot end (or start) until this transaction is over, so a live event's
    // entry is seen by whatever ends it.
    let event = repo
        .lock_event(event_id, EventLock::Status)
        .await?
        .ok_or(Error::NotFound)?;
    match repo.entry_of(seeker).await? {
        Some(e) if e.event_id == event_id => return Ok(false),
        Some(_) => return Err(already_in_queue()),
        None => {}
    }
    if event.status != EventStatus::Live {
        return Err(Error::conflict(
            Code::EventNotLive,
            format!(
                "The event is {}, not live; only live events take joins.",
                event.status.as_str()
            ),
        ));
    }
    let entry = QueueEntry {
        seeker_id: seeker,
        event_id,
        joined_at: now,
        state: EntryState::Waiting,
    };
    if !repo.insert_entry(&entry).await? {
        // A join of the same seeker raced this one and won.
        return match repo.entry_of(seeker).await? {
            Some(e) if e.event_id == event_id => Ok(false),
            _ => Err(already_in_queue()),
        };
    }
    repo.append_outbox(&[DomainEvent::queue(
        Kind::QueueJoined,
        event_id,
        seeker,
        "joined",
        now,
    )])
    .await?;
    Ok(true)
}

/// Joins (see [`join`]), waits for a matching round, and answers with the seeker's status:
/// matched at once when a seat was free. `true` when the entry is new.
pub async fn join_and_match(
    db: &Db,
    rounds: &Rounds,
    clock: &dyn Clock,
    seeker: UserId,
    event_id: EventId,
) -> Result<(QueueStatus, bool), Error> {
    let now = clock.now();
    let joined = db
        .transaction(move |r| Box::pin(async move { join(r, seeker, event_id, now).await }))
        .await?;
    rounds.run(db, clock, event_id).await?;
    Ok((read_status(db, seeker).await?, joined))
}

/// [`status`] as one read.
pub async fn read_status(db: &Db, seeker: UserId) -> Result<QueueStatus, Error> {
    db.read(move |r| Box::pin(async move { status(r, seeker).await }))
        .await
}

/// One matching round: with the event locked for matching, seats every waiting seeker a
/// free interviewer can take. Nothing for an event that is not live. Returns the matches made.
pub async fn round(
    repo: &mut dyn Repo,
    event_id: EventId,
    now: DateTime<Utc>,
) -> Result<Vec<Match>, Error> {
    // No free seat or nobody waiting, no round: whoever frees a seat, and whoever joins,
    // runs a round after their change commits, and that round sees what was there by then.
    // So a full event's joins, and the declines of an event nobody waits at, never wait for
    // its lock.
    if !repo.can_seat(event_id).await? {
        return Ok(vec![]);
    }
    match repo.lock_event(event_id, EventLock::Matching).await? {
        Some(event) => rematch(repo, &event, now).await,
        None => Ok(vec![]),
    }
}

/// The matching rounds this process runs, coalesced per event. A caller whose change has
/// committed asks for a round and returns once a round that started after its request has
/// completed; requests made while a round runs are all served by the next one. Across
/// processes, rounds take turns on the event's matching lock.
#[derive(Default)]
pub struct Rounds {
    slots: Mutex<HashMap<EventId, Arc<Slot>>>,
    ran: AtomicU64,
}

#[derive(Default)]
struct Slot {
    /// Requests made so far (each takes the next number).
    requested: AtomicU64,
    /// Held while a round runs: the highest request a completed round served.
    served: futures_util::lock::Mutex<u64>,
}

/// Events whose round state is kept; beyond this, idle ones are forgotten.
const KEPT_SLOTS: usize = 256;

impl Rounds {
    fn slot(&self, event: EventId) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.len() >= KEPT_SLOTS && !slots.contains_key(&event) {
            slots.retain(|_, s| Arc::strong_count(s) > 1);
        }
        slots.entry(event).or_default().clone()
    }

    /// Returns once a round of `event` that started after this call has completed: `true`
    /// when this caller ran it, `false` when another caller's round served it.
    pub async fn run(&self, db: &Db, clock: &dyn Clock, event: EventId) -> Result<bool, Error> {
        let slot = self.slot(event);
        let ticket = slot.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut served = slot.served.lock().await;
        if *served >= ticket {
            return Ok(false);
        }
        // Every request numbered up to here was made before this round starts reading.
        let covers = slot.requested.load(Ordering::SeqCst);
        let now = clock.now();
        db.transaction(move |r| Box::pin(async move { round(r, event, now).await }))
            .await?;
        *served = covers;
        self.ran.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// How many rounds this has run.
    pub fn ran(&self) -> u64 {
        self.ran.load(Ordering::Relaxed)
    }
}

/// A round for every live event with seekers waiting and seats available: what a change
/// whose own round did not run (its process stopped in between, or the round failed)
/// leaves to be done. Returns how many rounds ran, or the first failure once every event
/// has had its round.
pub async fn catch_up(db: &Db, rounds: &Rounds, clock: &dyn Clock) -> Result<usize, Error> {
    const PAGE: usize = 100;
    let mut after = None;
    let (mut ran, mut failed) = (0, Vec::new());
    loop {
        let page = PageRequest {
            limit: PAGE as u32 + 1,
            after,
        };
        let live = db
            .read(move |r| Box::pin(async move { r.live_events(page).await.map_err(Error::from) }))
            .await?;
        for l in live.iter().take(PAGE) {
            after = Some(l.event.id);
            if l.queue_length > 0 && l.available_seats > 0 {
                // One event's failure does not hold up the others'.
                match rounds.run(db, clock, l.event.id).await {
                    Ok(_) => ran += 1,
                    Err(e) => failed.push(e),
                }
            }
        }
        if live.len() <= PAGE {
            return match failed.into_iter().next() {
                Some(e) => Err(e),
                None => Ok(ran),
            };
        }
    }
}

/// Leaves the queue. A pending match counts as declined by the seeker, an accepted one as
/// over. Leaving when not queued changes nothing.
pub async fn leave(
    repo: &mut dyn Repo,
    seeker: UserId,
    now: DateTime<Utc>,
) -> Result<QueueStatus, Error> {
    let Some(mut entry) = repo.entry_of(seeker).await? else {
        return status(repo, seeker).await;
    };
    // Lock the entry's event, then read the entry again under the lock: a match may have
    // been made meanwhile, or the seeker may have left and joined another event's queue, whose
    // lock is then the one to hold. Each move needs a committed leave and join, so this
    // settles at once; the bound only guards against a store that keeps changing.
    let mut attempts = 0;
    let event = loop {
        let event = repo
            .lock_event(entry.event_id, EventLock::Matching)
            .await?
            .ok_or(Error::NotFound)?;
        let Some(now_entry) = repo.entry_of(seeker).await? else {
            return status(repo, seeker).await;
        };
        entry = now_entry;
        if entry.event_id == event.id {
            break event;
        }
        attempts += 1;
        if attempts == 3 {
            return Err(StoreError::Unavailable(format!(
                "the queue entry of {seeker} kept moving between events"
            ))
            .into());
        }
    };
    let mut out = Vec::new();
    if let EntryState::Matched(id) = entry.state
        && let Some(mut m) = repo.lock_match(seeker, id).await?
        && m.status.is_live()
    {
        m.abandon(now);
        repo.update_match(&m).await?;
        repo.touch_idle(m.event_id, m.interviewer_id, now).await?;
        let kind = if m.status == MatchStatus::Declined {
            Kind::MatchDeclined
        } else {
            Kind::MatchCompleted
        };
        out.push(DomainEvent::of_match(kind, &m, now));
    }
    repo.delete_entry(seeker).await?;
    out.push(DomainEvent::queue(
        Kind::QueueLeft,
        entry.event_id,
        seeker,
        "left",
        now,
    ));
    rematch_recording(repo, &event, now, out).await?;
    status(repo, seeker).await
}
