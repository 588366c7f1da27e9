//! Rate limits: the limiter and accounts' own limits.

use crate::model::ids::UserId;
use crate::model::ratelimit::{Decision, Quota, RateClass};
use async_trait::async_trait;

use super::StoreError;

/// Accounts' own rate limits, stored with the account.
#[async_trait]
pub trait RateLimitRepo: Send {
    /// Sets (or with `None` clears) an account's own limit for a rate-limit class.
    async fn set_rate_limit(
        &mut self,
        user: UserId,
        class: RateClass,
        per_minute: Option<u32>,
    ) -> Result<(), StoreError>;
}

/// Which bucket a request is counted in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BucketKey {
    /// The class name (`read`, `write`, `cost`, `anonymous`).
    pub class: &'static str,
    /// Who: `tok_…` for a token, `ip:…` for anonymous callers.
    pub subject: String,
    /// Which route (method and pattern).
    pub route: String,
}

impl BucketKey {
    pub fn to_key_string(&self) -> String {
        format!("rl:{}:{}:{}", self.class, self.subject, self.route)
    }
}

/// Counts requests against quotas. `check` is one atomic check-and-count.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    async fn check(&self, key: &BucketKey, quota: Quota) -> Result<Decision, StoreError>;
    /// The decision `check` would make now, without counting the request.
    async fn peek(&self, key: &BucketKey, quota: Quota) -> Result<Decision, StoreError>;
    /// Answers when the limiter's store is reachable.
    async fn ping(&self) -> Result<(), StoreError>;
}
