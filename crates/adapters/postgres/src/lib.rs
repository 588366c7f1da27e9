//! The Postgres adapter: every store port over diesel + diesel-async (pure Rust, no libpq),
//! a deadpool connection pool, and the embedded migrations of `migrations/`.

mod repo;
mod retry;
mod rows;
pub mod schema;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types as st;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use jobby_domain::model::idempotency::{Claim, Fingerprint, IdempotencyScope, SavedResponse};
use jobby_domain::model::token::{TokenHash, TokenPrincipal, TokenUse};
use jobby_domain::ports::{Database, ReadBody, StoreError, TxBody, TxOutput};

pub use repo::PgRepo;
use rows::idempotency::IdempotencyRow;
use rows::tokens::PrincipalRow;
use rows::{Failure, corrupt, store_err};
use schema::idempotency_keys;

/// The migrations of `migrations/`, embedded at build time.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../../migrations");

/// The advisory lock held while migrations run, so processes starting together take turns.
const MIGRATION_LOCK: i64 = 0x6a6f_6262_795f_6d67;

/// How long a request waits for a pooled connection before the store counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the store could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("building the Postgres connection pool: {0}")]
    Pool(String),
    #[error("connecting to Postgres: {0}")]
    Connect(String),
    #[error("running the Postgres migrations: {0}")]
    Migrations(String),
}

/// Every store port over one Postgres connection pool.
#[derive(Clone)]
pub struct PgDatabase {
    pool: Pool<AsyncPgConnection>,
}

/// Builds a pool of at most `max_size` connections and checks that Postgres answers.
pub async fn connect(database_url: &str, max_size: usize) -> Result<PgDatabase, SetupError> {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(database_url);
    let pool = Pool::builder(manager)
        .max_size(max_size.max(1))
        .build()
        .map_err(|e| SetupError::Pool(e.to_string()))?;
    let db = PgDatabase::new(pool);
    db.ping()
        .await
        .map_err(|e| SetupError::Connect(e.to_string()))?;
    Ok(db)
}

/// Applies the pending migrations. Safe to call from several processes at once: they take
/// turns under a Postgres advisory lock, and the later ones find nothing left to do.
pub async fn run_migrations(database_url: &str) -> Result<(), SetupError> {
    let url = database_url.to_owned();
    // diesel's migration harness is synchronous; run it on a blocking thread over a wrapped
    // async connection (works on either tokio runtime flavour).
    tokio::task::spawn_blocking(move || -> Result<(), SetupError> {
        let mut conn =
            <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)
                .map_err(|e| SetupError::Connect(e.to_string()))?;
        let lock = |conn: &mut AsyncConnectionWrapper<AsyncPgConnection>, f: &str| {
            diesel::RunQueryDsl::execute(
                diesel::sql_query(format!("SELECT {f}($1)")).bind::<st::BigInt, _>(MIGRATION_LOCK),
                conn,
            )
            .map_err(|e| SetupError::Migrations(format!("{f}: {e}")))
        };
        lock(&mut conn, "pg_advisory_lock")?;
        let applied: Result<Vec<String>, SetupError> = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| SetupError::Migrations(e.to_string()));
        let unlocked = lock(&mut conn, "pg_advisory_unlock");
        for version in applied? {
            tracing::info!(%version, "applied migration");
        }
        unlocked.map(|_| ())
    })
    .await
    .map_err(|e| SetupError::Migrations(format!("migration task failed: {e}")))?
}

impl PgDatabase {
    /// Wraps an existing pool.
    pub fn new(pool: Pool<AsyncPgConnection>) -> Self {
        PgDatabase { pool }
    }

    pub fn pool(&self) -> &Pool<AsyncPgConnection> {
        &self.pool
    }

    async fn conn(&self) -> Result<Object<AsyncPgConnection>, StoreError> {
        match tokio::time::timeout(ACQUIRE_TIMEOUT, self.pool.get()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(StoreError::Unreachable(format!("postgres connection: {e}"))),
            Err(_) => Err(StoreError::Unreachable(
                "timed out waiting for a postgres connection".into(),
            )),
        }
    }
}

/// Finds a token that is neither revoked nor expired and returns what the edge needs of it
/// and its owner: one statement, a read.
const FIND_TOKEN: &str = "\
SELECT t.id, t.user_id, u.account_type, t.scopes, t.expires_at, u.ip_allowlist, \
  ARRAY(SELECT o.class || '=' || o.per_minute FROM rate_limit_overrides AS o WHERE o.user_id = u.id) AS rate_limits \
FROM api_tokens AS t JOIN users AS u ON u.id = t.user_id \
WHERE t.token_hash = $2 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $1)";

