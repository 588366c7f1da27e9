//! Domain events: every change to the live queue, written to the durable outbox in the
//! transaction of the change, for the queue stream and outgoing webhooks.

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
}

impl Kind {
    pub const ALL: [Kind; 10] = [
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

/// A stored domain event, with its position in the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxRecord {
    pub seq: i64,
    pub event: DomainEvent,
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
}
