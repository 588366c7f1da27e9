//! Video rooms.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::ids::UserId;
use crate::model::matches::Match;

use super::StoreError;

/// A join URL for one participant of a match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinUrl {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// The video provider failed or could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("video rooms unavailable: {0}")]
pub struct VideoError(pub String);

impl From<StoreError> for VideoError {
    fn from(e: StoreError) -> Self {
        VideoError(e.to_string())
    }
}

/// Private video rooms for accepted matches. Jobby itself admits people (a room link opens
/// once, in its user's browser session, within 30 seconds); the provider then holds the call.
#[async_trait]
pub trait VideoRooms: Send + Sync {
    /// Creates the match's private room. Creating it again is harmless.
    async fn create_room(&self, m: &Match) -> Result<(), VideoError>;
    /// Where a person Jobby has just admitted goes to be in the room: a provider URL that
    /// lets only `user` join, until `now + 30 s`, or `None` when Jobby's own room page is
    /// the room.
    async fn enter(
        &self,
        m: &Match,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, VideoError>;
}
