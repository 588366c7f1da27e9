//! The match lifecycle: accept (humans only, in a browser), decline, complete, expiry, and
//! the interview room.

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::model::ids::{MatchId, UserId};
use crate::model::matches::{Match, MatchStatus, SeekerOutcome, Side, TransitionError};
use crate::model::outbox::{DomainEvent, Kind};
use crate::model::page::{Page, PageRequest, overfetch};
use crate::model::room::TicketRefusal;
use crate::model::session::hash_secret;
use crate::ports::{Db, Repo};
use crate::usecases::queue::{rematch, seeker_leaves};

fn refused(e: TransitionError) -> Error {
    match e {
        TransitionError::NotPending(s) => Error::conflict(
            "MATCH_NOT_PENDING",
            format!("The match is {}, no longer pending.", s.as_str()),
        ),
        TransitionError::Expired => Error::conflict(
            "MATCH_NOT_PENDING",
            "The match expired: it was not accepted within 60 seconds.",
        ),
        TransitionError::NotAccepted(s) => not_accepted(s),
    }
}

fn not_accepted(s: MatchStatus) -> Error {
    Error::conflict(
        "MATCH_NOT_ACCEPTED",
        format!(
            "The match is {}; the room opens once both sides have accepted.",
            s.as_str()
        ),
    )
}

pub async fn get(repo: &mut dyn Repo, user: UserId, id: MatchId) -> Result<Match, Error> {
    repo.match_for(user, id).await?.ok_or(Error::NotFound)
}

pub async fn list(
    repo: &mut dyn Repo,
    user: UserId,
    status: Option<MatchStatus>,
    page: PageRequest<MatchId>,
) -> Result<Page<Match>, Error> {
    let rows = repo.list_matches_for(user, status, overfetch(page)).await?;
    Ok(Page::from_overfetch(rows, page.limit, |m| m.id.to_string()))
}

/// The match, re-read with its event locked, so no other change to the event interleaves.
async fn locked(repo: &mut dyn Repo, user: UserId, id: MatchId) -> Result<Match, Error> {
    let m = get(repo, user, id).await?;
    repo.lock_event(m.event_id).await?.ok_or(Error::NotFound)?;
    get(repo, user, id).await
}

/// One participant accepts. Returns the match and whether both have now accepted.
pub async fn accept(
    repo: &mut dyn Repo,
    user: UserId,
    id: MatchId,
    now: DateTime<Utc>,
) -> Result<(Match, bool), Error> {
    let mut m = locked(repo, user, id).await?;
    let side = m.side_of(user).ok_or(Error::NotFound)?;
    let both = m.accept(side, now).map_err(refused)?;
    repo.update_match(&m).await?;
    if both {
        repo.append_outbox(&[DomainEvent::of_match(Kind::MatchAccepted, &m, now)])
            .await?;
    }
    Ok((m, both))
}

/// Either participant declines a pending match.
pub async fn decline(
    repo: &mut dyn Repo,
    user: UserId,
    id: MatchId,
    now: DateTime<Utc>,
) -> Result<Match, Error> {
    let mut m = locked(repo, user, id).await?;
    let side = m.side_of(user).ok_or(Error::NotFound)?;
    let outcome = m.decline(side, now).map_err(refused)?;
    repo.update_match(&m).await?;
    let left = seeker_leaves(repo, &m, outcome, "declined", now).await?;
    repo.append_outbox(&[DomainEvent::of_match(Kind::MatchDeclined, &m, now), left])
        .await?;
    let event = repo.lock_event(m.event_id).await?.ok_or(Error::NotFound)?;
    rematch(repo, &event, now).await?;
    Ok(m)
}

