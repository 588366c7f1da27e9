//! One-time join tickets of the local video room: for one user, within 30 seconds of issue,
//! used once. A leaked URL is useless to anyone else and to anyone later.

use chrono::{DateTime, Utc};

use super::ids::{MatchId, UserId};

/// How long an expired room ticket is kept before the worker purges it.
pub fn ticket_retention() -> chrono::Duration {
    chrono::Duration::days(1)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoomTicket {
    pub match_id: MatchId,
    pub user_id: UserId,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// Why a ticket does not open the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TicketRefusal {
    #[error("this room link was issued to someone else")]
    OtherUser,
    #[error("this room link has expired; ask for a new one")]
    Expired,
    #[error("this room link was already used; ask for a new one")]
    Used,
}

impl RoomTicket {
    /// Whether `user` may open the room with this ticket at `now`.
    pub fn admits(&self, user: UserId, now: DateTime<Utc>) -> Result<(), TicketRefusal> {
        if user != self.user_id {
            return Err(TicketRefusal::OtherUser);
        }
        if self.used_at.is_some() {
            return Err(TicketRefusal::Used);
        }
        if now >= self.expires_at {
            return Err(TicketRefusal::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn same_user_in_time_once() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let me = UserId::new();
        let mut t = RoomTicket {
            match_id: MatchId::new(),
            user_id: me,
            issued_at: now,
            expires_at: now + Duration::seconds(30),
            used_at: None,
        };
        assert_eq!(t.admits(me, now + Duration::seconds(29)), Ok(()));
        assert_eq!(t.admits(UserId::new(), now), Err(TicketRefusal::OtherUser));
        assert_eq!(
            t.admits(me, now + Duration::seconds(30)),
            Err(TicketRefusal::Expired)
        );
        t.used_at = Some(now);
        assert_eq!(t.admits(me, now), Err(TicketRefusal::Used));
    }
}
