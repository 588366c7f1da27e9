//! Races between transactions of the live queue, on real Postgres: each holds one side of
//! a race open in a transaction of its own and checks what the other side does meanwhile.

use std::sync::Arc;

/// Two live events share an interviewer. While another event's matching holds that
/// interviewer (locked, seated, not yet committed), a join here plans them first, finds
/// them taken when the claim is granted, and plans again: the seeker gets the other free
/// seat instead of waiting beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seat_taken_by_another_event_mid_plan_is_replaced_not_skipped() {
    use std::time::Duration;

    use diesel::sql_types::Uuid as SqlUuid;
    use diesel::{QueryableByName, sql_query};
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
    use jobby_domain::model::ids::{EventId, UserId};
    use jobby_domain::model::queue::QueueState;
    use jobby_domain::ports::{Db, SystemClock};
    use jobby_domain::usecases::queue;

    let Some(url) = crate::testing::fresh_database_url_or_skip().await else {
        return;
    };
    let db = Db::new(Arc::new(crate::connect(&url, 4).await.unwrap()));
    let [o1, o2, shared, other, s1, s2] = [(); 6].map(|()| UserId::new().uuid());
    let [e1, e2] = [(); 2].map(|()| EventId::new().uuid());
    let mut admin = AsyncPgConnection::establish(&url).await.unwrap();
    admin
        .batch_execute(&format!(
            "INSERT INTO users (id, email, account_type, password_hash) VALUES \
               ('{o1}', 'o1@x.dev', 'recruiter', 'x'), ('{o2}', 'o2@x.dev', 'recruiter', 'x'), \
               ('{shared}', 'i@x.dev', 'recruiter', 'x'), ('{other}', 'j@x.dev', 'recruiter', 'x'), \
               ('{s1}', 's1@x.dev', 'seeker', 'x'), ('{s2}', 's2@x.dev', 'seeker', 'x'); \
             INSERT INTO events (id, owner_id, title, status, created_at) VALUES \
               ('{e1}', '{o1}', 'E1', 'live', now()), ('{e2}', '{o2}', 'E2', 'live', now()); \
             INSERT INTO event_interviewers (event_id, user_id, available, idle_since) VALUES \
               ('{e1}', '{shared}', true, now() - interval '2 hours'), \
               ('{e1}', '{other}', true, now() - interval '1 hour'), \
               ('{e2}', '{shared}', true, now());"
        ))
        .await
        .unwrap();
    // Event 2's matching, mid-transaction: the shared interviewer locked and seated.
    let mut e2_tx = AsyncPgConnection::establish(&url).await.unwrap();
    e2_tx
        .batch_execute(&format!(
            "BEGIN; \
             SELECT id FROM users WHERE id = '{shared}' FOR NO KEY UPDATE; \
             INSERT INTO matches (id, event_id, seeker_id, interviewer_id, status, created_at, expires_at) \
               VALUES (gen_random_uuid(), '{e2}', '{s2}', '{shared}', 'pending', now(), now() + interval '1 minute');"
        ))
        .await
        .unwrap();
    let (seeker, event) = (UserId::from_uuid(s1), EventId::from_uuid(e1));
    let join = tokio::spawn(async move {
        let rounds = queue::Rounds::default();
        queue::join_and_match(&db, &rounds, &SystemClock, seeker, event).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !join.is_finished(),
        "the join waits for the shared interviewer's lock"
    );
    e2_tx.batch_execute("COMMIT").await.unwrap();
    let (status, _) = tokio::time::timeout(Duration::from_secs(10), join)
        .await
        .expect("the join finishes")
        .unwrap()
        .unwrap();
    assert_eq!(status.status, QueueState::Matched, "{status:?}");

    #[derive(QueryableByName)]
    struct Seat {
        #[diesel(sql_type = SqlUuid)]
        interviewer_id: uuid::Uuid,
    }
    let seats: Vec<Seat> = sql_query("SELECT interviewer_id FROM matches WHERE seeker_id = $1")
        .bind::<SqlUuid, _>(s1)
        .load(&mut admin)
        .await
        .unwrap();
    assert_eq!(seats.len(), 1);
    assert_eq!(
        seats[0].interviewer_id, other,
        "seated with the free interviewer"
    );
}

