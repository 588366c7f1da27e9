//! A match: `pending → accepted → completed`, or `declined`, or `expired`. Both humans accept
//! within 60 seconds of creation; what happens to the seeker's place when a match ends is
//! decided here.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::ids::{EventId, MatchId, UserId};

/// How long both sides have to accept.
pub fn accept_window() -> Duration {
    Duration::seconds(60)
}

/// How long a room URL stays usable after it is issued.
pub fn room_url_lifetime() -> Duration {
    Duration::seconds(30)
}

/// The longest an interview may last in the video room.
pub const INTERVIEW_MAX_SECONDS: u32 = 60 * 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchStatus {
    Pending,
    Accepted,
    Completed,
    Declined,
    Expired,
}

impl MatchStatus {
    pub const ALL: [MatchStatus; 5] = [
        MatchStatus::Pending,
        MatchStatus::Accepted,
        MatchStatus::Completed,
        MatchStatus::Declined,
        MatchStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MatchStatus::Pending => "pending",
            MatchStatus::Accepted => "accepted",
            MatchStatus::Completed => "completed",
            MatchStatus::Declined => "declined",
            MatchStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Pending or accepted: the match holds the seeker and the interviewer's seat.
    pub fn is_live(self) -> bool {
        matches!(self, MatchStatus::Pending | MatchStatus::Accepted)
    }
}

/// Which participant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Seeker,
    Interviewer,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Seeker => "seeker",
            Side::Interviewer => "interviewer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "seeker" => Some(Side::Seeker),
            "interviewer" => Some(Side::Interviewer),
            _ => None,
        }
    }
}

/// What becomes of the seeker's queue entry when a match ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeekerOutcome {
    /// The seeker leaves the queue.
    Leaves,
    /// The seeker waits again at their original place.
    BackToWaiting,
}

/// Why a transition was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the match is {0:?}, not pending")]
    NotPending(MatchStatus),
    #[error("the match expired at its accept deadline")]
    Expired,
    #[error("the match is {0:?}, not accepted")]
    NotAccepted(MatchStatus),
    #[error("the interview has started")]
    Started,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    pub id: MatchId,
    pub event_id: EventId,
    pub seeker_id: UserId,
    pub interviewer_id: UserId,
    pub status: MatchStatus,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub seeker_accepted_at: Option<DateTime<Utc>>,
    pub interviewer_accepted_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub declined_by: Option<Side>,
    pub room_name: Option<String>,
    /// When the interview started: the first time either participant entered the room.
    pub started_at: Option<DateTime<Utc>>,
}

impl Match {
    pub fn new(event: EventId, seeker: UserId, interviewer: UserId, now: DateTime<Utc>) -> Self {
        Match {
            id: MatchId::new(),
            event_id: event,
            seeker_id: seeker,
            interviewer_id: interviewer,
            status: MatchStatus::Pending,
            created_at: now,
            expires_at: now + accept_window(),
            seeker_accepted_at: None,
            interviewer_accepted_at: None,
            ended_at: None,
            declined_by: None,
            room_name: None,
            started_at: None,
        }
    }

    /// The caller's side, if they take part.
    pub fn side_of(&self, user: UserId) -> Option<Side> {
        if user == self.seeker_id {
            Some(Side::Seeker)
        } else if user == self.interviewer_id {
            Some(Side::Interviewer)
        } else {
            None
        }
    }

    pub fn accepted_by(&self, side: Side) -> bool {
        match side {
            Side::Seeker => self.seeker_accepted_at.is_some(),
            Side::Interviewer => self.interviewer_accepted_at.is_some(),
        }
    }

    fn check_pending(&self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        if self.status != MatchStatus::Pending {
            return Err(TransitionError::NotPending(self.status));
        }
        if now >= self.expires_at {
            return Err(TransitionError::Expired);
        }
        Ok(())
    }

    /// One side accepts. Returns whether the match is now accepted by both.
    pub fn accept(&mut self, side: Side, now: DateTime<Utc>) -> Result<bool, TransitionError> {
        self.check_pending(now)?;
        let slot = match side {
            Side::Seeker => &mut self.seeker_accepted_at,
            Side::Interviewer => &mut self.interviewer_accepted_at,
        };
        slot.get_or_insert(now);
        if self.seeker_accepted_at.is_some() && self.interviewer_accepted_at.is_some() {
            self.status = MatchStatus::Accepted;
            return Ok(true);
        }
        Ok(false)
    }

    /// One side declines a match that is pending, or accepted but not started (nobody has
    /// entered the room yet). A seeker who declines leaves the queue; when the interviewer
    /// declines, the seeker waits again at their original place.
    pub fn decline(
        &mut self,
        side: Side,
        now: DateTime<Utc>,
    ) -> Result<SeekerOutcome, TransitionError> {
        match self.status {
            MatchStatus::Accepted if self.started_at.is_some() => {
                return Err(TransitionError::Started);
            }
            MatchStatus::Accepted => {}
            _ => self.check_pending(now)?,
        }
        self.status = MatchStatus::Declined;
        self.declined_by = Some(side);
        self.ended_at = Some(now);
        Ok(match side {
            Side::Seeker => SeekerOutcome::Leaves,
            Side::Interviewer => SeekerOutcome::BackToWaiting,
        })
    }

