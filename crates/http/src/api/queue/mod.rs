//! The queue of a live event, as the seeker in it sees it.

use jobby_domain::model::ids::{EventId, MatchId};
use jobby_domain::model::queue::QueueStatus;
use serde::Serialize;
use utoipa::ToSchema;

operations! {
    join => join_queue,
    status => queue_status,
    stream => queue_stream,
    leave => leave_queue,
}

/// Where the caller stands in a queue.
#[derive(Serialize, ToSchema)]
pub struct QueueStatusBody {
    /// `not_queued`, `waiting` or `matched`.
    #[schema(value_type = String, example = "waiting")]
    pub status: &'static str,
    #[schema(value_type = Option<String>)]
    pub event_id: Option<EventId>,
    /// 1-based among the seekers waiting; null unless waiting.
    pub position: Option<u32>,
    /// Seekers waiting in the event.
    pub queue_length: Option<u32>,
    #[schema(value_type = Option<String>)]
    pub match_id: Option<MatchId>,
    /// `pending`, `accepted`, … when matched.
    #[schema(value_type = Option<String>)]
    pub match_status: Option<&'static str>,
    /// Poll no faster than this: 5, more while the server is busy (10, 20).
    pub poll_interval_seconds: u32,
}

impl QueueStatusBody {
    /// The status as answered now: the poll interval raised while the server is busy.
    pub fn now(s: QueueStatus, state: &crate::AppState) -> Self {
        let mut body = QueueStatusBody::from(s);
        body.poll_interval_seconds = body
            .poll_interval_seconds
            .max(state.admission.poll_interval());
        body
    }
}

impl From<QueueStatus> for QueueStatusBody {
    fn from(s: QueueStatus) -> Self {
        use jobby_domain::model::queue::QueueState;
        QueueStatusBody {
            status: match s.status {
                QueueState::NotQueued => "not_queued",
                QueueState::Waiting => "waiting",
                QueueState::Matched => "matched",
            },
            event_id: s.event_id,
            position: s.position,
            queue_length: s.queue_length,
            match_id: s.match_id,
            match_status: s.match_status.map(|m| m.as_str()),
            poll_interval_seconds: s.poll_interval_seconds,
        }
    }
}
