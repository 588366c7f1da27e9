//! Domain events: every change to the live queue, written to the durable outbox in the
//! transaction of the change, for the queue stream and outgoing webhooks.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::event::Event;
use super::ids::{EventId, UserId};
use super::matches::Match;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    QueueJoined,
    QueueLeft,
    MatchCreated,
    MatchAccepted,
    MatchDeclined,
    MatchExpired,
    MatchCompleted,
    EventStarted,
    EventEnded,
    /// An interviewer became available or stepped away.
    EventAvailability,
    /// What an account's tokens may do changed (a token revoked, the IP allowlist or a rate
    /// limit changed): every process forgets the account's cached tokens. Internal: it
    /// carries no payload and is not for webhooks.
    AccessChanged,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::QueueJoined,
        Kind::QueueLeft,
        Kind::MatchCreated,
        Kind::MatchAccepted,
        Kind::MatchDeclined,
        Kind::MatchExpired,
        Kind::MatchCompleted,
        Kind::EventStarted,
        Kind::EventEnded,
        Kind::EventAvailability,
        Kind::AccessChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::QueueJoined => "queue.joined",
            Kind::QueueLeft => "queue.left",
            Kind::MatchCreated => "match.created",
            Kind::MatchAccepted => "match.accepted",
            Kind::MatchDeclined => "match.declined",
            Kind::MatchExpired => "match.expired",
            Kind::MatchCompleted => "match.completed",
            Kind::EventStarted => "event.started",
            Kind::EventEnded => "event.ended",
            Kind::EventAvailability => "event.availability_changed",
            Kind::AccessChanged => "access.changed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One change, as written to the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct DomainEvent {
    pub kind: Kind,
    pub event_id: Option<EventId>,
    /// The accounts it concerns.
    pub users: Vec<UserId>,
    pub payload: Value,
    pub at: DateTime<Utc>,
}

/// How long outbox records are kept: far beyond any stream's resync and any consumer's
/// catch-up, after which the worker purges them.
pub fn retention() -> chrono::Duration {
    chrono::Duration::days(7)
}

/// A stored domain event, with its position in the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxRecord {
    pub seq: i64,
    pub event: DomainEvent,
}

impl OutboxRecord {
    /// Whether this change can alter what `user` sees of their own queue place: it names
    /// them, or it happened in the event they are queued in (`event`), where any join, leave
    /// or match moves positions and the queue length.
    pub fn touches(&self, user: UserId, event: Option<EventId>) -> bool {
        self.event.users.contains(&user) || (event.is_some() && self.event.event_id == event)
    }
}

/// Reads the outbox in order although its positions become visible out of order: a position
/// is taken when a transaction writes and seen when it commits, so a reader can see 11 before
/// 10, and a rolled-back transaction leaves a hole for good. `Tail` hands each record out
/// once, keeps reading from the lowest hole, and gives a hole up after `grace`.
#[derive(Debug)]
pub struct Tail {
    /// Everything at or below was handed out or given up.
    low: i64,
    /// Handed out, above `low`.
    seen: BTreeSet<i64>,
    /// When the hole just above `low` was first noticed.
    hole_since: Option<(i64, Instant)>,
    grace: Duration,
    /// Positions given up since the last [`Tail::drain_given_up`].
    given_up: Vec<i64>,
}

/// At most this many positions of one give-up are remembered (a wider gap is a reset, not a
/// transaction in flight).
const GIVEN_UP_MAX: i64 = 1000;

impl Tail {
    /// Starts after `head`: only records written later are handed out.
    pub fn after(head: i64, grace: Duration) -> Self {
        Tail {
            low: head,
            seen: BTreeSet::new(),
            hole_since: None,
            grace,
            given_up: vec![],
        }
    }

