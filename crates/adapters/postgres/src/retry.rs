//! Transactions that Postgres aborted to resolve a conflict with a concurrent one (a
//! serialization failure or a deadlock) run again: a few times, each after a short random
//! pause, so that two transactions that collided do not collide again in step. Only a whole
//! transaction is retried, and only when nothing of it was committed.

use std::cell::Cell;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures_util::future::BoxFuture;
use rand::Rng;

use crate::PgDatabase;
use crate::rows::Failure;

/// How many times a transaction runs at most.
pub(crate) const MAX_ATTEMPTS: u32 = 4;

/// The pause before attempt `next` (2, 3, 4): about 8 ms, 16 ms, 32 ms, each drawn at random
/// between half and one and a half times that.
pub(crate) fn pause_before(next: u32) -> Duration {
    let base_us = 2_000u64 << next.clamp(1, 8);
    Duration::from_micros(rand::thread_rng().gen_range(base_us / 2..=base_us * 3 / 2))
}

tokio::task_local! {
    /// Set when a statement of the running attempt was aborted for contention, whatever the
    /// body then made of the error (a use-case turns it into its own error type).
    static ABORTED_FOR_CONTENTION: Cell<bool>;
}

/// Marks the running attempt (if any) as aborted for contention.
pub(crate) fn note_contention() {
    let _ = ABORTED_FOR_CONTENTION.try_with(|c| c.set(true));
}