/// A leave reads the seeker's entry (event A) and waits for A's lock, while another
/// transaction that holds it moves the seeker to event B, where they are matched with B's
/// only interviewer. The leave must act in B under B's lock: the abandoned match frees
/// the interviewer, and B's next seeker is seated at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leave_racing_a_move_to_another_event_acts_where_the_entry_now_is() {
    use std::time::Duration;

    use diesel::sql_types::{Text, Uuid as SqlUuid};
    use diesel::{QueryableByName, sql_query};
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
    use jobby_domain::model::ids::UserId;
    use jobby_domain::ports::Db;
    use jobby_domain::usecases::queue;

    let Some(url) = crate::testing::fresh_database_url_or_skip().await else {
        return;
    };
    let db = Db::new(Arc::new(crate::connect(&url, 4).await.unwrap()));
    let [oa, ob, interviewer, seeker, next] = [(); 5].map(|()| UserId::new().uuid());
    let [ea, eb, m] = [(); 3].map(|()| uuid::Uuid::now_v7());
    let mut admin = AsyncPgConnection::establish(&url).await.unwrap();
    admin
        .batch_execute(&format!(
            "INSERT INTO users (id, email, account_type, password_hash) VALUES \
               ('{oa}', 'oa@x.dev', 'recruiter', 'x'), ('{ob}', 'ob@x.dev', 'recruiter', 'x'), \
               ('{interviewer}', 'i@x.dev', 'recruiter', 'x'), \
               ('{seeker}', 's@x.dev', 'seeker', 'x'), ('{next}', 'n@x.dev', 'seeker', 'x'); \
             INSERT INTO events (id, owner_id, title, status, created_at) VALUES \
               ('{ea}', '{oa}', 'A', 'live', now()), ('{eb}', '{ob}', 'B', 'live', now()); \
             INSERT INTO event_interviewers (event_id, user_id, available, idle_since) VALUES \
               ('{eb}', '{interviewer}', true, now()); \
             INSERT INTO queue_entries (seeker_id, event_id, joined_at, state) VALUES \
               ('{seeker}', '{ea}', now() - interval '1 minute', 'waiting'), \
               ('{next}', '{eb}', now(), 'waiting');"
        ))
        .await
        .unwrap();
    // Holds A's matching lock, moves the seeker from A to B, matched with B's interviewer.
    let mut mover = AsyncPgConnection::establish(&url).await.unwrap();
    mover
        .batch_execute(&format!(
            "BEGIN; \
             SELECT pg_advisory_xact_lock(event_matching_key('{ea}')); \
             DELETE FROM queue_entries WHERE seeker_id = '{seeker}'; \
             INSERT INTO matches (id, event_id, seeker_id, interviewer_id, status, created_at, expires_at) \
               VALUES ('{m}', '{eb}', '{seeker}', '{interviewer}', 'pending', now(), now() + interval '1 minute'); \
             INSERT INTO queue_entries (seeker_id, event_id, joined_at, state, match_id) \
               VALUES ('{seeker}', '{eb}', now() - interval '2 minutes', 'matched', '{m}');"
        ))
        .await
        .unwrap();
    let who = UserId::from_uuid(seeker);
    let leave = tokio::spawn(async move {
        db.transaction(move |r| {
            Box::pin(async move { queue::leave(r, who, chrono::Utc::now()).await })
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!leave.is_finished(), "the leave waits for A's lock");
    mover.batch_execute("COMMIT").await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), leave)
        .await
        .expect("the leave finishes")
        .unwrap()
        .unwrap();

    #[derive(QueryableByName)]
    struct Entry {
        #[diesel(sql_type = Text)]
        state: String,
    }
    let left: Vec<Entry> = sql_query("SELECT state FROM queue_entries WHERE seeker_id = $1")
        .bind::<SqlUuid, _>(seeker)
        .load(&mut admin)
        .await
        .unwrap();
    assert!(left.is_empty(), "the seeker left B's queue");
    let next_entry: Vec<Entry> = sql_query("SELECT state FROM queue_entries WHERE seeker_id = $1")
        .bind::<SqlUuid, _>(next)
        .load(&mut admin)
        .await
        .unwrap();
    assert_eq!(
        next_entry[0].state, "matched",
        "B's next seeker gets the interviewer the leave freed"
    );
}

