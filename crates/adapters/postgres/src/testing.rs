//! Test databases: a template database migrated once per migration set, cloned into a fresh,
//! empty database for every test (`CREATE DATABASE … TEMPLATE …` is a file copy, far faster
//! than migrating).
//!
//! `JOBBY_TEST_DATABASE_URL` names a Postgres role allowed to create databases (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When Postgres cannot be reached, a test
//! fails if `JOBBY_REQUIRE_SERVICES=1` and otherwise skips with a `SKIPPED:` line on stderr.
//!
//! Safe under parallel test processes (nextest): the template is built under a Postgres
//! advisory lock, under a temporary name that is renamed only once it is complete.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel::sql_types as st;
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use tokio::sync::OnceCell;
use uuid::Uuid;

pub const DATABASE_URL_VAR: &str = "JOBBY_TEST_DATABASE_URL";
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const REQUIRE_SERVICES_VAR: &str = "JOBBY_REQUIRE_SERVICES";

/// Prefix of the per-test clones; the rest of the name is a UUID v7, so its age is known.
pub const CLONE_PREFIX: &str = "jobby_t_";
const TEMPLATE_PREFIX: &str = "jobby_template_";
/// Held while the template is checked, built, and old databases are cleaned up.
const TEMPLATE_LOCK: i64 = 0x6a6f_6262_795f_7470;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Clones older than this are left over from earlier runs and are dropped.
const STALE_CLONE_AGE: Duration = Duration::from_secs(60 * 60);

/// Why no test database could be made.
#[derive(Clone, Debug, thiserror::Error)]
pub enum TestDbError {
    #[error("postgres unreachable at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("preparing a test database failed: {0}")]
    Failed(String),
}

fn failed(e: impl std::fmt::Display) -> TestDbError {
    TestDbError::Failed(e.to_string())
}

/// Whether tests must fail, rather than skip, when a service is unreachable.
pub fn services_required() -> bool {
    std::env::var(REQUIRE_SERVICES_VAR).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// The administrative URL test databases are created through.
pub fn admin_url() -> String {
    std::env::var(DATABASE_URL_VAR)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}

/// The template for the migrations this crate embeds.
pub fn template_name() -> String {
    format!("{TEMPLATE_PREFIX}{}", env!("JOBBY_MIGRATIONS_HASH"))
}

/// `url` with its database name replaced by `database` (the query string is kept).
pub fn database_url(url: &str, database: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let (scheme, rest) = url.split_at(authority_start);
    let (before_query, query) = rest.split_at(rest.find('?').unwrap_or(rest.len()));
    let authority = before_query.split('/').next().unwrap_or_default();
    format!("{scheme}{authority}/{database}{query}")
}

/// A new, migrated, empty database of its own; returns its URL.
pub async fn try_fresh_database_url() -> Result<String, TestDbError> {
    static TEMPLATE: OnceCell<Result<String, TestDbError>> = OnceCell::const_new();
    let admin = admin_url();
    let template = TEMPLATE
        .get_or_init(|| prepare_template(admin.clone()))
        .await
        .clone()?;
    let name = format!("{CLONE_PREFIX}{}", Uuid::now_v7().simple());
    let mut conn = connect_admin(&admin).await?;
    let create = format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#);
    if let Err(first) = conn.batch_execute(&create).await {
        // Another checkout with other migrations may have cleaned our template up: rebuild
        // it and try once more.
        tracing::warn!(error = %first, "cloning the test template failed; rebuilding it");
        let template = prepare_template(admin.clone()).await?;
        let create = format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#);
        conn.batch_execute(&create)
            .await
            .map_err(|e| failed(format_args!("{create}: {e} (first attempt: {first})")))?;
    }
    Ok(database_url(&admin, &name))
}

/// Like [`try_fresh_database_url`], panicking with a clear message when it fails.
pub async fn fresh_database_url() -> String {
    match try_fresh_database_url().await {
        Ok(url) => url,
        Err(e) => panic!(
            "{e} (set {DATABASE_URL_VAR} to the URL of a Postgres role that may create databases)"
        ),
    }
}

/// A fresh database URL, or `None` after printing `SKIPPED: postgres unreachable` when
/// Postgres cannot be reached and [`services_required`] is false. Panics on anything else.
pub async fn fresh_database_url_or_skip() -> Option<String> {
    match try_fresh_database_url().await {
        Ok(url) => Some(url),
        Err(e @ TestDbError::Unreachable { .. }) if !services_required() => {
            eprintln!(
                "SKIPPED: postgres unreachable ({e}); set {REQUIRE_SERVICES_VAR}=1 to make this a failure"
            );
            None
        }
        Err(e) => panic!(
            "{e} (set {DATABASE_URL_VAR} to the URL of a Postgres role that may create databases)"
        ),
    }
}

async fn connect_admin(url: &str) -> Result<AsyncPgConnection, TestDbError> {
    let unreachable = |reason: String| TestDbError::Unreachable {
        url: url.to_owned(),
        reason,
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, AsyncPgConnection::establish(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!("no answer within {CONNECT_TIMEOUT:?}"))),
    }
}

