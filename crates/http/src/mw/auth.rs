//! Authentication: the bearer token, the token cache, and the throttle on failed attempts.

use crate::AppState;
use crate::error::ApiError;
use crate::error::Code;
use jobby_domain::model::network::bucket_subject;
use jobby_domain::model::ratelimit::{Decision, RateClass};
use jobby_domain::model::token::TokenPrincipal;
use jobby_domain::ports::BucketKey;
use jobby_domain::usecases::auth::{AuthError, Cached};
use std::net::IpAddr;
use std::sync::Arc;

use super::{Refused, anonymous_quota, limit};

/// The token of an `Authorization: Bearer <token>` value.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The bucket failed authentications are counted in, per client address, across routes.
pub(super) const FAILED_AUTH_ROUTE: &str = "failed-authentication";

pub(super) enum Guarded {
    Auth(AuthError),
    Refused(Refused),
}

/// Authenticates a token: from the in-process cache when warm (no store, no extra limiter
/// call); otherwise only after checking that this address has failed-authentication budget
/// left, so guessing is slowed before any lookup is made.
pub(super) async fn authenticate(
    state: &AppState,
    raw: &str,
    ip: IpAddr,
) -> Result<Arc<TokenPrincipal>, Guarded> {
    match state.auth.cached(raw) {
        Ok(Cached::Hit(p)) => {
            state.metrics.token_cache(true);
            state.auth.note_use(&p, ip);
            return Ok(p);
        }
        Err(e) => return Err(Guarded::Auth(e)),
        // A token valid a moment ago: refresh it without the guessing guard, so a busy
        // shared address cannot lock out the tokens in use behind it.
        Ok(Cached::Refresh) => {
            state.metrics.token_cache(false);
            if !state.auth.hearing() {
                state.metrics.token_cache_unheard.inc();
            }
            return state.auth.lookup(raw, ip).await.map_err(Guarded::Auth);
        }
        Ok(Cached::Miss) => state.metrics.token_cache(false),
    }
    // An unreachable limiter fails open here, as for the anonymous class.
    if let Ok(d) = state
        .limiter
        .peek(&failed_auth_key(ip), anonymous_quota())
        .await
        && !d.allowed
    {
        state.metrics.rate_limited(RateClass::Anonymous.as_str());
        return Err(Guarded::Refused(too_many_failures(d)));
    }
    state.auth.lookup(raw, ip).await.map_err(Guarded::Auth)
}

pub(super) fn failed_auth_key(ip: IpAddr) -> BucketKey {
    BucketKey {
        class: RateClass::Anonymous.as_str(),
        subject: bucket_subject(ip),
        route: FAILED_AUTH_ROUTE.into(),
    }
}

pub(super) fn too_many_failures(d: Decision) -> Refused {
    let err = ApiError::new(
        Code::RateLimited,
        format!(
            "Too many failed authentications from this address; retry in {} s.",
            d.retry_after_secs()
        ),
    );
    Refused {
        error: err,
        decision: Some((RateClass::Anonymous, d)),
    }
}

pub(super) async fn count_failed_auth(state: &AppState, ip: IpAddr, error: ApiError) -> Refused {
    match limit(
        state,
        &failed_auth_key(ip),
        RateClass::Anonymous,
        anonymous_quota(),
    )
    .await
    {
        Ok(Some(d)) if !d.allowed => {
            state.metrics.rate_limited(RateClass::Anonymous.as_str());
            too_many_failures(d)
        }
        Ok(d) => Refused {
            error,
            decision: d.map(|d| (RateClass::Anonymous, d)),
        },
        Err(e) => Refused {
            error: e,
            decision: None,
        },
    }
}