/// A join and the end of its event never cross. An end in progress (the event held as
/// `events::end` holds it) makes a join wait, and the join then finds the event ended; a
/// join in progress makes the end wait, and the end then removes its entry. Either way
/// no seeker is left waiting in an ended event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_and_the_end_of_its_event_do_not_cross() {
    use std::time::Duration;

    use diesel::sql_types::Uuid as SqlUuid;
    use diesel::{QueryableByName, sql_query};
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
    use jobby_domain::Error;
    use jobby_domain::error::Code;
    use jobby_domain::model::ids::{EventId, UserId};
    use jobby_domain::ports::{Db, SystemClock};
    use jobby_domain::usecases::{events, queue};

    #[derive(QueryableByName)]
    struct Entries {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    async fn entries(conn: &mut AsyncPgConnection, event: uuid::Uuid) -> i64 {
        sql_query("SELECT count(*) AS n FROM queue_entries WHERE event_id = $1")
            .bind::<SqlUuid, _>(event)
            .get_result::<Entries>(conn)
            .await
            .unwrap()
            .n
    }

    let Some(url) = crate::testing::fresh_database_url_or_skip().await else {
        return;
    };
    let db = Db::new(Arc::new(crate::connect(&url, 4).await.unwrap()));
    let [owner, s1, s2] = [(); 3].map(|()| UserId::new().uuid());
    let [e1, e2] = [(); 2].map(|()| EventId::new().uuid());
    let mut admin = AsyncPgConnection::establish(&url).await.unwrap();
    admin
        .batch_execute(&format!(
            "INSERT INTO users (id, email, account_type, password_hash) VALUES \
               ('{owner}', 'o@x.dev', 'recruiter', 'x'), \
               ('{s1}', 's1@x.dev', 'seeker', 'x'), ('{s2}', 's2@x.dev', 'seeker', 'x'); \
             INSERT INTO events (id, owner_id, title, status, created_at) VALUES \
               ('{e1}', '{owner}', 'E1', 'live', now()), ('{e2}', '{owner}', 'E2', 'live', now());"
        ))
        .await
        .unwrap();

    // Event 1 is ending, not yet committed: a join waits, then is refused.
    let mut ending = AsyncPgConnection::establish(&url).await.unwrap();
    ending
        .batch_execute(&format!(
            "BEGIN; SELECT id FROM events WHERE id = '{e1}' FOR UPDATE; \
             UPDATE events SET status = 'ended' WHERE id = '{e1}';"
        ))
        .await
        .unwrap();
    let (seeker, event) = (UserId::from_uuid(s1), EventId::from_uuid(e1));
    let join_db = db.clone();
    let join = tokio::spawn(async move {
        let rounds = queue::Rounds::default();
        queue::join_and_match(&join_db, &rounds, &SystemClock, seeker, event).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!join.is_finished(), "the join waits for the end");
    ending.batch_execute("COMMIT").await.unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(10), join)
        .await
        .expect("the join finishes")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            refused,
            Error::Conflict {
                code: Code::EventNotLive,
                ..
            }
        ),
        "{refused:?}"
    );
    assert_eq!(entries(&mut admin, e1).await, 0);

    // A join to event 2 is in progress (the event held as a join holds it, its entry
    // written): the end waits for it, then removes the entry.
    let mut joining = AsyncPgConnection::establish(&url).await.unwrap();
    joining
        .batch_execute(&format!(
            "BEGIN; SELECT id FROM events WHERE id = '{e2}' FOR KEY SHARE; \
             INSERT INTO queue_entries (seeker_id, event_id, joined_at, state) \
               VALUES ('{s2}', '{e2}', now(), 'waiting');"
        ))
        .await
        .unwrap();
    let (owner_id, event) = (UserId::from_uuid(owner), EventId::from_uuid(e2));
    let end_db = db.clone();
    let end = tokio::spawn(async move {
        let at = chrono::Utc::now();
        end_db
            .transaction(move |r| {
                Box::pin(async move { events::end(r, owner_id, event, at).await })
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!end.is_finished(), "the end waits for the join");
    joining.batch_execute("COMMIT").await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), end)
        .await
        .expect("the end finishes")
        .unwrap()
        .unwrap();
    assert_eq!(
        entries(&mut admin, e2).await,
        0,
        "the end removed the entry"
    );
}

