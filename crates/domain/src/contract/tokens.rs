//! Personal access tokens: authentication, revocation, expiry, lists.

use super::{create_user, mint, now};
use crate::error::Error;
use crate::model::account::AccountType;
use crate::model::page::PageRequest;
use crate::model::scopes::{Scope, ScopeSet};
use crate::model::token::{TokenHash, TokenPrincipal, TokenRecord, TokenUse};
use crate::ports::{Database, Db};
use crate::usecases::tokens::{self};
use chrono::Duration;
use std::sync::Arc;

pub async fn tokens_authenticate_until_revoked_or_expired(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "t@example.com", AccountType::Recruiter).await;
    let (plain, rec) = mint(&db, &u, &[Scope::ProfileRead, Scope::EventsWrite], Some(30)).await;
    let p: TokenPrincipal = db
        .inner()
        .find_token(&plain.hash(), now())
        .await
        .unwrap()
        .expect("active token");
    assert_eq!(p.token_id, rec.id);
    assert_eq!(p.user_id, u.id);
    assert_eq!(p.account_type, AccountType::Recruiter);
    assert_eq!(
        p.scopes,
        ScopeSet::from([Scope::ProfileRead, Scope::EventsWrite])
    );
    let uid = u.id;
    let id = rec.id;
    let read = || async {
        db.read(move |r| Box::pin(async move { r.find_token(uid, id).await }))
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(read().await.last_used_at, None, "a lookup writes nothing");
    assert_eq!(read().await.last4, plain.last4());

    // Uses are recorded in batches; an older use never overwrites a newer one.
    let t0 = now();
    let use_at = |secs: i64, ip: &str| TokenUse {
        token_id: id,
        at: t0 + Duration::seconds(secs),
        ip: ip.into(),
    };
    db.inner()
        .record_token_uses(&[use_at(10, "192.0.2.1")])
        .await
        .unwrap();
    db.inner()
        .record_token_uses(&[use_at(5, "192.0.2.99"), use_at(20, "192.0.2.2")])
        .await
        .unwrap();
    let seen = read().await;
    assert_eq!(seen.last_used_ip.as_deref(), Some("192.0.2.2"));
    assert_eq!(seen.last_used_at, Some(use_at(20, "").at));
    db.inner()
        .record_token_uses(&[use_at(15, "192.0.2.3")])
        .await
        .unwrap();
    assert_eq!(read().await.last_used_ip.as_deref(), Some("192.0.2.2"));
    db.inner().record_token_uses(&[]).await.unwrap();

    // Expired: the expiry is in the past relative to `now`.
    let later = now() + Duration::days(31);
    assert!(
        db.inner()
            .find_token(&plain.hash(), later)
            .await
            .unwrap()
            .is_none()
    );

    // Revoked: at once, and revoking twice answers the same token.
    let t = now();
    let revoked = db
        .transaction(move |r| Box::pin(async move { tokens::revoke(r, uid, id, t).await }))
        .await
        .unwrap();
    assert!(revoked.revoked_at.is_some());
    let again: Result<TokenRecord, Error> = db
        .transaction(move |r| Box::pin(async move { tokens::revoke(r, uid, id, now()).await }))
        .await;
    assert_eq!(again.unwrap().revoked_at, revoked.revoked_at);
    assert!(
        db.inner()
            .find_token(&plain.hash(), now())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        db.inner()
            .find_token(&TokenHash([7; 32]), now())
            .await
            .unwrap()
            .is_none()
    );

    // Another account cannot revoke it: not found.
    let other = create_user(&db, "other@example.com", AccountType::Recruiter).await;
    let oid = other.id;
    let res: Result<TokenRecord, Error> = db
        .transaction(move |r| Box::pin(async move { tokens::revoke(r, oid, id, now()).await }))
        .await;
    assert!(matches!(res, Err(Error::NotFound)));
}

pub async fn token_lists_page_newest_first_and_stay_in_tenant(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "list@example.com", AccountType::Seeker).await;
    let other = create_user(&db, "list2@example.com", AccountType::Seeker).await;
    let mut ids = vec![];
    for _ in 0..5 {
        ids.push(mint(&db, &u, &[Scope::QueueRead], None).await.1.id);
    }
    mint(&db, &other, &[Scope::QueueRead], None).await;
    ids.reverse();
    let uid = u.id;
    let first = db
        .read(move |r| {
            Box::pin(async move {
                tokens::list(
                    r,
                    uid,
                    PageRequest {
                        limit: 3,
                        after: None,
                    },
                )
                .await
            })
        })
        .await
        .unwrap();
    assert_eq!(
        first.data.iter().map(|t| t.id).collect::<Vec<_>>(),
        ids[..3]
    );
    assert!(first.has_more);
    let after = Some(first.data[2].id);
    let second = db
        .read(move |r| {
            Box::pin(async move { tokens::list(r, uid, PageRequest { limit: 3, after }).await })
        })
        .await
        .unwrap();
    assert_eq!(
        second.data.iter().map(|t| t.id).collect::<Vec<_>>(),
        ids[3..]
    );
    assert!(!second.has_more);
    assert_eq!(second.next_cursor, None);
    let foreign = ids[0];
    let oid = other.id;
    let found = db
        .read(move |r| Box::pin(async move { r.find_token(oid, foreign).await }))
        .await
        .unwrap();
    assert!(found.is_none(), "another account's token is not found");
}
