//! Transactions and purges across ports.

use super::{create_user, now, scope_for};
use crate::error::Error;
use crate::model::account::AccountType;
use crate::model::idempotency::{Claim, Fingerprint};
use crate::model::ids::SessionId;
use crate::model::profile::Profile;
use crate::model::session::{SessionRecord, hash_secret};
use crate::ports::{Database, Db};
use chrono::Duration;
use std::sync::Arc;

pub async fn a_failed_transaction_writes_nothing(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "rb@example.com", AccountType::Seeker).await;
    let uid = u.id;
    let res: Result<(), Error> = db
        .transaction(move |r| {
            Box::pin(async move {
                r.save_profile(
                    uid,
                    &Profile {
                        name: "Changed".into(),
                        ..Default::default()
                    },
                )
                .await?;
                Err(Error::NotFound)
            })
        })
        .await;
    assert!(matches!(res, Err(Error::NotFound)));
    assert_eq!(
        db.read(move |r| Box::pin(async move { r.profile(uid).await }))
            .await
            .unwrap()
            .name,
        "Test"
    );
}

pub async fn purges_remove_only_old_rows(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "purge@example.com", AccountType::Seeker).await;
    let fp = Fingerprint::of("POST", "/x", "", b"");
    let old = now() - Duration::hours(25);
    let old_scope = scope_for(&u);
    assert_eq!(
        db.inner()
            .claim_idempotency(&old_scope, &fp, old, old)
            .await
            .unwrap(),
        Claim::Fresh
    );
    let fresh_scope = scope_for(&u);
    let t = now();
    assert_eq!(
        db.inner()
            .claim_idempotency(&fresh_scope, &fp, t, t)
            .await
            .unwrap(),
        Claim::Fresh
    );
    let purged = db
        .inner()
        .purge_idempotency(now() - Duration::hours(24))
        .await
        .unwrap();
    assert_eq!(purged, 1);
    let t = now();
    assert_eq!(
        db.inner()
            .claim_idempotency(&old_scope, &fp, t, t - Duration::seconds(60))
            .await
            .unwrap(),
        Claim::Fresh,
        "purged key is fresh"
    );
    assert_eq!(
        db.inner()
            .claim_idempotency(&fresh_scope, &fp, t, t - Duration::seconds(60))
            .await
            .unwrap(),
        Claim::InUse
    );

    let expired = SessionRecord {
        id: SessionId::new(),
        user_id: u.id,
        secret_hash: hash_secret("old"),
        csrf_token: "c".into(),
        created_at: old,
        expires_at: old + Duration::hours(1),
    };
    db.transaction(move |r| Box::pin(async move { r.insert_session(&expired).await }))
        .await
        .unwrap();
    assert_eq!(db.inner().purge_sessions(now()).await.unwrap(), 1);
}

/// The process is told of the accounts its committed changes name, and of nothing else.
pub async fn commits_tell_the_accounts_their_outbox_records_name(db: Arc<dyn Database>) {
    use crate::model::ids::UserId;
    use crate::model::outbox::DomainEvent;
    use std::sync::Mutex;

    let heard: Arc<Mutex<Vec<UserId>>> = Arc::default();
    let sink = heard.clone();
    db.on_commit(Arc::new(move |users| {
        sink.lock().unwrap().extend_from_slice(users)
    }));
    let db = Db::new(db);
    let taken = |heard: &Arc<Mutex<Vec<UserId>>>| std::mem::take(&mut *heard.lock().unwrap());

    // A transaction without outbox records tells nothing.
    let a = create_user(&db, "told-a@example.com", AccountType::Seeker).await;
    let b = create_user(&db, "told-b@example.com", AccountType::Seeker).await;
    assert!(taken(&heard).is_empty());

    // One that writes records tells every account they name, once it has committed.
    let (ua, ub, at) = (a.id, b.id, now());
    db.transaction(move |r| {
        Box::pin(async move {
            r.append_outbox(&[
                DomainEvent::access_changed(ua, at),
                DomainEvent::access_changed(ub, at),
            ])
            .await
        })
    })
    .await
    .unwrap();
    let mut told = taken(&heard);
    told.sort();
    let mut expected = vec![a.id, b.id];
    expected.sort();
    assert_eq!(told, expected);

    // One that rolls back tells nothing.
    let res: Result<(), Error> = db
        .transaction(move |r| {
            Box::pin(async move {
                r.append_outbox(&[DomainEvent::access_changed(ua, at)])
                    .await?;
                Err(Error::NotFound)
            })
        })
        .await;
    assert!(res.is_err());
    assert!(taken(&heard).is_empty());
}
