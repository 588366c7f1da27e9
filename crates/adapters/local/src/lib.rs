//! Stand-ins for the outside services, for the embedded default and for development. They
//! keep the rules of the real thing.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobby_domain::model::ids::UserId;
use jobby_domain::model::matches::Match;
use jobby_domain::ports::{VideoError, VideoRooms};

/// Video rooms served by Jobby itself: the room page a room link opens is the room. Jobby's
/// room links already admit only their user, once, within 30 seconds.
#[derive(Default)]
pub struct LocalRooms;

impl LocalRooms {
    pub fn new() -> Arc<Self> {
        Arc::new(LocalRooms)
    }
}

#[async_trait]
impl VideoRooms for LocalRooms {
    async fn create_room(&self, _m: &Match) -> Result<(), VideoError> {
        // The room page needs nothing prepared.
        Ok(())
    }

    async fn enter(
        &self,
        _m: &Match,
        _user: UserId,
        _now: DateTime<Utc>,
    ) -> Result<Option<String>, VideoError> {
        Ok(None)
    }
}