/// Records a batch of token uses; an older use than the one recorded changes nothing.
const RECORD_TOKEN_USES: &str = "\
UPDATE api_tokens AS t SET last_used_at = u.at, last_used_ip = u.ip \
FROM unnest($1::uuid[], $2::timestamptz[], $3::text[]) AS u(id, at, ip) \
WHERE t.id = u.id AND (t.last_used_at IS NULL OR t.last_used_at < u.at)";

#[async_trait]
impl Database for PgDatabase {
    async fn transaction(&self, body: TxBody) -> TxOutput {
        let body = std::sync::Arc::new(body);
        self.in_transaction(move |conn| {
            let body = body.clone();
            Box::pin(async move {
                let mut repo = PgRepo::new(conn);
                body(&mut repo).await.map_err(Failure::Body)
            })
        })
        .await
        .map_err(Failure::into_tx)
    }

    async fn read(&self, body: ReadBody) -> TxOutput {
        let mut conn = self.conn().await?;
        let mut repo = PgRepo::new(&mut conn);
        body(&mut repo).await
    }

    async fn find_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenPrincipal>, StoreError> {
        let mut conn = self.conn().await?;
        let row: Option<PrincipalRow> = diesel::sql_query(FIND_TOKEN)
            .bind::<st::Timestamptz, _>(now)
            .bind::<st::Bytea, _>(&hash.0[..])
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(store_err)?;
        row.map(PrincipalRow::into_principal).transpose()
    }

    async fn record_token_uses(&self, uses: &[TokenUse]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        let ids: Vec<uuid::Uuid> = uses.iter().map(|u| u.token_id.uuid()).collect();
        let ats: Vec<DateTime<Utc>> = uses.iter().map(|u| u.at).collect();
        let ips: Vec<&str> = uses.iter().map(|u| u.ip.as_str()).collect();
        let mut conn = self.conn().await?;
        diesel::sql_query(RECORD_TOKEN_USES)
            .bind::<st::Array<st::Uuid>, _>(ids)
            .bind::<st::Array<st::Timestamptz>, _>(ats)
            .bind::<st::Array<st::Text>, _>(ips)
            .execute(&mut conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn claim_idempotency(
        &self,
        scope: &IdempotencyScope,
        fp: &Fingerprint,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let (scope, fp) = (*scope, *fp);
        self.in_transaction(move |conn| Box::pin(claim(conn, scope, fp, now, stale_before)))
            .await
            .map_err(Failure::into_store)
    }

    async fn release_idempotency(
        &self,
        scope: &IdempotencyScope,
        claimed_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::delete(
            idempotency_keys::table
                .filter(idempotency_keys::user_id.eq(scope.user_id.uuid()))
                .filter(idempotency_keys::key.eq(scope.key))
                .filter(idempotency_keys::response_status.is_null())
                .filter(idempotency_keys::created_at.eq(claimed_at)),
        )
        .execute(&mut conn)
        .await
        .map_err(store_err)?;
        Ok(())
    }

    async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        let n =
            diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(before)))
                .execute(&mut conn)
                .await
                .map_err(store_err)?;
        Ok(n as u64)
    }

    async fn purge_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        use schema::sessions;
        let mut conn = self.conn().await?;
        let n = diesel::delete(sessions::table.filter(sessions::expires_at.lt(before)))
            .execute(&mut conn)
            .await
            .map_err(store_err)?;
        Ok(n as u64)
    }

    async fn purge_outbox(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        let n = diesel::sql_query(
            "DELETE FROM outbox WHERE created_at < $1 AND id < (SELECT max(id) FROM outbox)",
        )
        .bind::<st::Timestamptz, _>(before)
        .execute(&mut conn)
        .await
        .map_err(store_err)?;
        Ok(n as u64)
    }

    async fn purge_room_tickets(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        use schema::room_tickets;
        let mut conn = self.conn().await?;
        let n = diesel::delete(room_tickets::table.filter(room_tickets::expires_at.lt(before)))
            .execute(&mut conn)
            .await
            .map_err(store_err)?;
        Ok(n as u64)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::sql_query("SELECT 1")
            .execute(&mut conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }
}

