//! Contract cases of the live queue: places, matching exactly once, the match lifecycle and
//! the outbox, identical on every store.

use crate::error::Code;
use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Duration, Utc};
use futures_util::future::{BoxFuture, join_all};

use super::{create_user, now};
use crate::error::Error;
use crate::model::account::AccountType;
use crate::model::event::EventPatch;
use crate::model::ids::{EventId, MatchId, UserId};
use crate::model::matches::{Match, MatchStatus};
use crate::model::outbox::Kind;
use crate::model::page::PageRequest;
use crate::model::queue::{QueueState, QueueStatus};
use crate::ports::{Clock, Database, Db};
use crate::usecases::queue::Rounds;
use crate::usecases::{events, matches, queue};

pub(super) async fn new_event(db: &Db, owner: UserId, interviewers: Vec<UserId>) -> EventId {
    let patch = EventPatch {
        title: Some("Rust fair".into()),
        interviewer_ids: Some(interviewers.iter().map(ToString::to_string).collect()),
        ..Default::default()
    };
    let at = now();
    db.transaction(move |r| Box::pin(async move { events::create(r, owner, patch, at).await }))
        .await
        .expect("create event")
        .event
        .id
}

pub(super) async fn start(db: &Db, owner: UserId, id: EventId) {
    let at = now();
    db.transaction(move |r| Box::pin(async move { events::start(r, owner, id, at).await }))
        .await
        .expect("start");
}

async fn available(db: &Db, user: UserId, id: EventId, on: bool) {
    let at = now();
    db.transaction(move |r| {
        Box::pin(async move { events::set_availability(r, user, id, on, at).await })
    })
    .await
    .expect("availability");
}

pub(super) async fn join(db: &Db, seeker: UserId, id: EventId) -> Result<QueueStatus, Error> {
    join_at(db, seeker, id, now()).await
}

/// The matching rounds of the suite, shared by every case (as a process shares them).
fn rounds() -> &'static Rounds {
    static ROUNDS: OnceLock<Rounds> = OnceLock::new();
    ROUNDS.get_or_init(Rounds::default)
}

/// A clock stopped at one instant.
struct At(DateTime<Utc>);