    /// The accept window closed. A seeker who had accepted waits again at their original
    /// place; one who had not leaves the queue.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Result<SeekerOutcome, TransitionError> {
        if self.status != MatchStatus::Pending {
            return Err(TransitionError::NotPending(self.status));
        }
        if now < self.expires_at {
            return Err(TransitionError::NotPending(self.status));
        }
        self.status = MatchStatus::Expired;
        self.ended_at = Some(now);
        Ok(if self.seeker_accepted_at.is_some() {
            SeekerOutcome::BackToWaiting
        } else {
            SeekerOutcome::Leaves
        })
    }

    /// Someone entered the room of an accepted match: the interview has started (once).
    pub fn start(&mut self, now: DateTime<Utc>) {
        if self.status == MatchStatus::Accepted && self.started_at.is_none() {
            self.started_at = Some(now);
        }
    }

    /// The interview is over.
    pub fn complete(&mut self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        if self.status != MatchStatus::Accepted {
            return Err(TransitionError::NotAccepted(self.status));
        }
        self.status = MatchStatus::Completed;
        self.ended_at = Some(now);
        Ok(())
    }

    /// The seeker walks away from the queue while matched: a pending match counts as
    /// declined by them, an accepted one as over.
    pub fn abandon(&mut self, now: DateTime<Utc>) {
        match self.status {
            MatchStatus::Pending => {
                self.status = MatchStatus::Declined;
                self.declined_by = Some(Side::Seeker);
                self.ended_at = Some(now);
            }
            MatchStatus::Accepted => {
                self.status = MatchStatus::Completed;
                self.ended_at = Some(now);
            }
            _ => {}
        }
    }

    /// The event ended: a pending match expires (the seeker leaves the queue). Returns
    /// whether it changed; an accepted interview goes on.
    pub fn end_with_event(&mut self, now: DateTime<Utc>) -> bool {
        if self.status != MatchStatus::Pending {
            return false;
        }
        self.status = MatchStatus::Expired;
        self.ended_at = Some(now);
        true
    }

    /// The video room's name: stable, so creating it twice is harmless.
    pub fn room_name(&self) -> String {
        format!("jobby-{}", self.id.uuid().simple())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn fresh() -> Match {
        Match::new(EventId::new(), UserId::new(), UserId::new(), now())
    }

    #[test]
    fn both_must_accept_within_the_window() {
        let mut m = fresh();
        assert_eq!(m.accept(Side::Seeker, now()), Ok(false));
        assert_eq!(
            m.accept(Side::Seeker, now()),
            Ok(false),
            "accepting twice is harmless"
        );
        assert_eq!(m.status, MatchStatus::Pending);
        assert_eq!(
            m.accept(Side::Interviewer, now() + Duration::seconds(59)),
            Ok(true)
        );
        assert_eq!(m.status, MatchStatus::Accepted);
        assert_eq!(
            m.accept(Side::Seeker, now()),
            Err(TransitionError::NotPending(MatchStatus::Accepted))
        );
        let mut late = fresh();
        assert_eq!(
            late.accept(Side::Seeker, now() + accept_window()),
            Err(TransitionError::Expired)
        );
        assert_eq!(late.status, MatchStatus::Pending);
    }

    #[test]
    fn decline_outcomes() {
        let mut m = fresh();
        assert_eq!(m.decline(Side::Seeker, now()), Ok(SeekerOutcome::Leaves));
        assert_eq!(m.declined_by, Some(Side::Seeker));
        let mut m = fresh();
        assert_eq!(
            m.decline(Side::Interviewer, now()),
            Ok(SeekerOutcome::BackToWaiting)
        );
        assert_eq!(m.status, MatchStatus::Declined);
    }

    #[test]
    fn an_accepted_match_can_be_declined_until_the_interview_starts() {
        let accepted = || {
            let mut m = fresh();
            m.accept(Side::Seeker, now()).unwrap();
            assert!(m.accept(Side::Interviewer, now()).unwrap());
            m
        };
        // Even after the accept window: an accepted match no longer expires.
        let late = now() + Duration::seconds(120);
        let mut m = accepted();
        assert_eq!(m.decline(Side::Seeker, late), Ok(SeekerOutcome::Leaves));
        assert_eq!(
            (m.status, m.declined_by, m.ended_at),
            (MatchStatus::Declined, Some(Side::Seeker), Some(late))
        );
        let mut m = accepted();
        assert_eq!(
            m.decline(Side::Interviewer, late),
            Ok(SeekerOutcome::BackToWaiting)
        );

        let mut m = accepted();
        m.start(late);
        m.start(late + Duration::seconds(5));
        assert_eq!(m.started_at, Some(late), "started once");
        assert_eq!(m.decline(Side::Seeker, late), Err(TransitionError::Started));
        assert_eq!(m.status, MatchStatus::Accepted, "unchanged");

        let mut m = fresh();
        m.start(now());
        assert_eq!(m.started_at, None, "a pending match does not start");
    }

    #[test]
    fn expiry_outcomes() {
        let mut m = fresh();
        assert!(m.expire(now()).is_err(), "not before the deadline");
        assert_eq!(m.expire(m.expires_at), Ok(SeekerOutcome::Leaves));
        assert_eq!(m.status, MatchStatus::Expired);
        let mut m = fresh();
        m.accept(Side::Seeker, now()).unwrap();
        assert_eq!(m.expire(m.expires_at), Ok(SeekerOutcome::BackToWaiting));
        assert!(m.expire(m.expires_at).is_err(), "only once");
    }

    #[test]
    fn complete_only_when_accepted() {
        let mut m = fresh();
        assert_eq!(
            m.complete(now()),
            Err(TransitionError::NotAccepted(MatchStatus::Pending))
        );
        m.accept(Side::Seeker, now()).unwrap();
        m.accept(Side::Interviewer, now()).unwrap();
        assert_eq!(m.complete(now()), Ok(()));
        assert_eq!(m.status, MatchStatus::Completed);
        assert!(!m.status.is_live());
    }
}
