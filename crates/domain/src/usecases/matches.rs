//! The match lifecycle: accept (humans only, in a browser), decline, complete, expiry, and
//! the interview room.

use crate::error::Code;
use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::model::event::{Event, EventStatus};
use crate::model::fields::{FieldErrors, check_text};
use crate::model::ids::{MatchId, UserId};
use crate::model::matches::{
    Match, MatchStatus, SeekerOutcome, Side, TransitionError, room_url_lifetime,
};
use crate::model::outbox::{DomainEvent, Kind};
use crate::model::page::{Page, PageRequest, overfetch};
use crate::model::room::{RoomTicket, TicketRefusal};
use crate::model::session::{hash_secret, random_secret};
use crate::ports::{Clock, Db, EventLock, JoinUrl, Repo, VideoError, VideoRooms};
use crate::usecases::queue::{Rounds, rematch_recording, settle_seeker};

fn refused(e: TransitionError) -> Error {
    match e {
        TransitionError::NotPending(s) => Error::conflict(
            Code::MatchNotPending,
            format!("The match is {}, no longer pending.", s.as_str()),
        ),
        TransitionError::Expired => Error::conflict(
            Code::MatchNotPending,
            "The match expired: it was not accepted within 60 seconds.",
        ),
        TransitionError::NotAccepted(s) => not_accepted(s),
        TransitionError::Started => Error::conflict(
            Code::MatchNotPending,
            "The interview has started; it can no longer be declined.",
        ),
    }
}