    /// Starts after `low`, the records at `known` already accounted for (not handed out):
    /// the positions between them that are not yet visible are holes, waited for like any
    /// other. For a reader starting while transactions are in flight.
    pub fn resume(low: i64, known: impl IntoIterator<Item = i64>, grace: Duration) -> Self {
        Tail {
            low,
            seen: known.into_iter().filter(|&k| k > low).collect(),
            hole_since: None,
            grace,
            given_up: vec![],
        }
    }

    /// The positions given up since the last call, for a reader that must still learn what
    /// commits there late.
    pub fn drain_given_up(&mut self) -> Vec<i64> {
        std::mem::take(&mut self.given_up)
    }

    /// Read the next batch after this position.
    pub fn from(&self) -> i64 {
        self.low
    }

    /// Takes a batch read after [`Tail::from`] and returns the records not handed out
    /// before, in order, and whether a hole was given up (a record may have been missed:
    /// readers should refresh whatever they derive from the records).
    pub fn take(&mut self, batch: Vec<OutboxRecord>, now: Instant) -> (Vec<OutboxRecord>, bool) {
        let mut gave_up = false;
        let fresh: Vec<OutboxRecord> = batch
            .into_iter()
            .filter(|r| r.seq > self.low && self.seen.insert(r.seq))
            .collect();
        loop {
            if self.seen.remove(&(self.low + 1)) {
                self.low += 1;
                continue;
            }
            let Some(&next) = self.seen.first() else {
                self.hole_since = None;
                break;
            };
            match self.hole_since {
                Some((at, since)) if at == self.low + 1 => {
                    if now.duration_since(since) < self.grace {
                        break;
                    }
                    // Given up: whatever commits there later is not handed out.
                    self.given_up
                        .extend((self.low + 1..next).take(GIVEN_UP_MAX as usize));
                    self.low = next - 1;
                    self.hole_since = None;
                    gave_up = true;
                }
                _ => {
                    self.hole_since = Some((self.low + 1, now));
                    break;
                }
            }
        }
        (fresh, gave_up)
    }
}

