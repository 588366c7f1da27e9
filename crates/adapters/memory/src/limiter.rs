use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use jobby_domain::model::ratelimit::{Decision, Quota, gcra};
use jobby_domain::ports::{BucketKey, RateLimiter, StoreError};

const PRUNE_AT: usize = 100_000;

/// The rate limiter for a single process: GCRA over an in-process map.
#[derive(Default)]
pub struct MemoryRateLimiter {
    buckets: Mutex<HashMap<BucketKey, u64>>,
}

impl MemoryRateLimiter {
    pub fn new() -> Self {
        Self::default()
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check(&self, key: &BucketKey, quota: Quota) -> Result<Decision, StoreError> {
        let now = now_us();
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
        Ok(gcra(now_us(), tat, quota).0)
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
