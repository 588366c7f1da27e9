//! The pool's shares, on real Postgres: reads cannot hold the connections changes need.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jobby_domain::ports::{Db, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_holding_their_whole_share_leave_changes_a_connection() {
    let Some(url) = crate::testing::fresh_database_url_or_skip().await else {
        return;
    };
    // Four connections: three for reads, one kept back.
    let db = Db::new(Arc::new(crate::connect(&url, 4).await.unwrap()));
    let (release, released) = tokio::sync::watch::channel(false);
    let holding = Arc::new(AtomicUsize::new(0));
    let read = |db: Db| {
        let (mut released, holding) = (released.clone(), holding.clone());
        tokio::spawn(async move {
            db.read(move |r| {
                Box::pin(async move {
                    let head = r.outbox_head().await?;
                    holding.fetch_add(1, Ordering::SeqCst);
                    let _ = released.wait_for(|r| *r).await;
                    Ok::<_, StoreError>(head)
                })
            })
            .await
        })
    };
    let held: Vec<_> = (0..3).map(|_| read(db.clone())).collect();
    tokio::time::timeout(Duration::from_secs(5), async {
        while holding.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("three reads hold a connection each");
    // A fourth read waits for a place among the reads …
    let fourth = read(db.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        holding.load(Ordering::SeqCst),
        3,
        "a fourth read got a connection"
    );
    assert!(!fourth.is_finished());
    // … while a change gets the connection kept back, at once.
    let change = tokio::time::timeout(
        Duration::from_secs(2),
        db.transaction(|r| Box::pin(async move { r.outbox_head().await })),
    )
    .await
    .expect("a change is not kept waiting behind reads");
    assert!(change.is_ok());
    release.send_replace(true);
    for r in held.into_iter().chain([fourth]) {
        assert!(r.await.unwrap().is_ok());
    }
    assert_eq!(holding.load(Ordering::SeqCst), 4);
}

#[test]
fn reads_may_hold_all_but_a_quarter_of_the_pool_and_always_one() {
    assert_eq!(crate::read_share(16), 12);
    assert_eq!(crate::read_share(4), 3);
    assert_eq!(crate::read_share(2), 1);
    assert_eq!(crate::read_share(1), 1);
}