#[derive(QueryableByName)]
struct DatabaseName {
    #[diesel(sql_type = st::Text)]
    datname: String,
}

/// Makes sure the template for the current migrations exists, under the advisory lock.
async fn prepare_template(admin: String) -> Result<String, TestDbError> {
    let template = template_name();
    let mut conn = connect_admin(&admin).await?;
    sql_query("SELECT pg_advisory_lock($1)")
        .bind::<st::BigInt, _>(TEMPLATE_LOCK)
        .execute(&mut conn)
        .await
        .map_err(failed)?;
    let result = prepare_locked(&mut conn, &admin, &template).await;
    let unlocked = sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<st::BigInt, _>(TEMPLATE_LOCK)
        .execute(&mut conn)
        .await;
    result?;
    unlocked.map_err(failed)?;
    Ok(template)
}

async fn prepare_locked(
    conn: &mut AsyncPgConnection,
    admin: &str,
    template: &str,
) -> Result<(), TestDbError> {
    let names: Vec<String> =
        sql_query(r"SELECT datname FROM pg_database WHERE datname LIKE 'jobby\_%'")
            .load::<DatabaseName>(conn)
            .await
            .map_err(failed)?
            .into_iter()
            .map(|d| d.datname)
            .collect();

    if !names.iter().any(|n| n == template) {
        let building = format!("{template}_building");
        conn.batch_execute(&format!(
            r#"DROP DATABASE IF EXISTS "{building}" WITH (FORCE)"#
        ))
        .await
        .map_err(failed)?;
        conn.batch_execute(&format!(r#"CREATE DATABASE "{building}""#))
            .await
            .map_err(failed)?;
        crate::run_migrations(&database_url(admin, &building))
            .await
            .map_err(failed)?;
        conn.batch_execute(&format!(
            r#"ALTER DATABASE "{building}" RENAME TO "{template}""#
        ))
        .await
        .map_err(failed)?;
        // Nobody connects to the template, so cloning it never finds it busy.
        conn.batch_execute(&format!(
            r#"ALTER DATABASE "{template}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"#
        ))
        .await
        .map_err(failed)?;
        // Templates of other migration sets are no longer needed.
        for old in names
            .iter()
            .filter(|n| n.starts_with(TEMPLATE_PREFIX) && *n != template)
        {
            let _ = conn
                .batch_execute(&format!(r#"ALTER DATABASE "{old}" WITH IS_TEMPLATE false"#))
                .await;
            if let Err(e) = conn
                .batch_execute(&format!(r#"DROP DATABASE IF EXISTS "{old}" WITH (FORCE)"#))
                .await
            {
                tracing::warn!(database = %old, error = %e, "could not drop an old test template");
            }
        }
    }

    // Clones left over from earlier runs.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    for name in &names {
        let Some(age) = clone_age(name, now) else {
            continue;
        };
        if age > STALE_CLONE_AGE
            && let Err(e) = conn
                .batch_execute(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                .await
        {
            tracing::warn!(database = %name, error = %e, "could not drop an old test database");
        }
    }
    Ok(())
}

/// The age of a per-test clone, from the UUID v7 in its name.
fn clone_age(name: &str, now: Duration) -> Option<Duration> {
    let uuid = Uuid::try_parse(name.strip_prefix(CLONE_PREFIX)?).ok()?;
    let (secs, nanos) = uuid.get_timestamp()?.to_unix();
    now.checked_sub(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_swap_only_the_name() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            database_url("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            database_url("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
        assert_eq!(
            database_url("postgres://h?application_name=t", "x"),
            "postgres://h/x?application_name=t"
        );
    }

    #[test]
    fn clone_ages_come_from_the_name() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let name = format!("{CLONE_PREFIX}{}", Uuid::now_v7().simple());
        assert!(clone_age(&name, now + Duration::from_secs(10)).unwrap() >= Duration::from_secs(9));
        assert_eq!(clone_age("jobby_template_0123", now), None);
        assert_eq!(clone_age("jobby_t_nonsense", now), None);
    }
}
