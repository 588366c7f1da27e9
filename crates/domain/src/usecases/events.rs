//! Recruiter events: create, edit, go live, end, and interviewer availability.

use crate::error::Code;
use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::model::account::AccountType;
use crate::model::event::{Event, EventPatch, EventStatus, LiveEvent, Seat};
use crate::model::ids::{EventId, UserId};
use crate::model::matches::SeekerOutcome;
use crate::model::outbox::{DomainEvent, Kind};
use crate::model::page::{Page, PageRequest, overfetch};
use crate::ports::{EventLock, Repo};
use crate::usecases::queue::{rematch_recording, settle_seeker};

/// An event with its interviewers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventView {
    pub event: Event,
    pub seats: Vec<Seat>,
}

fn event_ended() -> Error {
    Error::conflict(
        Code::EventEnded,
        "The event has ended and can no longer change.",
    )
}

/// Every interviewer must be a recruiter account. The list was de-duplicated (owner first),
/// so a bad one is named by its id rather than by a position the caller never sent.
async fn check_interviewers(repo: &mut dyn Repo, ids: &[UserId]) -> Result<(), Error> {
    let mut bad = Vec::new();
    for id in ids {
        let ok = repo
            .user_by_id(*id)
            .await?
            .is_some_and(|u| u.account_type == AccountType::Recruiter);
        if !ok {
            bad.push(id.to_string());
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    Err(Error::field(
        "interviewer_ids",
        format!("not recruiter accounts: {}", bad.join(", ")),
    ))
}

async fn view(repo: &mut dyn Repo, event: Event) -> Result<EventView, Error> {
    let seats = repo.seats(event.id).await?;
    Ok(EventView { event, seats })
}

pub async fn create(
    repo: &mut dyn Repo,
    owner: UserId,
    patch: EventPatch,
    now: DateTime<Utc>,
) -> Result<EventView, Error> {
    let mut event = Event::new(EventId::new(), owner, now);
    let checked = event.apply(patch)?;
    let interviewers = checked.interviewers.unwrap_or_else(|| vec![owner]);
    check_interviewers(repo, &interviewers).await?;
    repo.insert_event(&event).await?;
    repo.replace_seats(event.id, &interviewers, now).await?;
    view(repo, event).await
}

pub async fn get(repo: &mut dyn Repo, user: UserId, id: EventId) -> Result<EventView, Error> {
    let event = repo.event_for(user, id).await?.ok_or(Error::NotFound)?;
    view(repo, event).await
}

pub async fn list(
    repo: &mut dyn Repo,
    user: UserId,
    page: PageRequest<EventId>,
) -> Result<Page<EventView>, Error> {
    let events = repo.list_events_for(user, overfetch(page)).await?;
    let page = Page::from_overfetch(events, page.limit, |e| e.id.to_string());
    let mut data = Vec::with_capacity(page.data.len());
    for e in page.data {
        data.push(view(repo, e).await?);
    }
    Ok(Page {
        data,
        has_more: page.has_more,
        next_cursor: page.next_cursor,
    })
}

/// The event, locked, if `user` owns it. Interviewers may read an event but only its owner
/// may change it; to anyone else it does not exist.
async fn owned(repo: &mut dyn Repo, user: UserId, id: EventId) -> Result<Event, Error> {
    // Ownership first, without a lock, so nobody else's requests hold up the event's joins
    // and matching (an event's owner never changes).
    match repo.event_for(user, id).await? {
        Some(e) if e.owner_id == user => {}
        _ => return Err(Error::NotFound),
    }
    repo.lock_event(id, EventLock::Exclusive)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn update(
    repo: &mut dyn Repo,
    user: UserId,
    id: EventId,
    patch: EventPatch,
    now: DateTime<Utc>,
) -> Result<EventView, Error> {
    let mut event = owned(repo, user, id).await?;
    if event.status == EventStatus::Ended {
        return Err(event_ended());
    }
    let checked = event.apply(patch)?;
    if let Some(ids) = &checked.interviewers {
        check_interviewers(repo, ids).await?;
        repo.replace_seats(id, ids, now).await?;
    }
    repo.update_event(&event).await?;
    view(repo, event).await
}

/// Goes live and marks the owner available; matching starts at once.
pub async fn start(
    repo: &mut dyn Repo,
    user: UserId,
    id: EventId,
    now: DateTime<Utc>,
) -> Result<EventView, Error> {
    let mut event = owned(repo, user, id).await?;
    match event.start(now) {
        Ok(true) => {
            repo.update_event(&event).await?;
            repo.set_available(id, user, true, now).await?;
            let started = vec![
                DomainEvent::of_event(Kind::EventStarted, &event, now),
                DomainEvent::availability(id, user, true, now),
            ];
            rematch_recording(repo, &event, now, started).await?;
        }
        Ok(false) => {}
        Err(_) => return Err(event_ended()),
    }
    view(repo, event).await
}

/// Ends a live event: waiting seekers leave the queue, pending matches expire, interviews
/// already accepted go on.
pub async fn end(
    repo: &mut dyn Repo,
    user: UserId,
    id: EventId,
    now: DateTime<Utc>,
) -> Result<EventView, Error> {
    let mut event = owned(repo, user, id).await?;
    match event.end(now) {
        Ok(true) => {}
        Ok(false) => return view(repo, event).await,
        Err(_) => {
            return Err(Error::conflict(
                Code::EventNotLive,
                "Only a live event can be ended.",
            ));
        }
    }
    repo.update_event(&event).await?;
    let mut out = vec![DomainEvent::of_event(Kind::EventEnded, &event, now)];
    for live in repo.live_matches(id).await? {
        // Locked and read again: a decline may have ended it meanwhile.
        let Some(mut m) = repo.lock_match(live.seeker_id, live.id).await? else {
            continue;
        };
        if m.end_with_event(now) {
            repo.update_match(&m).await?;
            out.push(DomainEvent::of_match(Kind::MatchExpired, &m, now));
            out.push(settle_seeker(repo, &m, SeekerOutcome::Leaves, "event_ended", now).await?);
        }
    }
    // Last, so a seeker a decline sent back to wait before its match was locked here leaves
    // with the rest.
    for seeker in repo.remove_waiting(id).await? {
        out.push(DomainEvent::queue(
            Kind::QueueLeft,
            id,
            seeker,
            "event_ended",
            now,
        ));
    }
    for seat in repo.seats(id).await? {
        if seat.available {
            repo.set_available(id, seat.user_id, false, now).await?;
        }
    }
    repo.append_outbox(&out).await?;
    view(repo, event).await
}

/// The calling interviewer becomes available (or steps away).
pub async fn set_availability(
    repo: &mut dyn Repo,
    user: UserId,
    id: EventId,
    available: bool,
    now: DateTime<Utc>,
) -> Result<EventView, Error> {
    // Interviewers see the event; anyone else gets 404 before any lock is taken.
    repo.event_for(user, id).await?.ok_or(Error::NotFound)?;
    let event = repo
        .lock_event(id, EventLock::Matching)
        .await?
        .ok_or(Error::NotFound)?;
    if event.status == EventStatus::Ended {
        return Err(event_ended());
    }
    let current = repo.seats(id).await?;
    let Some(seat) = current.iter().find(|s| s.user_id == user) else {
        return Err(Error::NotFound);
    };
    if seat.available != available {
        repo.set_available(id, user, available, now).await?;
        let changed = vec![DomainEvent::availability(id, user, available, now)];
        if available {
            rematch_recording(repo, &event, now, changed).await?;
        } else {
            repo.append_outbox(&changed).await?;
        }
    }
    view(repo, event).await
}

pub async fn live_list(
    repo: &mut dyn Repo,
    page: PageRequest<EventId>,
) -> Result<Page<LiveEvent>, Error> {
    let rows = repo.live_events(overfetch(page)).await?;
    Ok(Page::from_overfetch(rows, page.limit, |l| {
        l.event.id.to_string()
    }))
}

pub async fn live_one(repo: &mut dyn Repo, id: EventId) -> Result<LiveEvent, Error> {
    repo.live_event(id).await?.ok_or(Error::NotFound)
}