/// The claim, inside its own transaction: insert the key, or lock the existing row and
/// decide as the rule says (mismatch, replay, in use, or take over a stale claim).
async fn claim(
    conn: &mut AsyncPgConnection,
    scope: IdempotencyScope,
    fp: Fingerprint,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> Result<Claim, Failure> {
    use idempotency_keys::dsl as k;
    let this_key = || {
        k::idempotency_keys
            .filter(k::user_id.eq(scope.user_id.uuid()))
            .filter(k::key.eq(scope.key))
    };
    // The row may be deleted (released, purged) between the insert and the lock; then the
    // insert is tried again with a fresh snapshot.
    for _ in 0..3 {
        let inserted = diesel::insert_into(k::idempotency_keys)
            .values((
                k::user_id.eq(scope.user_id.uuid()),
                k::key.eq(scope.key),
                k::fingerprint.eq(&fp.0[..]),
                k::created_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if inserted == 1 {
            return Ok(Claim::Fresh);
        }
        let row: Option<IdempotencyRow> = this_key()
            .select(IdempotencyRow::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some(row) = row else { continue };
        if row.fingerprint != fp.0 {
            return Ok(Claim::Mismatch);
        }
        if let Some(status) = row.response_status {
            let status = u16::try_from(status)
                .map_err(|_| Failure::Store(corrupt(format_args!("response status {status}"))))?;
            let response = SavedResponse {
                status,
                content_type: row.response_content_type.unwrap_or_default(),
                body: row.response_body.unwrap_or_default(),
            };
            return Ok(Claim::Replay(response));
        }
        if row.created_at >= stale_before {
            return Ok(Claim::InUse);
        }
        // The claim went stale (its holder died before committing anything): take it over.
        diesel::update(this_key())
            .set((k::fingerprint.eq(&fp.0[..]), k::created_at.eq(now)))
            .execute(conn)
            .await?;
        return Ok(Claim::Fresh);
    }
    Err(Failure::Store(StoreError::Unavailable(
        "idempotency key kept changing under the claim".into(),
    )))
}

#[cfg(test)]
mod contract {
    use std::sync::Arc;

    use jobby_domain::ports::Database;

    /// A fresh database cloned from the migrated template, or `None` when Postgres is
    /// unreachable and the services are not required (the test then skips, loudly).
    async fn fresh_db() -> Option<Arc<dyn Database>> {
        let url = crate::testing::fresh_database_url_or_skip().await?;
        let db = crate::connect(&url, 4)
            .await
            .expect("connect to the fresh test database");
        Some(Arc::new(db))
    }

    jobby_domain::db_contract_tests!(match fresh_db().await {
        Some(db) => std::future::ready(db),
        None => return,
    });

    /// Two live events share an interviewer. While another event's matching holds that
    /// interviewer (locked, seated, not yet committed), a join here plans them first, finds
    /// them taken when the claim is granted, and plans again: the seeker gets the other free
    /// seat instead of waiting beside it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_seat_taken_by_another_event_mid_plan_is_replaced_not_skipped() {
        use std::time::Duration;

        use diesel::sql_types::Uuid as SqlUuid;
        use diesel::{QueryableByName, sql_query};
        use diesel_async::{
            AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
        };
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
        use diesel_async::{
            AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
        };
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
        let next_entry: Vec<Entry> =
            sql_query("SELECT state FROM queue_entries WHERE seeker_id = $1")
                .bind::<SqlUuid, _>(next)
                .load(&mut admin)
                .await
                .unwrap();
        assert_eq!(
            next_entry[0].state, "matched",
            "B's next seeker gets the interviewer the leave freed"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn migrations_run_twice_concurrently_and_revert() {
        use diesel_migrations::MigrationHarness;
        let Some(url) = crate::testing::fresh_database_url_or_skip().await else {
            return;
        };
        // The clone is already migrated; running again (twice at once) finds nothing to do.
        let (a, b) = tokio::join!(crate::run_migrations(&url), crate::run_migrations(&url));
        a.unwrap();
        b.unwrap();
        // Every down.sql works and every up.sql applies again after it.
        let url2 = url.clone();
        tokio::task::spawn_blocking(move || {
            use diesel::Connection;
            let mut conn = diesel_async::async_connection_wrapper::AsyncConnectionWrapper::<
                diesel_async::AsyncPgConnection,
            >::establish(&url2)
            .unwrap();
            conn.revert_all_migrations(crate::MIGRATIONS).unwrap();
            assert!(conn.has_pending_migration(crate::MIGRATIONS).unwrap());
        })
        .await
        .unwrap();
        crate::run_migrations(&url).await.unwrap();
        let db = crate::connect(&url, 1).await.unwrap();
        jobby_domain::ports::Database::ping(&db).await.unwrap();
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
        use diesel_async::{
            AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
        };
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
        use diesel_async::{
            AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
        };
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
            db.transaction(move |r| {
                Box::pin(async move { events::end(r, owner_id, event, at).await })
            })
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
}
