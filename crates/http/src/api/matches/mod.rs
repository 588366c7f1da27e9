//! Matches between a seeker and an interviewer, and what each side does with them.

use chrono::{DateTime, Utc};
use jobby_domain::Error;
use jobby_domain::model::ids::{EventId, MatchId, UserId};
use jobby_domain::model::matches::Match;
use jobby_domain::usecases::matches;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

operations! {
    list => list_matches,
    get => get_match,
    decline => decline_match,
    accept => accept_match,
    complete => complete_match,
    room_url => interview_room_url,
}

/// A match between a seeker and an interviewer.
#[derive(Serialize, ToSchema)]
pub struct MatchBody {
    #[schema(value_type = String, example = "mtc_0193b1c2d3e4f5a6b7c8d9e0f1a2b3c4")]
    pub id: MatchId,
    #[schema(value_type = String)]
    pub event_id: EventId,
    #[schema(value_type = String)]
    pub seeker_id: UserId,
    #[schema(value_type = String)]
    pub interviewer_id: UserId,
    /// `pending`, `accepted`, `completed`, `declined` or `expired`.
    #[schema(value_type = String, example = "pending")]
    pub status: &'static str,
    pub seeker_accepted: bool,
    pub interviewer_accepted: bool,
    /// `seeker` or `interviewer`, when declined.
    #[schema(value_type = Option<String>)]
    pub declined_by: Option<&'static str>,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// Both must accept before this.
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub expires_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub ended_at: Option<DateTime<Utc>>,
    /// When the interview started: the first time either participant entered the room. Until
    /// then an accepted match can still be declined.
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub started_at: Option<DateTime<Utc>>,
    /// Where each human accepts, in their own browser session.
    pub accept_url: String,
}

impl MatchBody {
    pub fn new(m: Match, public_url: &str) -> Self {
        MatchBody {
            accept_url: format!(
                "{}/account/matches/{}",
                public_url.trim_end_matches('/'),
                m.id
            ),
            id: m.id,
            event_id: m.event_id,
            seeker_id: m.seeker_id,
            interviewer_id: m.interviewer_id,
            status: m.status.as_str(),
            seeker_accepted: m.seeker_accepted_at.is_some(),
            interviewer_accepted: m.interviewer_accepted_at.is_some(),
            declined_by: m.declined_by.map(|s| s.as_str()),
            created_at: m.created_at,
            expires_at: m.expires_at,
            ended_at: m.ended_at,
            started_at: m.started_at,
        }
    }
}

/// Accepts for a human whose session and CSRF token were checked.
pub async fn accept_as(state: &AppState, user: UserId, id: MatchId) -> Result<Match, Error> {
    let (m, room) =
        matches::accept_in_session(&state.db, &*state.video, user, id, state.clock.now()).await?;
    if let Some(e) = room {
        tracing::warn!(error = %e, match_id = %m.id, "creating the room failed; the room URL route will retry");
    }
    Ok(m)
}

/// Declines for a human on the match page.
pub async fn decline_as(state: &AppState, user: UserId, id: MatchId) -> Result<Match, Error> {
    let now = state.clock.now();
    let m = state
        .db
        .transaction(move |r| {
            Box::pin(async move { matches::decline(r, user, id, None, now).await })
        })
        .await?;
    match_after(state, user, id).await;
    Ok(m)
}

/// After a decline committed: the matching round that fills the seat it freed. A failure is
/// logged; the server's catch-up rounds fill the seat then.
pub(crate) async fn match_after(state: &AppState, user: UserId, id: MatchId) {
    match matches::match_after(&state.db, &state.rounds, &*state.clock, user, id).await {
        Ok(ran) => state.metrics.matching_round(ran),
        Err(e) => tracing::warn!(error = %e, "the matching round after a decline failed"),
    }
}
