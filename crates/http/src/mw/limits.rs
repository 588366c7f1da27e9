//! Rate limits: the bucket check and the headers that report it.

use crate::AppState;
use crate::error::ApiError;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use jobby_domain::model::ratelimit::{Decision, Quota, RateClass};
use jobby_domain::ports::BucketKey;

pub(super) fn insert(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(HeaderName::from_static(name), v);
    }
}

pub(super) fn add_limit_headers(h: &mut HeaderMap, decision: Option<(RateClass, Decision)>) {
    let Some((class, d)) = decision else { return };
    let now = chrono::Utc::now().timestamp() as u64;
    insert(h, "x-ratelimit-limit", &d.limit.to_string());
    insert(h, "x-ratelimit-remaining", &d.remaining.to_string());
    insert(
        h,
        "x-ratelimit-reset",
        &(now + d.reset_after_secs()).to_string(),
    );
    insert(
        h,
        "ratelimit-policy",
        &format!("\"{class}\";q={};w=60", d.limit),
    );
    insert(
        h,
        "ratelimit",
        &format!("\"{class}\";r={};t={}", d.remaining, d.reset_after_secs()),
    );
    if !d.allowed {
        insert(h, "retry-after", &d.retry_after_secs().to_string());
    }
}

/// Checks the bucket. If the limiter's store is unreachable, `read`/`write`/`anonymous` fail
/// open (logged and counted; no decision, so no rate-limit headers) and `cost` fails closed.
pub(super) fn anonymous_quota() -> Quota {
    Quota::per_minute(RateClass::Anonymous.default_limit())
}

pub(super) async fn limit(
    state: &AppState,
    key: &BucketKey,
    class: RateClass,
    quota: Quota,
) -> Result<Option<Decision>, ApiError> {
    match state.limiter.check(key, quota).await {
        Ok(d) => Ok(Some(d)),
        Err(e) if class.fails_open() => {
            state.metrics.limiter_fail_open.inc();
            tracing::warn!(error = %e, class = class.as_str(), "rate limiter unreachable; failing open");
            Ok(None)
        }
        Err(e) => {
            state.metrics.limiter_fail_closed.inc();
            tracing::error!(error = %e, class = class.as_str(), "rate limiter unreachable; failing closed");
            Err(ApiError::unavailable("The rate limiter"))
        }
    }
}
