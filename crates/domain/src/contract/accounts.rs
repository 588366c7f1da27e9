//! Accounts and browser sessions.

use super::{create_user, now, user};
use crate::model::account::AccountType;
use crate::model::ids::{SessionId, UserId};
use crate::model::profile::Profile;
use crate::model::session::{SessionRecord, hash_secret};
use crate::ports::{Database, Db, StoreError};
use chrono::Duration;
use std::sync::Arc;

pub async fn users_are_unique_by_email(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let a = create_user(&db, "ada@example.com", AccountType::Seeker).await;
    let dup = user("ADA@example.com", AccountType::Recruiter);
    let res: Result<(), StoreError> = db
        .transaction(move |r| {
            Box::pin(async move { r.insert_user(&dup, &Profile::default()).await })
        })
        .await;
    assert!(
        matches!(res, Err(StoreError::Conflict(_))),
        "duplicate email must conflict: {res:?}"
    );
    let email = a.email.clone();
    let found = db
        .read(move |r| Box::pin(async move { r.user_by_email(&email).await }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, a.id);
    assert_eq!(found.account_type, AccountType::Seeker);
    let id = a.id;
    let by_id = db
        .read(move |r| Box::pin(async move { r.user_by_id(id).await }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id.email, a.email);
    let missing = db
        .read(|r| Box::pin(async move { r.user_by_id(UserId::new()).await }))
        .await
        .unwrap();
    assert!(missing.is_none());
}

pub async fn sessions_live_until_expiry_or_logout(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "s@example.com", AccountType::Seeker).await;
    let t = now();
    let rec = SessionRecord {
        id: SessionId::new(),
        user_id: u.id,
        secret_hash: hash_secret("secret-1"),
        csrf_token: "csrf-1".into(),
        created_at: t,
        expires_at: t + Duration::days(14),
    };
    let stored = rec.clone();
    db.transaction(move |r| Box::pin(async move { r.insert_session(&stored).await }))
        .await
        .unwrap();
    let h = rec.secret_hash;
    let (s, owner) = db
        .read(move |r| Box::pin(async move { r.session_by_hash(&h, t).await }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.csrf_token, "csrf-1");
    assert_eq!(owner.id, u.id);
    let late = t + Duration::days(15);
    assert!(
        db.read(move |r| Box::pin(async move { r.session_by_hash(&h, late).await }))
            .await
            .unwrap()
            .is_none()
    );
    db.transaction(move |r| Box::pin(async move { r.delete_session(&h).await }))
        .await
        .unwrap();
    assert!(
        db.read(move |r| Box::pin(async move { r.session_by_hash(&h, t).await }))
            .await
            .unwrap()
            .is_none()
    );
}
