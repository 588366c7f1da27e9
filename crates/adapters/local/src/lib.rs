//! Stand-ins for the outside services, for the embedded default and for development. They
//! keep the rules of the real thing: a room link opens the room once, only in the browser
//! session of the user it was issued to, and only for 30 seconds.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobby_domain::Error;
use jobby_domain::model::ids::UserId;
use jobby_domain::model::matches::{Match, room_url_lifetime};
use jobby_domain::model::room::RoomTicket;
use jobby_domain::model::session::{hash_secret, random_secret};
use jobby_domain::ports::{Db, JoinUrl, VideoError, VideoRooms};

/// Video rooms served by Jobby itself at `/rooms/{secret}`: each URL carries a one-time
/// ticket stored (hashed) in the database.
pub struct LocalRooms {
    db: Db,
    base_url: String,
}

impl LocalRooms {
    pub fn new(db: Db, public_url: &str) -> Arc<Self> {
        Arc::new(LocalRooms {
            db,
            base_url: public_url.trim_end_matches('/').to_owned(),
        })
    }
}

#[async_trait]
impl VideoRooms for LocalRooms {
    async fn create_room(&self, _m: &Match) -> Result<(), VideoError> {
        // The room page needs nothing prepared: a valid ticket is the room.
        Ok(())
    }

    async fn join_url(
        &self,
        m: &Match,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<JoinUrl, VideoError> {
        let secret = random_secret();
        let ticket = RoomTicket {
            match_id: m.id,
            user_id: user,
            issued_at: now,
            expires_at: now + room_url_lifetime(),
            used_at: None,
        };
        let hash = hash_secret(&secret);
        self.db
            .transaction(move |r| {
                Box::pin(async move {
                    r.insert_room_ticket(&hash, &ticket)
                        .await
                        .map_err(Error::from)
                })
            })
            .await
            .map_err(|e| VideoError(e.to_string()))?;
        Ok(JoinUrl {
            url: format!("{}/rooms/{secret}", self.base_url),
            expires_at: ticket.expires_at,
        })
    }
}
