//! Port contract suites. Every adapter runs the same cases against its own implementation
//! (`db_contract_tests!`, `limiter_contract_tests!`), so the memory adapter is trusted only
//! as far as it behaves like Postgres and Redis.

use chrono::{DateTime, Utc};

use crate::model::account::{AccountType, Email, User};
use crate::model::idempotency::IdempotencyScope;
use crate::model::ids::UserId;
use crate::model::profile::Profile;
use crate::model::scopes::Scope;
use crate::model::token::{PlainToken, TokenRecord};
use crate::ports::Db;
use crate::usecases::tokens::MintRequest;

mod accounts;
mod database;
mod idempotency;
mod live;
mod profile;
mod purges;
mod ratelimit;
mod tokens;

pub use accounts::*;
pub use database::*;
pub use idempotency::*;
pub use live::*;
pub use profile::*;
pub use purges::*;
pub use ratelimit::*;
pub use tokens::*;

/// Generates one `#[tokio::test]` per database contract case. `$make` is an async
/// expression yielding a fresh, empty `Arc<dyn Database>`.
#[macro_export]
macro_rules! db_contract_tests {
    ($make:expr) => {
        $crate::db_contract_tests!(@cases $make;
            users_are_unique_by_email, tokens_authenticate_until_revoked_or_expired,
            token_lists_page_newest_first_and_stay_in_tenant, sessions_live_until_expiry_or_logout,
            profile_settings_allowlist_round_trip, a_failed_transaction_writes_nothing,
            idempotency_claims_replays_and_mismatches, idempotency_stale_claims_are_taken_over,
            idempotency_effect_and_response_commit_together, idempotency_refusals_are_saved_server_errors_are_not,
            idempotency_answers_made_after_the_effect_are_saved,
            purges_remove_only_old_rows, rate_limit_overrides_travel_with_the_principal,
            live_queue_places_matches_and_requeues, expiry_requeues_accepters_and_drops_the_rest,
            concurrent_joins_match_exactly_once, old_outbox_records_and_room_tickets_are_purged, an_accepted_match_is_declined_until_it_starts,
            a_decline_after_the_event_ended_sends_nobody_back_to_wait,
            commits_tell_the_accounts_their_outbox_records_name);
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let db = $make.await;
                $crate::contract::$case(db).await;
            }
        )*
    };
}

/// Generates the rate limiter contract cases. `$make` is an async expression yielding a
/// fresh `Arc<dyn RateLimiter>` whose buckets are empty.
#[macro_export]
macro_rules! limiter_contract_tests {
    ($make:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn limiter_allows_the_quota_then_refuses() {
            $crate::contract::limiter_allows_the_quota_then_refuses($make.await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn limiter_buckets_are_independent() {
            $crate::contract::limiter_buckets_are_independent($make.await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn limiter_peeks_without_counting() {
            $crate::contract::limiter_peeks_without_counting($make.await).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn limiter_holds_under_concurrency() {
            $crate::contract::limiter_holds_under_concurrency($make.await).await;
        }
    };
}

fn now() -> DateTime<Utc> {
    // Whole microseconds, as Postgres stores them.
    let n = Utc::now();
    DateTime::from_timestamp_micros(n.timestamp_micros()).expect("valid time")
}

pub fn user(email: &str, account_type: AccountType) -> User {
    User {
        id: UserId::new(),
        email: Email::parse(email).expect("valid email"),
        account_type,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        created_at: now(),
    }
}

pub async fn create_user(db: &Db, email: &str, account_type: AccountType) -> User {
    let u = user(email, account_type);
    let stored = u.clone();
    db.transaction(move |r| {
        Box::pin(async move {
            r.insert_user(
                &stored,
                &Profile {
                    name: "Test".into(),
                    ..Default::default()
                },
            )
            .await
        })
    })
    .await
    .expect("insert user");
    u
}

async fn mint(
    db: &Db,
    owner: &User,
    scopes: &[Scope],
    expires_in_days: Option<i64>,
) -> (PlainToken, TokenRecord) {
    let owner = owner.clone();
    let req = MintRequest {
        name: "ci".into(),
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        expires_in_days,
    };
    db.transaction(move |r| {
        Box::pin(async move { crate::usecases::tokens::mint(r, &owner, req, now()).await })
    })
    .await
    .expect("mint")
}

pub(crate) fn scope_for(u: &User) -> IdempotencyScope {
    IdempotencyScope {
        user_id: u.id,
        key: uuid::Uuid::new_v4(),
    }
}
