//! Idempotency keys: claims, replays, take-overs, and the effect committing with its response.

use super::{create_user, now, scope_for};
use crate::model::account::{AccountType, User};
use crate::model::idempotency::{Claim, Fingerprint, IdempotencyScope, SavedResponse};
use crate::model::ids::UserId;
use crate::model::page::PageRequest;
use crate::model::profile::Profile;
use crate::ports::{Database, Db, IdempotencyRepo, Repo, StoreError};
use crate::usecases::idempotency::{self, Outcome};
use crate::usecases::tokens::{self, MintRequest};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn resp(status: u16, body: &str) -> SavedResponse {
    SavedResponse {
        status,
        content_type: "application/json".into(),
        body: body.as_bytes().to_vec(),
    }
}

pub async fn idempotency_claims_replays_and_mismatches(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "i@example.com", AccountType::Seeker).await;
    let scope = scope_for(&u);
    let fp = Fingerprint::of("POST", "/x", "", b"{}");
    let t = now();
    let stale = t - Duration::seconds(60);
    assert_eq!(
        db.inner()
            .claim_idempotency(&scope, &fp, t, stale)
            .await
            .unwrap(),
        Claim::Fresh
    );
    assert_eq!(
        db.inner()
            .claim_idempotency(&scope, &fp, t, stale)
            .await
            .unwrap(),
        Claim::InUse
    );
    let saved = resp(201, r#"{"ok":true}"#);
    let s2 = saved.clone();
    db.transaction(move |r| Box::pin(async move { r.complete_idempotency(&scope, &s2, t).await }))
        .await
        .unwrap();
    assert_eq!(
        db.inner()
            .claim_idempotency(&scope, &fp, t, stale)
            .await
            .unwrap(),
        Claim::Replay(saved)
    );
    let other_fp = Fingerprint::of("POST", "/x", "", b"{ }");
    assert_eq!(
        db.inner()
            .claim_idempotency(&scope, &other_fp, t, stale)
            .await
            .unwrap(),
        Claim::Mismatch
    );
    // Keys are per account: the same key is fresh for someone else.
    let v = create_user(&db, "i2@example.com", AccountType::Seeker).await;
    let theirs = IdempotencyScope {
        user_id: v.id,
        key: scope.key,
    };
    assert_eq!(
        db.inner()
            .claim_idempotency(&theirs, &fp, t, stale)
            .await
            .unwrap(),
        Claim::Fresh
    );
    // A released claim is fresh again.
    db.inner().release_idempotency(&theirs, t).await.unwrap();
    assert_eq!(
        db.inner()
            .claim_idempotency(&theirs, &fp, t, stale)
            .await
            .unwrap(),
        Claim::Fresh
    );
}

pub async fn idempotency_stale_claims_are_taken_over(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "st@example.com", AccountType::Seeker).await;
    let scope = scope_for(&u);
    let fp = Fingerprint::of("POST", "/x", "", b"{}");
    let t0 = now();
    assert_eq!(
        db.inner()
            .claim_idempotency(&scope, &fp, t0, t0 - Duration::seconds(60))
            .await
            .unwrap(),
        Claim::Fresh
    );
    let t1 = t0 + Duration::seconds(61);
    assert_eq!(
        db.inner()
            .claim_idempotency(&scope, &fp, t1, t1 - Duration::seconds(60))
            .await
            .unwrap(),
        Claim::Fresh
    );
    let t2 = t1 + Duration::seconds(1);
    let stale = t2 - Duration::seconds(60);
    assert_eq!(
        db.inner()
            .claim_idempotency(&scope, &fp, t2, stale)
            .await
            .unwrap(),
        Claim::InUse
    );
    // The first request was only slow: it may neither complete nor release the key now.
    let late = resp(201, "{}");
    let res: Result<(), StoreError> = db
        .transaction(move |r| {
            Box::pin(async move { r.complete_idempotency(&scope, &late, t0).await })
        })
        .await;
    assert!(res.is_err(), "a taken-over claim cannot complete");
    db.inner().release_idempotency(&scope, t0).await.unwrap();
    assert_eq!(
        db.inner()
            .claim_idempotency(&scope, &fp, t2, stale)
            .await
            .unwrap(),
        Claim::InUse,
        "nor release"
    );
    let mine = resp(201, r#"{"n":2}"#);
    let m2 = mine.clone();
    db.transaction(move |r| Box::pin(async move { r.complete_idempotency(&scope, &m2, t1).await }))
        .await
        .unwrap();
    assert_eq!(
        db.inner()
            .claim_idempotency(&scope, &fp, t2, stale)
            .await
            .unwrap(),
        Claim::Replay(mine)
    );
}