/// The interviewer marks the interview over, freeing their seat.
pub async fn complete(
    repo: &mut dyn Repo,
    user: UserId,
    id: MatchId,
    now: DateTime<Utc>,
) -> Result<Match, Error> {
    let mut m = locked(repo, user, id).await?;
    if m.side_of(user) != Some(Side::Interviewer) {
        return Err(Error::NotFound);
    }
    m.complete(now).map_err(refused)?;
    repo.update_match(&m).await?;
    let left = seeker_leaves(repo, &m, SeekerOutcome::Leaves, "completed", now).await?;
    repo.append_outbox(&[DomainEvent::of_match(Kind::MatchCompleted, &m, now), left])
        .await?;
    let event = repo.lock_event(m.event_id).await?.ok_or(Error::NotFound)?;
    rematch(repo, &event, now).await?;
    Ok(m)
}

/// Expires one match whose accept window closed, if it is still pending. An interviewer who
/// had not accepted is marked unavailable, so the next seeker is not sent to an empty seat.
async fn expire_one(repo: &mut dyn Repo, due: Match, now: DateTime<Utc>) -> Result<bool, Error> {
    let Some(event) = repo.lock_event(due.event_id).await? else {
        return Ok(false);
    };
    let Some(mut m) = repo.match_for(due.seeker_id, due.id).await? else {
        return Ok(false);
    };
    let Ok(outcome) = m.expire(now) else {
        return Ok(false);
    };
    repo.update_match(&m).await?;
    let left = seeker_leaves(repo, &m, outcome, "expired", now).await?;
    let mut out = vec![DomainEvent::of_match(Kind::MatchExpired, &m, now), left];
    if !m.accepted_by(Side::Interviewer)
        && repo
            .set_available(m.event_id, m.interviewer_id, false, now)
            .await?
    {
        out.push(DomainEvent::availability(
            m.event_id,
            m.interviewer_id,
            false,
            now,
        ));
    }
    repo.append_outbox(&out).await?;
    rematch(repo, &event, now).await?;
    Ok(true)
}

/// Expires every match whose accept window has closed, each in its own transaction. Safe to
/// run in several processes at once: each match is re-checked under its event's lock.
/// Returns how many expired.
pub async fn expire_due(db: &Db, now: DateTime<Utc>) -> Result<usize, Error> {
    let due = db
        .read(move |r| Box::pin(async move { r.due_matches(now, 200).await.map_err(Error::from) }))
        .await?;
    let mut n = 0;
    for m in due {
        let expired = db
            .transaction(move |r| Box::pin(async move { expire_one(r, m, now).await }))
            .await?;
        n += usize::from(expired);
    }
    Ok(n)
}

/// The match a participant may enter the room of: accepted by both.
pub async fn room_match(repo: &mut dyn Repo, user: UserId, id: MatchId) -> Result<Match, Error> {
    let m = get(repo, user, id).await?;
    if m.status != MatchStatus::Accepted {
        return Err(not_accepted(m.status));
    }
    Ok(m)
}

/// Records that the match's video room exists.
pub async fn room_created(repo: &mut dyn Repo, m: &Match) -> Result<(), Error> {
    let mut m = get(repo, m.seeker_id, m.id).await?;
    if m.room_name.is_none() {
        m.room_name = Some(m.room_name());
        repo.update_match(&m).await?;
    }
    Ok(())
}

/// Why a room link does not open the room.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    #[error("no such room link")]
    Unknown,
    #[error(transparent)]
    Refused(#[from] TicketRefusal),
    #[error("the interview is {0:?}")]
    NotAccepted(MatchStatus),
    #[error(transparent)]
    Store(#[from] crate::ports::StoreError),
}

/// Opens the local room with a ticket: only its user, within 30 seconds of issue, once.
pub async fn open_room(
    repo: &mut dyn Repo,
    secret: &str,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<Match, RoomError> {
    let hash = hash_secret(secret);
    let ticket = repo.room_ticket(&hash).await?.ok_or(RoomError::Unknown)?;
    ticket.admits(user, now)?;
    let m = repo
        .match_for(user, ticket.match_id)
        .await?
        .ok_or(RoomError::Unknown)?;
    if m.status != MatchStatus::Accepted {
        return Err(RoomError::NotAccepted(m.status));
    }
    if !repo.use_room_ticket(&hash, now).await? {
        return Err(TicketRefusal::Used.into());
    }
    Ok(m)
}
