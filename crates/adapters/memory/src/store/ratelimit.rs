//! Accounts' own rate limits.

use super::MemRepo;
use async_trait::async_trait;
use jobby_domain::model::ids::UserId;
use jobby_domain::model::ratelimit::RateClass;
use jobby_domain::ports::{RateLimitRepo, StoreError};

#[async_trait]
impl RateLimitRepo for MemRepo<'_> {
    async fn set_rate_limit(
        &mut self,
        user: UserId,
        class: RateClass,
        per_minute: Option<u32>,
    ) -> Result<(), StoreError> {
        self.account(user)?.rate_limits.set(class, per_minute);
        Ok(())
    }
}
