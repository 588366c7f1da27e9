//! A seeker's place in an event's queue, and the status object the API shows for it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ids::{EventId, MatchId, UserId};
use super::matches::MatchStatus;
use super::matching::Waiting;

/// How often clients should poll `/queue/status`.
pub const POLL_INTERVAL_SECONDS: u32 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryState {
    Waiting,
    Matched(MatchId),
}

/// A seeker in a queue. One per seeker: a seeker waits in at most one event at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    pub seeker_id: UserId,
    pub event_id: EventId,
    /// The original place: kept when the seeker waits again after a match ends.
    pub joined_at: DateTime<Utc>,
    pub state: EntryState,
}

/// What the store reports about a seeker's entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueView {
    pub event_id: EventId,
    pub state: EntryState,
    /// 1-based among the event's waiting seekers; 0 when not waiting.
    pub position: u32,
    /// Seekers waiting in the event.
    pub queue_length: u32,
    pub match_status: Option<MatchStatus>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueState {
    NotQueued,
    Waiting,
    Matched,
}

/// `GET /queue/status`, and each message of `/queue/stream`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct QueueStatus {
    pub status: QueueState,
    pub event_id: Option<EventId>,
    /// 1-based among those waiting; null unless waiting.
    pub position: Option<u32>,
    pub queue_length: Option<u32>,
    pub match_id: Option<MatchId>,
    pub match_status: Option<MatchStatus>,
    pub poll_interval_seconds: u32,
}

impl QueueStatus {
    pub fn of(view: Option<QueueView>) -> Self {
        let Some(v) = view else {
            return QueueStatus {
                status: QueueState::NotQueued,
                event_id: None,
                position: None,
                queue_length: None,
                match_id: None,
                match_status: None,
                poll_interval_seconds: POLL_INTERVAL_SECONDS,
            };
        };
        let (status, position, match_id) = match v.state {
            EntryState::Waiting => (QueueState::Waiting, Some(v.position), None),
            EntryState::Matched(m) => (QueueState::Matched, None, Some(m)),
        };
        QueueStatus {
            status,
            event_id: Some(v.event_id),
            position,
            queue_length: Some(v.queue_length),
            match_id,
            match_status: v.match_status,
            poll_interval_seconds: POLL_INTERVAL_SECONDS,
        }
    }
}

/// An event's waiting seekers in order, as read at one moment: the places of many status
/// reads without counting the queue for each. A lineup is a little behind the store; the
/// seeker's own state always comes from their entry.
#[derive(Debug, Default)]
pub struct Lineup {
    places: HashMap<UserId, u32>,
    len: u32,
}

impl Lineup {
    /// From the event's waiting seekers, first come first served.
    pub fn new(waiting: &[Waiting]) -> Self {
        let places = waiting
            .iter()
            .zip(1u32..)
            .map(|(w, place)| (w.seeker, place))
            .collect();
        Lineup {
            places,
            len: u32::try_from(waiting.len()).unwrap_or(u32::MAX),
        }
    }

    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The status of a seeker with this entry (and, when matched, this match status), or
    /// `None` when the lineup cannot tell: the seeker waits but is not in it (they joined or
    /// were sent back after it was read), so their place must be counted.
    pub fn status_of(
        &self,
        entry: &QueueEntry,
        match_status: Option<MatchStatus>,
    ) -> Option<QueueStatus> {
        let position = match entry.state {
            EntryState::Waiting => *self.places.get(&entry.seeker_id)?,
            EntryState::Matched(_) => 0,
        };
        Some(QueueStatus::of(Some(QueueView {
            event_id: entry.event_id,
            state: entry.state,
            position,
            queue_length: self.len,
            match_status,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lineup_places_the_seekers_it_holds_and_only_those() {
        let event_id = EventId::new();
        let at = DateTime::UNIX_EPOCH;
        let seekers: Vec<UserId> = (0..3).map(|_| UserId::new()).collect();
        let lineup = Lineup::new(
            &seekers
                .iter()
                .map(|&seeker| Waiting {
                    seeker,
                    joined_at: at,
                })
                .collect::<Vec<_>>(),
        );
        let entry = |seeker, state| QueueEntry {
            seeker_id: seeker,
            event_id,
            joined_at: at,
            state,
        };
        let s = lineup
            .status_of(&entry(seekers[1], EntryState::Waiting), None)
            .unwrap();
        assert_eq!(
            (s.status, s.position, s.queue_length),
            (QueueState::Waiting, Some(2), Some(3))
        );
        // Joined after the lineup was read: it cannot tell.
        assert!(
            lineup
                .status_of(&entry(UserId::new(), EntryState::Waiting), None)
                .is_none()
        );
        // Matched: no place, the match from the entry.
        let m = MatchId::new();
        let s = lineup
            .status_of(
                &entry(UserId::new(), EntryState::Matched(m)),
                Some(MatchStatus::Pending),
            )
            .unwrap();
        assert_eq!(
            (s.status, s.position, s.match_id, s.queue_length),
            (QueueState::Matched, None, Some(m), Some(3))
        );
    }

    #[test]
    fn statuses() {
        let s = QueueStatus::of(None);
        assert_eq!(s.status, QueueState::NotQueued);
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            serde_json::json!({"status": "not_queued", "event_id": null, "position": null,
                "queue_length": null, "match_id": null, "match_status": null,
                "poll_interval_seconds": 5})
        );
        let event_id = EventId::new();
        let m = MatchId::new();
        let s = QueueStatus::of(Some(QueueView {
            event_id,
            state: EntryState::Matched(m),
            position: 0,
            queue_length: 3,
            match_status: Some(MatchStatus::Pending),
        }));
        assert_eq!(s.status, QueueState::Matched);
        assert_eq!((s.position, s.match_id), (None, Some(m)));
        let s = QueueStatus::of(Some(QueueView {
            event_id,
            state: EntryState::Waiting,
            position: 2,
            queue_length: 3,
            match_status: None,
        }));
        assert_eq!((s.status, s.position), (QueueState::Waiting, Some(2)));
    }
}
