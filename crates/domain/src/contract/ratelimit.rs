//! Accounts' own limits, and the rate limiter.

use super::{create_user, mint, now};
use crate::model::account::AccountType;
use crate::model::ratelimit::{Overrides, Quota, RateClass, gcra};
use crate::model::scopes::Scope;
use crate::ports::{BucketKey, Database, Db, RateLimiter};
use std::sync::Arc;

pub async fn rate_limit_overrides_travel_with_the_principal(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "partner@example.com", AccountType::Recruiter).await;
    let (plain, _) = mint(&db, &u, &[Scope::ProfileRead], None).await;
    let p = db
        .inner()
        .find_token(&plain.hash(), now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.rate_limits, Overrides::default());
    let uid = u.id;
    db.transaction(move |r| {
        Box::pin(async move {
            r.set_rate_limit(uid, RateClass::Read, Some(5000)).await?;
            r.set_rate_limit(uid, RateClass::Cost, Some(10)).await?;
            r.set_rate_limit(uid, RateClass::Cost, Some(12)).await
        })
    })
    .await
    .unwrap();
    let p = db
        .inner()
        .find_token(&plain.hash(), now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        p.rate_limits.iter().collect::<Vec<_>>(),
        vec![(RateClass::Read, 5000), (RateClass::Cost, 12)]
    );
    db.transaction(move |r| {
        Box::pin(async move { r.set_rate_limit(uid, RateClass::Read, None).await })
    })
    .await
    .unwrap();
    let p = db
        .inner()
        .find_token(&plain.hash(), now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        p.rate_limits.iter().collect::<Vec<_>>(),
        vec![(RateClass::Cost, 12)]
    );
}

fn bucket(subject: &str) -> BucketKey {
    BucketKey {
        class: "cost",
        subject: subject.to_owned(),
        route: "GET /api/v1/x".into(),
    }
}

pub async fn limiter_allows_the_quota_then_refuses(limiter: Arc<dyn RateLimiter>) {
    let q = Quota::per_minute(3);
    let key = bucket(&format!("tok_{}", uuid::Uuid::new_v4().simple()));
    let mut remaining = vec![];
    for _ in 0..3 {
        let d = limiter.check(&key, q).await.unwrap();
        assert!(d.allowed);
        remaining.push(d.remaining);
    }
    assert_eq!(remaining, vec![2, 1, 0]);
    let d = limiter.check(&key, q).await.unwrap();
    assert!(!d.allowed);
    assert_eq!(d.limit, 3);
    assert_eq!(d.remaining, 0);
    assert!(
        (19..=20).contains(&d.retry_after_secs()),
        "retry after {}",
        d.retry_after_secs()
    );
    assert!((59..=60).contains(&d.reset_after_secs()));
    // The same arithmetic as the pure rule.
    let (expected, _) = gcra(0, 0, q);
    assert_eq!(expected.remaining, 2);
}

pub async fn limiter_buckets_are_independent(limiter: Arc<dyn RateLimiter>) {
    let q = Quota::per_minute(1);
    let a = bucket(&format!("tok_{}", uuid::Uuid::new_v4().simple()));
    let mut b = a.clone();
    b.route = "GET /api/v1/y".into();
    assert!(limiter.check(&a, q).await.unwrap().allowed);
    assert!(!limiter.check(&a, q).await.unwrap().allowed);
    assert!(limiter.check(&b, q).await.unwrap().allowed);
}

pub async fn limiter_holds_under_concurrency(limiter: Arc<dyn RateLimiter>) {
    let q = Quota::per_minute(10);
    let key = bucket(&format!("tok_{}", uuid::Uuid::new_v4().simple()));
    let checks = (0..50).map(|_| {
        let l = limiter.clone();
        let k = key.clone();
        async move { l.check(&k, q).await.unwrap().allowed }
    });
    let allowed = futures_util::future::join_all(checks)
        .await
        .into_iter()
        .filter(|a| *a)
        .count();
    assert_eq!(allowed, 10);
}

pub async fn limiter_peeks_without_counting(limiter: Arc<dyn RateLimiter>) {
    let q = Quota::per_minute(2);
    let key = bucket(&format!("tok_{}", uuid::Uuid::new_v4().simple()));
    for _ in 0..5 {
        let d = limiter.peek(&key, q).await.unwrap();
        assert!(d.allowed);
        assert_eq!(d.remaining, 1, "a peek reports what a check would leave");
    }
    assert!(limiter.check(&key, q).await.unwrap().allowed);
    assert!(limiter.check(&key, q).await.unwrap().allowed);
    assert!(
        !limiter.peek(&key, q).await.unwrap().allowed,
        "an empty bucket peeks as refused"
    );
    assert!(!limiter.check(&key, q).await.unwrap().allowed);
}
