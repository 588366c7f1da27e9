use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jobby_domain::model::ratelimit::{Decision, Quota, gcra};
use jobby_domain::ports::{BucketKey, Clock, RateLimiter, StoreError, SystemClock};

const PRUNE_AT: usize = 100_000;

/// The rate limiter for a single process: GCRA over an in-process map.
pub struct MemoryRateLimiter {
    buckets: Mutex<HashMap<BucketKey, u64>>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }
}

impl MemoryRateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// A limiter on the given clock (tests freeze it, so limits do not refill mid-test).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemoryRateLimiter {
            buckets: Mutex::new(HashMap::new()),
            clock,
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.clock.now().timestamp_micros()).unwrap_or(0)
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check(&self, key: &BucketKey, quota: Quota) -> Result<Decision, StoreError> {
        let now = self.now_us();
        let mut buckets = self.buckets.lock().expect("limiter lock");
        if buckets.len() >= PRUNE_AT {
            // A bucket whose TAT has passed is as good as absent.
            buckets.retain(|_, tat| *tat > now);
        }
        let tat = buckets.get(key).copied().unwrap_or(0);
        let (decision, new_tat) = gcra(now, tat, quota);
        buckets.insert(key.clone(), new_tat);
        Ok(decision)
    }

    async fn peek(&self, key: &BucketKey, quota: Quota) -> Result<Decision, StoreError> {
        let buckets = self.buckets.lock().expect("limiter lock");
        let tat = buckets.get(key).copied().unwrap_or(0);
        Ok(gcra(self.now_us(), tat, quota).0)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod contract {
    use std::sync::Arc;

    use jobby_domain::ports::RateLimiter;

    async fn fresh() -> Arc<dyn RateLimiter> {
        Arc::new(super::MemoryRateLimiter::new())
    }

    jobby_domain::limiter_contract_tests!(fresh());
}