impl DomainEvent {
    pub fn queue(
        kind: Kind,
        event: EventId,
        seeker: UserId,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Self {
        DomainEvent {
            kind,
            event_id: Some(event),
            users: vec![seeker],
            payload: json!({ "event_id": event, "seeker_id": seeker, "reason": reason }),
            at,
        }
    }

    /// `user`'s access changed: their cached tokens must be looked up again everywhere.
    pub fn access_changed(user: UserId, at: DateTime<Utc>) -> Self {
        DomainEvent {
            kind: Kind::AccessChanged,
            event_id: None,
            users: vec![user],
            payload: json!({}),
            at,
        }
    }

    pub fn of_match(kind: Kind, m: &Match, at: DateTime<Utc>) -> Self {
        DomainEvent {
            kind,
            event_id: Some(m.event_id),
            users: vec![m.seeker_id, m.interviewer_id],
            payload: json!({
                "match_id": m.id,
                "event_id": m.event_id,
                "seeker_id": m.seeker_id,
                "interviewer_id": m.interviewer_id,
                "status": m.status,
                "declined_by": m.declined_by,
                "expires_at": m.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }),
            at,
        }
    }

    pub fn of_event(kind: Kind, e: &Event, at: DateTime<Utc>) -> Self {
        DomainEvent {
            kind,
            event_id: Some(e.id),
            users: vec![e.owner_id],
            payload: json!({ "event_id": e.id, "status": e.status }),
            at,
        }
    }

    pub fn availability(
        e: EventId,
        interviewer: UserId,
        available: bool,
        at: DateTime<Utc>,
    ) -> Self {
        DomainEvent {
            kind: Kind::EventAvailability,
            event_id: Some(e),
            users: vec![interviewer],
            payload: json!({ "event_id": e, "interviewer_id": interviewer, "available": available }),
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::parse("match.nope"), None);
    }

    fn rec(seq: i64) -> OutboxRecord {
        OutboxRecord {
            seq,
            event: DomainEvent {
                kind: Kind::QueueJoined,
                event_id: None,
                users: vec![],
                payload: Value::Null,
                at: DateTime::UNIX_EPOCH,
            },
        }
    }

    fn seqs(rs: &[OutboxRecord]) -> Vec<i64> {
        rs.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn tail_hands_each_record_out_once_and_waits_at_a_hole() {
        let t0 = Instant::now();
        let grace = Duration::from_secs(2);
        let mut tail = Tail::after(10, grace);
        // 11 is still being written when 12 and 13 commit.
        assert_eq!(seqs(&tail.take(vec![rec(12), rec(13)], t0).0), [12, 13]);
        assert_eq!(tail.from(), 10, "reading goes on from the hole");
        // The same rows come back on the next read; they are not handed out again.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(
            seqs(&tail.take(vec![rec(12), rec(13)], t1).0),
            [] as [i64; 0]
        );
        // 11 commits: it is handed out, and the reader moves past everything.
        assert_eq!(
            seqs(&tail.take(vec![rec(11), rec(12), rec(13)], t1).0),
            [11]
        );
        assert_eq!(tail.from(), 13);
        assert_eq!(
            seqs(&tail.take(vec![rec(9), rec(13)], t1).0),
            [] as [i64; 0]
        );
    }

    #[test]
    fn tail_gives_a_hole_up_after_the_grace() {
        let t0 = Instant::now();
        let grace = Duration::from_secs(2);
        let mut tail = Tail::after(0, grace);
        // 1..=3 rolled back; 4 and 5 committed.
        let (first, gave_up) = tail.take(vec![rec(4), rec(5)], t0);
        assert_eq!((seqs(&first), gave_up), (vec![4, 5], false));
        assert_eq!(tail.from(), 0);
        let (_, gave_up) = tail.take(vec![rec(4), rec(5)], t0 + Duration::from_secs(1));
        assert_eq!((tail.from(), gave_up), (0, false), "still inside the grace");
        let (_, gave_up) = tail.take(vec![rec(4), rec(5)], t0 + grace);
        assert_eq!(tail.from(), 5, "the whole hole is given up at once");
        assert!(gave_up, "and readers are told");
        assert_eq!(tail.drain_given_up(), [1, 2, 3], "which positions");
        assert!(tail.drain_given_up().is_empty());
        // A late commit into a given-up hole is not handed out.
        assert_eq!(seqs(&tail.take(vec![rec(2), rec(6)], t0 + grace).0), [6]);
        assert_eq!(tail.from(), 6);
    }

    #[test]
    fn a_resumed_tail_waits_for_what_was_in_flight_when_it_started() {
        let t0 = Instant::now();
        // At start 7 and 9 are visible below the head (9); 8 is still being written.
        let mut tail = Tail::resume(5, [6, 7, 9], Duration::from_secs(2));
        let (got, _) = tail.take(vec![rec(6), rec(7), rec(9), rec(10)], t0);
        assert_eq!(
            seqs(&got),
            [10],
            "what was visible at start is not handed out"
        );
        assert_eq!(tail.from(), 7);
        let (got, _) = tail.take(vec![rec(8), rec(9), rec(10)], t0);
        assert_eq!(seqs(&got), [8], "the one in flight is, once it commits");
        assert_eq!(tail.from(), 10);
    }

    #[test]
    fn touches_names_or_shares_the_event() {
        let me = UserId::new();
        let other = UserId::new();
        let ev = EventId::new();
        let mut r = rec(1);
        r.event.users = vec![other];
        r.event.event_id = Some(ev);
        assert!(
            r.touches(me, Some(ev)),
            "a change in my event moves my place"
        );
        assert!(!r.touches(me, None), "not queued: only changes naming me");
        assert!(!r.touches(me, Some(EventId::new())));
        r.event.users.push(me);
        assert!(r.touches(me, None));
    }
}