fn not_accepted(s: MatchStatus) -> Error {
    Error::conflict(
        Code::MatchNotAccepted,
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

/// The match, locked, with its event locked for matching (and the event): no other change
/// to the match or to the event's seats interleaves.
async fn locked(repo: &mut dyn Repo, user: UserId, id: MatchId) -> Result<(Match, Event), Error> {
    let m = get(repo, user, id).await?;
    let event = repo
        .lock_event(m.event_id, EventLock::Matching)
        .await?
        .ok_or(Error::NotFound)?;
    Ok((lock(repo, user, id).await?, event))
}

/// The match, locked until the transaction ends.
async fn lock(repo: &mut dyn Repo, user: UserId, id: MatchId) -> Result<Match, Error> {
    repo.lock_match(user, id).await?.ok_or(Error::NotFound)
}

/// One participant accepts. Returns the match and whether both have now accepted.
pub async fn accept(
    repo: &mut dyn Repo,
    user: UserId,
    id: MatchId,
    now: DateTime<Utc>,
) -> Result<(Match, bool), Error> {
    let (mut m, _) = locked(repo, user, id).await?;
    let side = m.side_of(user).ok_or(Error::NotFound)?;
    let both = m.accept(side, now).map_err(refused)?;
    repo.update_match(&m).await?;
    if both {
        repo.append_outbox(&[DomainEvent::of_match(Kind::MatchAccepted, &m, now)])
            .await?;
    }
    Ok((m, both))
}

/// The longest reason a participant may give for declining.
pub const DECLINE_REASON_MAX: usize = 500;

/// Either participant declines a match that is pending, or accepted but not started (nobody
/// has entered the room). The optional reason travels with the `match.declined` event. The
/// freed seat is filled by the next matching round (see [`match_after`]).
pub async fn decline(
    repo: &mut dyn Repo,
    user: UserId,
    id: MatchId,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Match, Error> {
    if let Some(r) = &reason {
        let mut e = FieldErrors::new();
        check_text(&mut e, "reason", r, DECLINE_REASON_MAX);
        e.into_result()?;
    }
    // The match is locked, and the event's status held (as a join holds it), nothing more:
    // a decline frees a seat and takes none, so it runs beside the event's matching (which
    // seats an interviewer only once their match has ended). The event first, as an end
    // takes them.
    let event_id = get(repo, user, id).await?.event_id;
    let event = repo
        .lock_event(event_id, EventLock::Status)
        .await?
        .ok_or(Error::NotFound)?;
    let mut m = lock(repo, user, id).await?;
    let side = m.side_of(user).ok_or(Error::NotFound)?;
    let mut outcome = m.decline(side, now).map_err(refused)?;
    if event.status != EventStatus::Live {
        // An interview accepted before the event ended goes on; declined after, the seeker
        // has no queue to wait in.
        outcome = SeekerOutcome::Leaves;
    }
    repo.update_match(&m).await?;
    let settled = settle_seeker(repo, &m, outcome, "declined", now).await?;
    let mut declined = DomainEvent::of_match(Kind::MatchDeclined, &m, now);
    declined.payload["reason"] = reason.into();
    repo.append_outbox(&[declined, settled]).await?;
    Ok(m)
}

/// After a change to the match committed (a decline): a matching round for its event, so
/// the seat it freed is filled. `true` when this call ran the round (see [`Rounds::run`]).
pub async fn match_after(
    db: &Db,
    rounds: &Rounds,
    clock: &dyn Clock,
    user: UserId,
    id: MatchId,
) -> Result<bool, Error> {
    let m = db
        .read(move |r| Box::pin(async move { get(r, user, id).await }))
        .await?;
    rounds.run(db, clock, m.event_id).await
}

/// The interviewer marks the interview over, freeing their seat.
pub async fn complete(
    repo: &mut dyn Repo,
    user: UserId,
    id: MatchId,
    now: DateTime<Utc>,
) -> Result<Match, Error> {
    let (mut m, event) = locked(repo, user, id).await?;
    if m.side_of(user) != Some(Side::Interviewer) {
        return Err(Error::NotFound);
    }
    m.complete(now).map_err(refused)?;
    repo.update_match(&m).await?;
    let settled = settle_seeker(repo, &m, SeekerOutcome::Leaves, "completed", now).await?;
    let completed = DomainEvent::of_match(Kind::MatchCompleted, &m, now);
    rematch_recording(repo, &event, now, vec![completed, settled]).await?;
    Ok(m)
}

/// Expires one match whose accept window closed, if it is still pending. An interviewer who
/// had not accepted is marked unavailable, so the next seeker is not sent to an empty seat.
async fn expire_one(repo: &mut dyn Repo, due: Match, now: DateTime<Utc>) -> Result<bool, Error> {
    let Some(event) = repo.lock_event(due.event_id, EventLock::Matching).await? else {
        return Ok(false);
    };
    let Some(mut m) = repo.lock_match(due.seeker_id, due.id).await? else {
        return Ok(false);
    };
    let Ok(outcome) = m.expire(now) else {
        return Ok(false);
    };
    repo.update_match(&m).await?;
    let settled = settle_seeker(repo, &m, outcome, "expired", now).await?;
    let mut out = vec![DomainEvent::of_match(Kind::MatchExpired, &m, now), settled];
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
    rematch_recording(repo, &event, now, out).await?;
    Ok(true)
}

/// Expires every match whose accept window has closed (by `clock`), each in its own
/// transaction, then runs a matching round for each event where one expired (a seeker who
/// joined while the expiry ran may have been missed by its own round). Safe to run in
/// several processes at once: each match is re-checked under its event's lock. Returns how
/// many expired.
pub async fn expire_due(db: &Db, rounds: &Rounds, clock: &dyn Clock) -> Result<usize, Error> {
    let now = clock.now();
    let due = db
        .read(move |r| Box::pin(async move { r.due_matches(now, 200).await.map_err(Error::from) }))
        .await?;
    let (mut n, mut events) = (0, Vec::new());
    for m in due {
        let event = m.event_id;
        let expired = db
            .transaction(move |r| Box::pin(async move { expire_one(r, m, now).await }))
            .await?;
        if expired {
            n += 1;
            if !events.contains(&event) {
                events.push(event);
            }
        }
    }
    // One event's failure does not hold up the others' rounds.
    let mut failed = None;
    for event in events {
        if let Err(e) = rounds.run(db, clock, event).await {
            failed.get_or_insert(e);
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(n),
    }
}

/// One participant accepts in their browser session (the caller checked it). When both
/// have, the private room is created. The acceptance stands even if the provider fails
/// then: that failure is returned beside the match, and [`room_url`] creates the room later.
pub async fn accept_in_session(
    db: &Db,
    video: &dyn VideoRooms,
    user: UserId,
    id: MatchId,
    now: DateTime<Utc>,
) -> Result<(Match, Option<RoomUrlError>), Error> {
    let (m, both) = db
        .transaction(move |r| Box::pin(async move { accept(r, user, id, now).await }))
        .await?;
    let room = if both {
        ensure_room(db, video, &m).await.err()
    } else {
        None
    };
    Ok((m, room))
}

/// Why a room URL could not be handed out.
#[derive(Debug, thiserror::Error)]
pub enum RoomUrlError {
    #[error(transparent)]
    Refused(#[from] Error),
    #[error(transparent)]
    Video(#[from] VideoError),
}

/// Creates the room of a match both sides have accepted, if it does not exist yet (after an
/// accept that ran, or was replayed, through an idempotency key). Nothing for any other match.
pub async fn ensure_room_of(
    db: &Db,
    video: &dyn VideoRooms,
    user: UserId,
    id: MatchId,
) -> Result<(), RoomUrlError> {
    let m = db
        .read(move |r| Box::pin(async move { get(r, user, id).await }))
        .await?;
    if m.status == MatchStatus::Accepted {
        ensure_room(db, video, &m).await?;
    }
    Ok(())
}

/// Creates the match's room once and records that it exists.
async fn ensure_room(db: &Db, video: &dyn VideoRooms, m: &Match) -> Result<(), RoomUrlError> {
    if m.room_name.is_some() {
        return Ok(());
    }
    video.create_room(m).await?;
    let (seeker, id) = (m.seeker_id, m.id);
    db.transaction(move |r| {
        Box::pin(async move {
            // Locked and read again: it may have been declined or completed meanwhile, and
            // only the room's name is ours to write.
            let mut m = lock(r, seeker, id).await?;
            if m.room_name.is_none() {
                m.room_name = Some(m.room_name());
                r.update_match(&m).await?;
            }
            Ok::<_, Error>(())
        })
    })
    .await?;
    Ok(())
}

/// A room link for a participant of a match both have accepted: `{base_url}/rooms/{secret}`,
/// which opens the room once, only in that user's browser session, within 30 seconds. Only
/// the secret's hash is stored.
pub async fn room_url(
    db: &Db,
    video: &dyn VideoRooms,
    base_url: &str,
    user: UserId,
    id: MatchId,
    now: DateTime<Utc>,
) -> Result<JoinUrl, RoomUrlError> {
    let m = db
        .read(move |r| {
            Box::pin(async move {
                let m = get(r, user, id).await?;
                if m.status != MatchStatus::Accepted {
                    return Err(not_accepted(m.status));
                }
                Ok(m)
            })
        })
        .await?;
    ensure_room(db, video, &m).await?;
    let secret = random_secret();
    let ticket = RoomTicket {
        match_id: m.id,
        user_id: user,
        issued_at: now,
        expires_at: now + room_url_lifetime(),
        used_at: None,
    };
    let hash = hash_secret(&secret);
    db.transaction(move |r| {
        Box::pin(async move {
            r.insert_room_ticket(&hash, &ticket)
                .await
                .map_err(Error::from)
        })
    })
    .await?;
    Ok(JoinUrl {
        url: format!("{}/rooms/{secret}", base_url.trim_end_matches('/')),
        expires_at: ticket.expires_at,
    })
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
    let mut m = repo
        .lock_match(user, ticket.match_id)
        .await?
        .ok_or(RoomError::Unknown)?;
    if m.status != MatchStatus::Accepted {
        return Err(RoomError::NotAccepted(m.status));
    }
    if !repo.use_room_ticket(&hash, now).await? {
        return Err(TicketRefusal::Used.into());
    }
    if m.started_at.is_none() {
        m.start(now);
        repo.update_match(&m).await?;
    }
    Ok(m)
}