/// A decline holds only its match. An end that reaches the match while an interviewer's
/// decline (sending the seeker back to wait) is under way waits for it, and the seeker it
/// sent back leaves with the rest of the queue: nobody is left waiting in an ended event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decline_under_way_when_the_event_ends_leaves_nobody_waiting() {
    use std::time::Duration;

    use diesel::sql_types::{BigInt, Uuid as SqlUuid};
    use diesel::{QueryableByName, sql_query};
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
    use jobby_domain::model::ids::{EventId, UserId};
    use jobby_domain::ports::Db;
    use jobby_domain::usecases::events;

    let Some(url) = crate::testing::fresh_database_url_or_skip().await else {
        return;
    };
    let db = Db::new(Arc::new(crate::connect(&url, 4).await.unwrap()));
    let [owner, interviewer, seeker] = [(); 3].map(|()| UserId::new().uuid());
    let [ev, m] = [(); 2].map(|()| uuid::Uuid::now_v7());
    let mut admin = AsyncPgConnection::establish(&url).await.unwrap();
    admin
        .batch_execute(&format!(
            "INSERT INTO users (id, email, account_type, password_hash) VALUES \
               ('{owner}', 'o@x.dev', 'recruiter', 'x'), ('{interviewer}', 'i@x.dev', 'recruiter', 'x'), \
               ('{seeker}', 's@x.dev', 'seeker', 'x'); \
             INSERT INTO events (id, owner_id, title, status, created_at) VALUES \
               ('{ev}', '{owner}', 'E', 'live', now()); \
             INSERT INTO event_interviewers (event_id, user_id, available, idle_since) VALUES \
               ('{ev}', '{interviewer}', true, now()); \
             INSERT INTO matches (id, event_id, seeker_id, interviewer_id, status, created_at, expires_at) \
               VALUES ('{m}', '{ev}', '{seeker}', '{interviewer}', 'pending', now(), now() + interval '1 minute'); \
             INSERT INTO queue_entries (seeker_id, event_id, joined_at, state, match_id) \
               VALUES ('{seeker}', '{ev}', now(), 'matched', '{m}');"
        ))
        .await
        .unwrap();
    // The interviewer's decline, mid-transaction: the match locked and declined, the
    // seeker waiting again.
    let mut declining = AsyncPgConnection::establish(&url).await.unwrap();
    declining
        .batch_execute(&format!(
            "BEGIN; \
             SELECT id FROM matches WHERE id = '{m}' FOR NO KEY UPDATE; \
             UPDATE matches SET status = 'declined', declined_by = 'interviewer', ended_at = now() WHERE id = '{m}'; \
             UPDATE queue_entries SET state = 'waiting', match_id = NULL WHERE seeker_id = '{seeker}';"
        ))
        .await
        .unwrap();
    let (owner_id, event) = (UserId::from_uuid(owner), EventId::from_uuid(ev));
    let end = tokio::spawn(async move {
        let at = chrono::Utc::now();
        db.transaction(move |r| Box::pin(async move { events::end(r, owner_id, event, at).await }))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!end.is_finished(), "the end waits for the decline");
    declining.batch_execute("COMMIT").await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), end)
        .await
        .expect("the end finishes")
        .unwrap()
        .unwrap();

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let left: Count = sql_query("SELECT count(*) AS n FROM queue_entries WHERE event_id = $1")
        .bind::<SqlUuid, _>(ev)
        .get_result(&mut admin)
        .await
        .unwrap();
    assert_eq!(
        left.n, 0,
        "the seeker sent back to wait left with the queue"
    );
}
