//! The Postgres adapter: every store port over diesel + diesel-async (pure Rust, no libpq),
//! a deadpool connection pool, and the embedded migrations of `migrations/`.

#[cfg(test)]
mod races;
mod repo;
mod retry;
mod rows;
pub mod schema;
#[cfg(test)]
mod shares;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::sync::Arc;
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
use jobby_domain::ports::{
    CommitListener, CommitListeners, Database, ReadBody, StoreError, TxBody, TxOutput,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
///
/// Reads outside a transaction (status reads, lists) may hold all but a quarter of the
/// connections (one kept back from a pool of two or more): under a flood of reads, changes
/// still find a connection at once instead of queueing behind them. Transactions (changes,
/// and the outbox feed's reads) and token lookups use the whole pool.
#[derive(Clone)]
pub struct PgDatabase {
    pool: Pool<AsyncPgConnection>,
    reads: Arc<Semaphore>,
    /// Told of every commit that wrote outbox records.
    committed: Arc<CommitListeners>,
}

/// A pooled connection taken for a read, with its place among the reads.
struct ReadConn {
    conn: Object<AsyncPgConnection>,
    _place: OwnedSemaphorePermit,
}

/// Connections reads may hold at once, of a pool of `max_size`.
fn read_share(max_size: usize) -> usize {
    max_size.saturating_sub((max_size / 4).max(1)).max(1)
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
        let reads = Arc::new(Semaphore::new(read_share(pool.status().max_size)));
        PgDatabase {
            pool,
            reads,
            committed: Arc::default(),
        }
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

    /// A connection for a read, within the reads' share of the pool.
    async fn read_conn(&self) -> Result<ReadConn, StoreError> {
        let deadline = tokio::time::Instant::now() + ACQUIRE_TIMEOUT;
        let place =
            match tokio::time::timeout_at(deadline, self.reads.clone().acquire_owned()).await {
                Ok(Ok(place)) => place,
                _ => {
                    return Err(StoreError::Unreachable(
                        "timed out waiting for a postgres connection for a read".into(),
                    ));
                }
            };
        match tokio::time::timeout_at(deadline, self.pool.get()).await {
            Ok(Ok(conn)) => Ok(ReadConn {
                conn,
                _place: place,
            }),
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
    fn on_commit(&self, listener: CommitListener) {
        self.committed.add(listener);
    }

    async fn transaction(&self, body: TxBody) -> TxOutput {
        let body = std::sync::Arc::new(body);
        let (out, named) = self
            .in_transaction(move |conn| {
                let body = body.clone();
                Box::pin(async move {
                    let mut repo = PgRepo::new(conn);
                    let out = body(&mut repo).await.map_err(Failure::Body)?;
                    Ok((out, repo.take_named()))
                })
            })
            .await
            .map_err(Failure::into_tx)?;
        self.committed.tell(&named);
        Ok(out)
    }

    async fn read(&self, body: ReadBody) -> TxOutput {
        let mut read = self.read_conn().await?;
        let mut repo = PgRepo::new(&mut read.conn);
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
}