impl Clock for At {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

async fn join_at(
    db: &Db,
    seeker: UserId,
    id: EventId,
    at: DateTime<Utc>,
) -> Result<QueueStatus, Error> {
    queue::join_and_match(db, rounds(), &At(at), seeker, id)
        .await
        .map(|(s, _)| s)
}

/// A decline and the matching round after it.
async fn decline(
    db: &Db,
    user: UserId,
    id: MatchId,
    reason: Option<String>,
) -> Result<Match, Error> {
    let at = now();
    let m = db
        .transaction(move |t| {
            Box::pin(async move { matches::decline(t, user, id, reason, at).await })
        })
        .await?;
    matches::match_after(db, rounds(), &At(at), user, id).await?;
    Ok(m)
}

async fn status(db: &Db, seeker: UserId) -> QueueStatus {
    db.read(move |r| Box::pin(async move { queue::status(r, seeker).await }))
        .await
        .expect("status")
}

async fn get_match(db: &Db, user: UserId, id: MatchId) -> Match {
    db.read(move |r| Box::pin(async move { matches::get(r, user, id).await }))
        .await
        .expect("match")
}

async fn outbox_kinds(db: &Db) -> Vec<Kind> {
    db.read(|r| {
        Box::pin(async move {
            r.outbox_after(0, 1000)
                .await
                .map_err(Error::from)
                .map(|v| v.into_iter().map(|o| o.event.kind).collect())
        })
    })
    .await
    .expect("outbox")
}

fn waiting_at(s: &QueueStatus, position: u32) -> bool {
    s.status == QueueState::Waiting && s.position == Some(position)
}

pub async fn live_queue_places_matches_and_requeues(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let r = create_user(&db, "r@example.com", AccountType::Recruiter)
        .await
        .id;
    let r2 = create_user(&db, "r2@example.com", AccountType::Recruiter)
        .await
        .id;
    let a = create_user(&db, "a@example.com", AccountType::Seeker)
        .await
        .id;
    let b = create_user(&db, "b@example.com", AccountType::Seeker)
        .await
        .id;
    let c = create_user(&db, "c@example.com", AccountType::Seeker)
        .await
        .id;
    let ev = new_event(&db, r, vec![r2]).await;

    // Not live yet: refused, and nothing is written.
    let err = join(&db, a, ev).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                code: Code::EventNotLive,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(outbox_kinds(&db).await.is_empty());
    assert_eq!(status(&db, a).await.status, QueueState::NotQueued);

    start(&db, r, ev).await;
    let sa = join(&db, a, ev).await.unwrap();
    assert_eq!(
        sa.status,
        QueueState::Matched,
        "the owner is available: {sa:?}"
    );
    let first = sa.match_id.unwrap();
    assert!(waiting_at(&join(&db, b, ev).await.unwrap(), 1));
    assert!(waiting_at(&join(&db, c, ev).await.unwrap(), 2));
    // Same event again: the same entry.
    assert!(waiting_at(&join(&db, c, ev).await.unwrap(), 2));
    assert_eq!(status(&db, c).await.queue_length, Some(2));

    // A second interviewer frees a seat: the longest-waiting seeker gets it.
    available(&db, r2, ev, true).await;
    let sb = status(&db, b).await;
    assert_eq!(sb.status, QueueState::Matched);
    assert!(waiting_at(&status(&db, c).await, 1));

    // The interviewer declines a: a waits again at their original place (ahead of c), and
    // is never matched with r again; r takes c.
    decline(&db, r, first, Some("not a fit".into()))
        .await
        .unwrap();
    assert!(waiting_at(&status(&db, a).await, 1), "a keeps their place");
    let sc = status(&db, c).await;
    assert_eq!(sc.status, QueueState::Matched);
    assert_eq!(
        get_match(&db, c, sc.match_id.unwrap()).await.interviewer_id,
        r
    );
    // Declining again is refused and changes nothing.
    let again = decline(&db, a, first, None).await.unwrap_err();
    assert!(matches!(
        again,
        Error::Conflict {
            code: Code::MatchNotPending,
            ..
        }
    ));
    // Not a participant: not found.
    let stranger = decline(&db, r2, first, None).await.unwrap_err();
    assert!(matches!(stranger, Error::NotFound));

    // b and r2 both accept; r2 completes the interview; r2 is free again and a gets them.
    let mb = sb.match_id.unwrap();
    for who in [b, r2] {
        let at = now();
        db.transaction(move |t| Box::pin(async move { matches::accept(t, who, mb, at).await }))
            .await
            .unwrap();
    }
    assert_eq!(get_match(&db, b, mb).await.status, MatchStatus::Accepted);
    let at = now();
    let not_interviewer = db
        .transaction(move |t| Box::pin(async move { matches::complete(t, b, mb, at).await }))
        .await
        .unwrap_err();
    assert!(matches!(not_interviewer, Error::NotFound));
    db.transaction(move |t| Box::pin(async move { matches::complete(t, r2, mb, at).await }))
        .await
        .unwrap();
    assert_eq!(status(&db, b).await.status, QueueState::NotQueued);
    let sa = status(&db, a).await;
    assert_eq!(sa.status, QueueState::Matched);
    assert_eq!(
        get_match(&db, a, sa.match_id.unwrap()).await.interviewer_id,
        r2
    );

    // a leaves while matched: the match counts as declined by a.
    let at = now();
    let left = db
        .transaction(move |t| Box::pin(async move { queue::leave(t, a, at).await }))
        .await
        .unwrap();
    assert_eq!(left.status, QueueState::NotQueued);
    let gone = get_match(&db, a, sa.match_id.unwrap()).await;
    assert_eq!(gone.status, MatchStatus::Declined);

    // Each participant sees their own matches.
    let page = PageRequest {
        limit: 10,
        after: None,
    };
    let mine = db
        .read(move |t| Box::pin(async move { matches::list(t, a, None, page).await }))
        .await
        .unwrap();
    assert_eq!(mine.data.len(), 2);
    let declined = db
        .read(move |t| {
            Box::pin(async move { matches::list(t, a, Some(MatchStatus::Declined), page).await })
        })
        .await
        .unwrap();
    assert_eq!(declined.data.len(), 2);

    let kinds = outbox_kinds(&db).await;
    let count = |k: Kind| kinds.iter().filter(|&&x| x == k).count();
    assert_eq!(count(Kind::EventStarted), 1);
    assert_eq!(count(Kind::MatchCreated), 4);
    assert_eq!(count(Kind::MatchDeclined), 2);
    assert_eq!(count(Kind::MatchAccepted), 1);
    assert_eq!(count(Kind::MatchCompleted), 1);
    assert_eq!(kinds.first(), Some(&Kind::EventStarted));

    let records = db
        .read(|r| Box::pin(async move { r.outbox_after(0, 1000).await.map_err(Error::from) }))
        .await
        .unwrap();
    let reasons: Vec<_> = records
        .iter()
        .filter(|o| o.event.kind == Kind::MatchDeclined)
        .map(|o| o.event.payload["reason"].clone())
        .collect();
    assert_eq!(
        reasons[0], "not a fit",
        "the decline reason travels with the event"
    );

    // Another event's queue is refused while a seeker waits in this one.
    let other = new_event(&db, r2, vec![]).await;
    start(&db, r2, other).await;
    let err = join(&db, c, other).await.unwrap_err();
    assert!(matches!(
        err,
        Error::Conflict {
            code: Code::AlreadyInQueue,
            ..
        }
    ));
}

pub async fn expiry_requeues_accepters_and_drops_the_rest(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let r = create_user(&db, "r@example.com", AccountType::Recruiter)
        .await
        .id;
    let a = create_user(&db, "a@example.com", AccountType::Seeker)
        .await
        .id;
    let ev = new_event(&db, r, vec![]).await;
    start(&db, r, ev).await;
    let m = join(&db, a, ev).await.unwrap().match_id.unwrap();
    let at = now();
    db.transaction(move |t| Box::pin(async move { matches::accept(t, a, m, at).await }))
        .await
        .unwrap();

    // Not due yet: nothing happens.
    assert_eq!(
        matches::expire_due(&db, rounds(), &At(now()))
            .await
            .unwrap(),
        0
    );
    let late = now() + Duration::seconds(61);
    let refused = db
        .transaction(move |t| Box::pin(async move { matches::accept(t, r, m, late).await }))
        .await
        .unwrap_err();
    assert!(matches!(
        refused,
        Error::Conflict {
            code: Code::MatchNotPending,
            ..
        }
    ));
    assert_eq!(
        matches::expire_due(&db, rounds(), &At(late)).await.unwrap(),
        1
    );
    assert_eq!(
        matches::expire_due(&db, rounds(), &At(late)).await.unwrap(),
        0,
        "once"
    );
    assert_eq!(get_match(&db, a, m).await.status, MatchStatus::Expired);
    // a had accepted: back to waiting. r had not: marked away, so no new match yet.
    assert!(waiting_at(&status(&db, a).await, 1));
    available(&db, r, ev, true).await;
    let again = status(&db, a).await;
    assert_eq!(again.status, QueueState::Matched, "r did not decline a");
    // This time a does not accept either: a leaves the queue.
    let late = now() + Duration::seconds(61);
    assert_eq!(
        matches::expire_due(&db, rounds(), &At(late)).await.unwrap(),
        1
    );
    assert_eq!(status(&db, a).await.status, QueueState::NotQueued);

    // Ending the event sends waiting seekers away and expires pending matches.
    let b = create_user(&db, "b@example.com", AccountType::Seeker)
        .await
        .id;
    let c = create_user(&db, "c@example.com", AccountType::Seeker)
        .await
        .id;
    available(&db, r, ev, true).await;
    assert_eq!(join(&db, b, ev).await.unwrap().status, QueueState::Matched);
    assert!(waiting_at(&join(&db, c, ev).await.unwrap(), 1));
    let at = now();
    db.transaction(move |t| Box::pin(async move { events::end(t, r, ev, at).await }))
        .await
        .unwrap();
    assert_eq!(status(&db, b).await.status, QueueState::NotQueued);
    assert_eq!(status(&db, c).await.status, QueueState::NotQueued);
    let err = join(&db, c, ev).await.unwrap_err();
    assert!(matches!(
        err,
        Error::Conflict {
            code: Code::EventNotLive,
            ..
        }
    ));
}

pub async fn concurrent_joins_match_exactly_once(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let owner = create_user(&db, "r0@example.com", AccountType::Recruiter)
        .await
        .id;
    let mut interviewers = vec![];
    for i in 1..4 {
        interviewers.push(
            create_user(&db, &format!("r{i}@example.com"), AccountType::Recruiter)
                .await
                .id,
        );
    }
    let ev = new_event(&db, owner, interviewers.clone()).await;
    start(&db, owner, ev).await;
    let mut seekers = vec![];
    for i in 0..24 {
        seekers.push(
            create_user(&db, &format!("s{i}@example.com"), AccountType::Seeker)
                .await
                .id,
        );
    }
    // Joins and availability changes race each other; a quarter of the seekers join twice
    // at once. The joins share one process's rounds.
    let rounds = Arc::new(Rounds::default());
    let mut tasks: Vec<BoxFuture<'static, Result<(), Error>>> = vec![];
    let twice = seekers.iter().take(6).enumerate();
    for (i, &s) in seekers.iter().enumerate().chain(twice) {
        let (db, rounds) = (db.clone(), rounds.clone());
        tasks.push(Box::pin(async move {
            let at = At(now() + Duration::microseconds(i as i64 % 3));
            queue::join_and_match(&db, &rounds, &at, s, ev)
                .await
                .map(|_| ())
        }));
    }
    let joins = tasks.len() as u64;
    for &iv in &interviewers {
        let db = db.clone();
        tasks.push(Box::pin(async move {
            available(&db, iv, ev, true).await;
            Ok(())
        }));
    }
    for done in join_all(tasks).await {
        done.expect("join");
    }
    let mut matched_seekers = HashSet::new();
    let mut seated = HashSet::new();
    let mut positions = vec![];
    for &s in &seekers {
        let st = status(&db, s).await;
        match st.status {
            QueueState::Matched => {
                let m = get_match(&db, s, st.match_id.unwrap()).await;
                assert!(matched_seekers.insert(s));
                assert!(
                    seated.insert(m.interviewer_id),
                    "an interviewer holds one seat"
                );
            }
            QueueState::Waiting => positions.push(st.position.unwrap()),
            QueueState::NotQueued => panic!("a join was lost"),
        }
    }
    assert_eq!(seated.len(), 4, "every free seat is filled");
    positions.sort_unstable();
    assert_eq!(positions, (1..=20).collect::<Vec<u32>>());
    let joined = outbox_kinds(&db)
        .await
        .into_iter()
        .filter(|k| *k == Kind::QueueJoined)
        .count();
    assert_eq!(
        joined, 24,
        "one queue.joined per seeker, however often they joined"
    );
    assert!(
        rounds.ran() < joins,
        "joins arriving together share rounds: {} rounds for {joins} joins",
        rounds.ran()
    );
}

pub async fn an_accepted_match_is_declined_until_it_starts(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let rec = create_user(&db, "start-rec@example.com", AccountType::Recruiter).await;
    let seeker = create_user(&db, "start-seek@example.com", AccountType::Seeker).await;
    let ev = new_event(&db, rec.id, vec![]).await;
    start(&db, rec.id, ev).await;
    let accept_both = |db: Db, mid: MatchId| async move {
        for user in [seeker.id, rec.id] {
            let at = now();
            db.transaction(move |r| {
                Box::pin(async move { matches::accept(r, user, mid, at).await })
            })
            .await
            .expect("accept");
        }
    };

    // Accepted, nobody in the room: the seeker may still decline, and leaves the queue.
    let first = join(&db, seeker.id, ev).await.unwrap().match_id.unwrap();
    accept_both(db.clone(), first).await;
    let at = now();
    let (sid, rid) = (seeker.id, rec.id);
    let declined = db
        .transaction(move |r| {
            Box::pin(async move { matches::decline(r, sid, first, None, at).await })
        })
        .await
        .unwrap();
    assert_eq!(declined.status, MatchStatus::Declined);
    assert_eq!(status(&db, seeker.id).await.status, QueueState::NotQueued);

    // Once someone entered the room (stored, read back), a decline is refused.
    available(&db, rec.id, ev, true).await;
    let second = join(&db, seeker.id, ev).await.unwrap().match_id.unwrap();
    accept_both(db.clone(), second).await;
    let entered = now();
    db.transaction(move |r| {
        Box::pin(async move {
            let mut m = matches::get(r, rid, second).await?;
            m.start(entered);
            r.update_match(&m).await?;
            Ok::<_, Error>(())
        })
    })
    .await
    .unwrap();
    assert_eq!(
        get_match(&db, rec.id, second).await.started_at,
        Some(entered)
    );
    let refused = db
        .transaction(move |r| {
            Box::pin(async move { matches::decline(r, rid, second, None, now()).await })
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            Error::Conflict {
                code: Code::MatchNotPending,
                ..
            }
        ),
        "{refused:?}"
    );
    assert_eq!(
        get_match(&db, rec.id, second).await.status,
        MatchStatus::Accepted
    );
}

/// An interview accepted before its event ended goes on; if the interviewer then declines
/// it, the seeker has no queue to wait in and leaves it.
pub async fn a_decline_after_the_event_ended_sends_nobody_back_to_wait(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let rec = create_user(&db, "ended-rec@example.com", AccountType::Recruiter).await;
    let seeker = create_user(&db, "ended-seek@example.com", AccountType::Seeker).await;
    let ev = new_event(&db, rec.id, vec![]).await;
    start(&db, rec.id, ev).await;
    let mid = join(&db, seeker.id, ev).await.unwrap().match_id.unwrap();
    for who in [seeker.id, rec.id] {
        let at = now();
        db.transaction(move |t| Box::pin(async move { matches::accept(t, who, mid, at).await }))
            .await
            .expect("accept");
    }
    let (owner, at) = (rec.id, now());
    db.transaction(move |t| Box::pin(async move { events::end(t, owner, ev, at).await }))
        .await
        .expect("end");
    assert_eq!(
        get_match(&db, rec.id, mid).await.status,
        MatchStatus::Accepted
    );
    let declined = decline(&db, rec.id, mid, None).await.unwrap();
    assert_eq!(declined.status, MatchStatus::Declined);
    assert_eq!(status(&db, seeker.id).await.status, QueueState::NotQueued);
}
