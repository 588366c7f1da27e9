//! The shared request pipeline, one file per concern.
//!
//! `observe` (outermost, `observe.rs`): request id, panic → 500, metrics, the access log and
//! the hardening headers; the error envelope for whatever a lower layer answered without one
//! (`envelope.rs`).
//!
//! `admit` (`admit.rs`): a place among the requests served at once, or 503 `SERVER_BUSY`
//! before any work is done (see [`crate::admission`]).
//!
//! `api_gate` (for `/api/v1`, `gate.rs`): the route table lookup, then the body limits
//! (`body.rs`), authentication (`auth.rs`), the rate limit (`limits.rs`), the IP allowlist,
//! the scope and the account type, the `Idempotency-Key` format; it adds rate-limit and
//! deprecation (`deprecation.rs`) headers to every response that reached it.

mod admit;
mod auth;
mod body;
mod deprecation;
mod envelope;
mod gate;
mod limits;
mod observe;

pub use admit::admit;
pub use auth::bearer_token;
use auth::*;
pub use body::payload_too_large;
pub use body::unsupported_media_type;
use body::*;
pub use envelope::routing_path;
pub use envelope::unmatched;
use envelope::*;
pub use gate::api_gate;
use gate::*;
use limits::*;
pub use observe::observe;
use observe::*;

use crate::AppState;
use actix_web::http::Method;
use actix_web::http::header::HeaderName;
use actix_web::{HttpMessage, HttpRequest, web};
use jobby_domain::model::network::client_ip;
use jobby_domain::model::token::TokenPrincipal;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use uuid::Uuid;

/// The request id, in request extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The caller's address after the trusted-proxy rule, in request extensions.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

/// The matched route pattern (or `unmatched`), computed once per request.
#[derive(Clone, Debug)]
pub struct RoutePattern(pub Option<String>);

/// The caller's address as `observe` resolved it (trusted-proxy rule applied).
pub fn caller_ip(req: &HttpRequest) -> IpAddr {
    req.extensions()
        .get::<ClientIp>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0)
}

/// The parsed `Idempotency-Key`, in request extensions.
#[derive(Clone, Copy, Debug)]
pub struct IdempotencyKey(pub Uuid);

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn state_of(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>()
        .expect("AppState is registered")
        .clone()
}

/// The client address of a request, honouring trusted proxies.
pub fn resolve_client_ip(req: &HttpRequest, state: &AppState) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip());
    // Every X-Forwarded-For line, in order: a proxy may add its own line rather than extend
    // the client's, and reading only the first would believe what the client wrote.
    let lines: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    let xff = (!lines.is_empty()).then(|| lines.join(","));
    client_ip(peer, xff.as_deref(), &state.config.trusted_proxies)
}

/// For tests and handlers: the principal the gate stored.
pub fn principal_of(req: &HttpRequest) -> Option<Arc<TokenPrincipal>> {
    req.extensions().get::<Arc<TokenPrincipal>>().cloned()
}

pub fn is_get(m: &Method) -> bool {
    m == Method::GET
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use jobby_domain::model::ratelimit::{Decision, Quota, RateClass};
    use jobby_domain::ports::{BucketKey, Db, RateLimiter, StoreError, SystemClock};

    use super::limit;
    use crate::{AppState, HttpConfig};

    /// A limiter whose store is always unreachable.
    struct Unreachable;

    #[async_trait]
    impl RateLimiter for Unreachable {
        async fn check(&self, _: &BucketKey, _: Quota) -> Result<Decision, StoreError> {
            Err(StoreError::Unavailable("connection refused".into()))
        }
        async fn peek(&self, _: &BucketKey, _: Quota) -> Result<Decision, StoreError> {
            Err(StoreError::Unavailable("connection refused".into()))
        }
        async fn ping(&self) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("connection refused".into()))
        }
    }

    #[tokio::test]
    async fn an_unreachable_limiter_fails_open_except_for_cost() {
        let db = Db::new(Arc::new(jobby_memory::MemoryDatabase::new()));
        let config = HttpConfig::new("http://x");
        let video = jobby_local::LocalRooms::new();
        let state = AppState::new(
            db,
            Arc::new(Unreachable),
            video,
            Arc::new(SystemClock),
            config,
            crate::TokenCache::default(),
        );
        for class in [RateClass::Read, RateClass::Write, RateClass::Anonymous] {
            let key = BucketKey {
                class: class.as_str(),
                subject: "tok_x".into(),
                route: "GET /x".into(),
            };
            assert_eq!(
                limit(&state, &key, class, Quota::per_minute(1))
                    .await
                    .unwrap(),
                None,
                "{class} fails open"
            );
        }
        assert_eq!(state.metrics.limiter_fail_open.get(), 3);
        let key = BucketKey {
            class: "cost",
            subject: "tok_x".into(),
            route: "GET /x".into(),
        };
        let err = limit(&state, &key, RateClass::Cost, Quota::per_minute(3))
            .await
            .unwrap_err();
        assert_eq!(err.status.as_u16(), 503);
        assert_eq!(err.code, "DEPENDENCY_UNAVAILABLE");
        assert_eq!(state.metrics.limiter_fail_closed.get(), 1);
    }
}
