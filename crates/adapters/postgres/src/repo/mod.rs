//! Every [`Repo`](jobby_domain::ports::Repo) port over one connection, one file per aggregate
//! port: inside a transaction when [`crate::PgDatabase`] opened one, statement by statement
//! otherwise. Rows and their conversions are beside, in `crate::rows`.

mod accounts;
mod events;
mod idempotency;
mod matches;
mod outbox;
mod profile;
mod queue;
mod ratelimit;
mod tokens;

use diesel_async::AsyncPgConnection;
use jobby_domain::model::ids::UserId;
use jobby_domain::ports::StoreError;

/// The repository over a borrowed connection.
pub struct PgRepo<'c> {
    conn: &'c mut AsyncPgConnection,
    /// The accounts named by the outbox records written through this repo.
    named: Vec<UserId>,
}

impl<'c> PgRepo<'c> {
    pub fn new(conn: &'c mut AsyncPgConnection) -> Self {
        PgRepo {
            conn,
            named: vec![],
        }
    }

    /// The accounts named by the outbox records written through this repo.
    pub fn take_named(&mut self) -> Vec<UserId> {
        std::mem::take(&mut self.named)
    }
}

fn no_account(user: UserId) -> StoreError {
    StoreError::Unavailable(format!("no account {user}"))
}