impl PgDatabase {
    /// Runs `body` in a transaction on a pooled connection, again (up to [`MAX_ATTEMPTS`]
    /// in all) when Postgres aborts it in favour of a concurrent transaction.
    pub(crate) async fn in_transaction<T, F>(&self, body: F) -> Result<T, Failure>
    where
        T: Send,
        F: for<'c> Fn(&'c mut AsyncPgConnection) -> BoxFuture<'c, Result<T, Failure>> + Send + Sync,
    {
        let mut attempt = 1;
        loop {
            let mut conn = self.conn().await.map_err(Failure::Store)?;
            let conn: &mut AsyncPgConnection = &mut conn;
            let body = &body;
            let (out, aborted) = ABORTED_FOR_CONTENTION
                .scope(Cell::new(false), async move {
                    let out = conn
                        .transaction::<T, Failure, _>(async move |c| body(c).await)
                        .await;
                    (out, ABORTED_FOR_CONTENTION.with(Cell::get))
                })
                .await;
            match out {
                Err(failure) if attempt < MAX_ATTEMPTS && (aborted || failure.is_contention()) => {
                    attempt += 1;
                    tracing::debug!(
                        attempt,
                        "transaction aborted in favour of a concurrent one; running it again"
                    );
                    tokio::time::sleep(pause_before(attempt)).await;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_and_stay_jittered_and_short() {
        for next in 2..=MAX_ATTEMPTS {
            let base = Duration::from_micros(2_000 << next);
            for _ in 0..100 {
                let p = pause_before(next);
                assert!(
                    p >= base / 2 && p <= base * 3 / 2,
                    "{p:?} for attempt {next}"
                );
            }
        }
        let all: Duration = (2..=MAX_ATTEMPTS)
            .map(|n| Duration::from_micros(3_000 << n))
            .sum();
        assert!(all < Duration::from_millis(100), "worst case {all:?}");
    }
}

#[cfg(test)]
mod on_postgres {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
    use tokio::sync::Barrier;

    use crate::rows::Failure;

    /// The same through the port, as every use-case runs: the bodies use repository methods
    /// and turn the store's error into their own, and still the aborted one runs again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_use_case_transaction_aborted_by_a_deadlock_runs_again() {
        use jobby_domain::error::Error;
        use jobby_domain::model::account::AccountType;
        use jobby_domain::model::ids::UserId;
        use jobby_domain::model::profile::Profile;
        use jobby_domain::ports::{Database, Db};

        let Some(url) = crate::testing::fresh_database_url_or_skip().await else {
            return;
        };
        let pg = crate::connect(&url, 4).await.expect("connect");
        let db = Db::new(Arc::new(pg) as Arc<dyn Database>);
        let mut users = vec![];
        for email in ["a@example.com", "b@example.com"] {
            let user = jobby_domain::usecases::accounts::signup(
                &db,
                jobby_domain::usecases::accounts::Signup {
                    email: email.into(),
                    password: "correct horse battery".into(),
                    name: "Probe".into(),
                    account_type: AccountType::Seeker.as_str().into(),
                },
                chrono::Utc::now(),
            )
            .await
            .expect("signup");
            users.push(user.id);
        }
        let attempts = Arc::new(AtomicU32::new(0));
        let both_hold_one = Arc::new(Barrier::new(2));
        let run = |first: UserId, second: UserId| {
            let (db, attempts, barrier) = (db.clone(), attempts.clone(), both_hold_one.clone());
            tokio::spawn(async move {
                let mine = Arc::new(AtomicU32::new(0));
                db.transaction(move |r| {
                    let (attempts, barrier, mine) =
                        (attempts.clone(), barrier.clone(), mine.clone());
                    Box::pin(async move {
                        attempts.fetch_add(1, Ordering::SeqCst);
                        let named = |n: &str| Profile {
                            name: n.into(),
                            ..Default::default()
                        };
                        r.save_profile(first, &named("first")).await?;
                        if mine.fetch_add(1, Ordering::SeqCst) == 0 {
                            barrier.wait().await;
                        }
                        r.save_profile(second, &named("second")).await?;
                        Ok::<_, Error>(())
                    })
                })
                .await
                .map_err(|e| e.to_string())
            })
        };
        let (a, b) = (run(users[0], users[1]), run(users[1], users[0]));
        assert_eq!(a.await.expect("task"), Ok(()));
        assert_eq!(b.await.expect("task"), Ok(()));
        assert_eq!(
            AtomicU32::load(&attempts, Ordering::SeqCst),
            3,
            "one ran again"
        );
    }

    /// Two transactions lock two rows in opposite orders. Postgres aborts one of them to
    /// break the deadlock; it runs again and both commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_aborted_by_a_deadlock_runs_again_and_commits() {
        let Some(url) = crate::testing::fresh_database_url_or_skip().await else {
            return;
        };
        let db = crate::connect(&url, 4).await.expect("connect");
        {
            let mut conn = db.conn().await.expect("connection");
            conn.batch_execute(
                "CREATE TABLE probe (id int PRIMARY KEY, n int NOT NULL DEFAULT 0); \
                 INSERT INTO probe (id) VALUES (1), (2)",
            )
            .await
            .expect("set up");
        }
        let attempts = Arc::new(AtomicU32::new(0));
        let both_hold_one = Arc::new(Barrier::new(2));
        let run = |first: i32, second: i32| {
            let (db, attempts, barrier) = (db.clone(), attempts.clone(), both_hold_one.clone());
            tokio::spawn(async move {
                let mine = Arc::new(AtomicU32::new(0));
                db.in_transaction(move |conn| {
                    let (attempts, barrier, mine) =
                        (attempts.clone(), barrier.clone(), mine.clone());
                    Box::pin(async move {
                        attempts.fetch_add(1, Ordering::SeqCst);
                        let lock = |id: i32| {
                            diesel::sql_query(format!("UPDATE probe SET n = n + 1 WHERE id = {id}"))
                        };
                        lock(first).execute(conn).await?;
                        if mine.fetch_add(1, Ordering::SeqCst) == 0 {
                            barrier.wait().await;
                        }
                        lock(second).execute(conn).await?;
                        Ok::<_, Failure>(())
                    })
                })
                .await
                .map_err(|f| f.into_store().to_string())
            })
        };
        let (a, b) = (run(1, 2), run(2, 1));
        assert_eq!(a.await.expect("task"), Ok(()));
        assert_eq!(b.await.expect("task"), Ok(()));
        assert_eq!(
            AtomicU32::load(&attempts, Ordering::SeqCst),
            3,
            "one of the two ran again"
        );
        let mut conn = db.conn().await.expect("connection");
        #[derive(diesel::QueryableByName)]
        struct Total {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let total: Total = diesel::sql_query("SELECT sum(n)::bigint AS n FROM probe")
            .get_result(&mut conn)
            .await
            .expect("sum");
        assert_eq!(total.n, 4, "each transaction's two updates committed once");
    }
}
