//! Contract cases of the purges of the live queue's records: old outbox records and room
//! tickets go, the rest stay, identical on every store.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::live::{join, new_event, start};
use super::{create_user, now};
use crate::model::account::AccountType;
use crate::model::outbox::{DomainEvent, Kind};
use crate::model::room::RoomTicket;
use crate::model::session::hash_secret;
use crate::ports::{Database, Db, StoreError};

pub async fn old_outbox_records_and_room_tickets_are_purged(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let rec = create_user(&db, "purge-rec@example.com", AccountType::Recruiter).await;
    let seeker = create_user(&db, "purge-seek@example.com", AccountType::Seeker).await;
    let ev = new_event(&db, rec.id, vec![]).await;
    start(&db, rec.id, ev).await;
    let mid = join(&db, seeker.id, ev)
        .await
        .unwrap()
        .match_id
        .expect("matched");

    // Room tickets: the one that expired before the cut goes, the other stays.
    let ticket = |expires_at: DateTime<Utc>| RoomTicket {
        match_id: mid,
        user_id: seeker.id,
        issued_at: expires_at - Duration::seconds(30),
        expires_at,
        used_at: None,
    };
    let (old, fresh) = (ticket(now() - Duration::days(2)), ticket(now()));
    db.transaction(move |r| {
        Box::pin(async move {
            r.insert_room_ticket(&hash_secret("old-ticket"), &old)
                .await?;
            r.insert_room_ticket(&hash_secret("fresh-ticket"), &fresh)
                .await
        })
    })
    .await
    .unwrap();
    let cut = now() - Duration::days(1);
    assert_eq!(db.inner().purge_room_tickets(cut).await.unwrap(), 1);
    assert_eq!(db.inner().purge_room_tickets(cut).await.unwrap(), 0);
    let (gone, kept) = db
        .read(|r| {
            Box::pin(async move {
                Ok::<_, StoreError>((
                    r.room_ticket(&hash_secret("old-ticket")).await?,
                    r.room_ticket(&hash_secret("fresh-ticket")).await?,
                ))
            })
        })
        .await
        .unwrap();
    assert_eq!((gone, kept), (None, Some(fresh)));

    // The outbox: records older than the cut go, except the newest, which always stays.
    let record = |at: DateTime<Utc>| DomainEvent {
        kind: Kind::QueueJoined,
        event_id: Some(ev),
        users: vec![seeker.id],
        payload: serde_json::json!({}),
        at,
    };
    let week_ago = now() - Duration::days(8);
    let batch = vec![record(week_ago), record(now()), record(week_ago)];
    db.transaction(move |r| Box::pin(async move { r.append_outbox(&batch).await }))
        .await
        .unwrap();
    let all = |db: Db| async move {
        db.read(|r| Box::pin(async move { r.outbox_after(0, 1000).await }))
            .await
            .unwrap()
    };
    let before = all(db.clone()).await;
    let cut = now() - Duration::days(7);
    let purged = db.inner().purge_outbox(cut).await.unwrap();
    let after = all(db.clone()).await;
    assert_eq!(purged as usize, before.len() - after.len());
    assert!(
        purged >= 1,
        "the week-old record that is not the newest goes"
    );
    let newest = before.last().unwrap().seq;
    assert_eq!(
        after.last().unwrap().seq,
        newest,
        "the newest stays, old as it is"
    );
    assert!(
        after.iter().all(|r| r.event.at >= cut || r.seq == newest),
        "{after:?}"
    );
    assert_eq!(db.inner().purge_outbox(cut).await.unwrap(), 0);

    // Records at given positions: those that exist, in order; unknown positions are skipped.
    let wanted = vec![after[after.len() - 1].seq, after[0].seq, newest + 1000];
    let at = db
        .read(move |r| Box::pin(async move { r.outbox_at(&wanted).await }))
        .await
        .unwrap();
    let mut expected = vec![after[0].seq, after[after.len() - 1].seq];
    expected.dedup();
    assert_eq!(at.iter().map(|r| r.seq).collect::<Vec<_>>(), expected);
    let none = db
        .read(|r| Box::pin(async move { r.outbox_at(&[]).await }))
        .await
        .unwrap();
    assert!(none.is_empty());
}