/// Saves responses through the transaction's idempotency port, except the next one while
/// armed: that save fails, after the operation's effect, before the response is stored.
struct FailNextSave {
    armed: AtomicBool,
}

#[async_trait]
impl idempotency::SaveResponse for FailNextSave {
    async fn save(
        &self,
        port: &mut dyn IdempotencyRepo,
        scope: &IdempotencyScope,
        response: &SavedResponse,
        claimed_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if self.armed.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "injected failure before saving the response".into(),
            ));
        }
        port.complete_idempotency(scope, response, claimed_at).await
    }
}

/// The operation used by the atomicity case: mints a token (an effect that is not
/// idempotent by itself) and answers 201.
fn mint_op(owner: User) -> idempotency::Operation {
    Arc::new(move |repo: &mut dyn Repo| {
        let owner = owner.clone();
        Box::pin(async move {
            let req = MintRequest {
                name: "once".into(),
                scopes: vec!["profile:read".into()],
                expires_in_days: None,
            };
            match tokens::mint(repo, &owner, req, now()).await {
                Ok((_, rec)) => Ok(resp(201, &format!(r#"{{"id":"{}"}}"#, rec.id))),
                Err(_) => Err(resp(500, "{}")),
            }
        }) as BoxFuture<'_, Result<SavedResponse, SavedResponse>>
    })
}

async fn count_tokens(db: &Db, user: UserId) -> usize {
    db.read(move |r| {
        Box::pin(async move {
            r.list_tokens(
                user,
                PageRequest {
                    limit: 100,
                    after: None,
                },
            )
            .await
        })
    })
    .await
    .unwrap()
    .len()
}

pub async fn idempotency_effect_and_response_commit_together(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let save = Arc::new(FailNextSave {
        armed: AtomicBool::new(true),
    });
    let u = create_user(&db, "atomic@example.com", AccountType::Seeker).await;
    let key = Some((
        scope_for(&u),
        Fingerprint::of("POST", "/api/v1/things", "", b"{}"),
    ));

    // First attempt: the effect runs, then saving the response fails. Nothing may remain.
    let first =
        idempotency::run_saving_with(&db, key, now(), mint_op(u.clone()), None, save.clone()).await;
    assert!(
        first.is_err(),
        "the injected failure surfaces as a store error"
    );
    assert!(
        !save.armed.load(Ordering::SeqCst),
        "the failure was injected"
    );
    assert_eq!(
        count_tokens(&db, u.id).await,
        0,
        "the effect rolled back with the unsaved response"
    );

    // The retry with the same key runs the operation (the key was freed) and applies it once.
    let second =
        idempotency::run_saving_with(&db, key, now(), mint_op(u.clone()), None, save.clone())
            .await
            .unwrap();
    let Outcome::Fresh(saved) = second else {
        panic!("expected a fresh run, got {second:?}")
    };
    assert_eq!(saved.status, 201);
    assert_eq!(count_tokens(&db, u.id).await, 1);

    // A third call replays byte for byte and applies nothing.
    let third = idempotency::run_saving_with(&db, key, now(), mint_op(u.clone()), None, save)
        .await
        .unwrap();
    assert_eq!(third, Outcome::Replayed(saved));
    assert_eq!(count_tokens(&db, u.id).await, 1);
}

pub async fn idempotency_refusals_are_saved_server_errors_are_not(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "ref@example.com", AccountType::Seeker).await;
    let fp = Fingerprint::of("POST", "/x", "", b"{}");
    let uid = u.id;
    let refuse = |status: u16| -> idempotency::Operation {
        Arc::new(move |repo: &mut dyn Repo| {
            Box::pin(async move {
                repo.save_profile(
                    uid,
                    &Profile {
                        name: "Partial".into(),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|_| resp(500, "{}"))?;
                Err(resp(status, r#"{"code":"X"}"#))
            }) as BoxFuture<'_, Result<SavedResponse, SavedResponse>>
        })
    };
    let scope = scope_for(&u);
    let out = idempotency::run(&db, Some((scope, fp)), now(), refuse(409))
        .await
        .unwrap();
    assert_eq!(out, Outcome::Fresh(resp(409, r#"{"code":"X"}"#)));
    assert_eq!(
        db.read(move |r| Box::pin(async move { r.profile(uid).await }))
            .await
            .unwrap()
            .name,
        "Test",
        "refusal rolled back"
    );
    let again = idempotency::run(&db, Some((scope, fp)), now(), refuse(409))
        .await
        .unwrap();
    assert_eq!(again, Outcome::Replayed(resp(409, r#"{"code":"X"}"#)));

    let scope = scope_for(&u);
    let out = idempotency::run(&db, Some((scope, fp)), now(), refuse(500))
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Fresh(r) if r.status == 500));
    let t = now();
    let claim = db
        .inner()
        .claim_idempotency(&scope, &fp, t, t - Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(claim, Claim::Fresh, "a 5xx frees the key");
}

/// An answer made after the effect committed (a join answers after its matching round) is
/// what the key saves and replays; the effect stays committed when the answer fails with a
/// 5xx, and the key is freed so a retry runs again.
pub async fn idempotency_answers_made_after_the_effect_are_saved(db: Arc<dyn Database>) {
    let db = Db::new(db);
    let u = create_user(&db, "after@example.com", AccountType::Seeker).await;
    let uid = u.id;
    let rename: idempotency::Operation = Arc::new(move |repo: &mut dyn Repo| {
        Box::pin(async move {
            repo.save_profile(
                uid,
                &Profile {
                    name: "Renamed".into(),
                    ..Default::default()
                },
            )
            .await
            .map_err(|_| resp(500, "{}"))?;
            Ok(resp(200, r#"{"step":"effect"}"#))
        }) as BoxFuture<'_, Result<SavedResponse, SavedResponse>>
    });
    let name = |db: Db| async move {
        db.read(move |r| Box::pin(async move { r.profile(uid).await }))
            .await
            .unwrap()
            .name
    };
    // The answer sees the committed effect and the effect's own reply.
    let answer_db = db.clone();
    let answer: idempotency::Answer = Arc::new(move |effect: SavedResponse| {
        let db = answer_db.clone();
        Box::pin(async move {
            assert_eq!(effect.body, br#"{"step":"effect"}"#);
            let now_named = db
                .read(move |r| Box::pin(async move { r.profile(uid).await }))
                .await
                .map_err(|_| resp(500, "{}"))?
                .name;
            Ok(resp(200, &format!(r#"{{"name":"{now_named}"}}"#)))
        })
    });
    let scope = scope_for(&u);
    let fp = Fingerprint::of("POST", "/x", "", b"{}");
    let first = idempotency::run_answering(
        &db,
        Some((scope, fp)),
        now(),
        rename.clone(),
        answer.clone(),
    )
    .await
    .unwrap();
    let answered = resp(200, r#"{"name":"Renamed"}"#);
    assert_eq!(first, Outcome::Fresh(answered.clone()));
    let replay = idempotency::run_answering(&db, Some((scope, fp)), now(), rename.clone(), answer)
        .await
        .unwrap();
    assert_eq!(
        replay,
        Outcome::Replayed(answered),
        "the answer is what is saved"
    );
    // Without a key the answer is made the same way.
    let fails: idempotency::Answer =
        Arc::new(|_| Box::pin(async { Err(resp(503, r#"{"code":"DEPENDENCY_UNAVAILABLE"}"#)) }));
    let out = idempotency::run_answering(&db, None, now(), rename.clone(), fails.clone())
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Fresh(r) if r.status == 503));
    // A failing answer: the effect stays, the key is free again.
    let scope = scope_for(&u);
    let out = idempotency::run_answering(&db, Some((scope, fp)), now(), rename, fails)
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Fresh(r) if r.status == 503));
    assert_eq!(name(db.clone()).await, "Renamed");
    let t = now();
    let claim = db
        .inner()
        .claim_idempotency(&scope, &fp, t, t - Duration::seconds(60))
        .await
        .unwrap();
    assert_eq!(claim, Claim::Fresh, "a failed answer frees the key");
}
