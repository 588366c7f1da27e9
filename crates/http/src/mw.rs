//! The shared request pipeline.
//!
//! `observe` (outermost): request id, panic → 500, the error envelope for whatever a lower
//! layer answered without one, metrics and the access log.
//!
//! `api_gate` (for `/api/v1`): the route table lookup, then authentication, the rate limit,
//! the IP allowlist, the scope and the account type, the `Idempotency-Key` format; it adds
//! rate-limit and deprecation headers to every response that reached it.

use crate::error::Code;
use std::net::{IpAddr, Ipv4Addr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody, to_bytes_limited};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::FutureExt;
use jobby_domain::model::idempotency;
use jobby_domain::model::network::{allowed, bucket_subject, client_ip};
use jobby_domain::model::ratelimit::{Decision, Quota, RateClass};
use jobby_domain::model::token::TokenPrincipal;
use jobby_domain::ports::BucketKey;
use jobby_domain::usecases::auth::{AuthError, Cached};
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::routes::{self, Access, RouteSpec};
use crate::{AppState, MAX_BODY_BYTES};

/// The request id, in request extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The caller's address after the trusted-proxy rule, in request extensions.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

/// The matched route pattern (or `unmatched`), computed once per request.
#[derive(Clone, Debug)]
pub struct RoutePattern(pub Option<String>);

/// The token of an `Authorization: Bearer <token>` value.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

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

fn sane_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| s.to_owned())
}

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

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(X_REQUEST_ID)
        .and_then(sane_request_id)
        .unwrap_or_else(|| format!("req_{}", Uuid::now_v7().simple()));
    let state = state_of(req.request());
    let ip = resolve_client_ip(req.request(), &state);
    req.extensions_mut().insert(RequestId(request_id.clone()));
    req.extensions_mut().insert(ClientIp(ip));
    let method = metric_method(req.method()).to_owned();
    let path = req.path().to_owned();
    let pattern = route_pattern(req.request());
    let route = pattern.clone().unwrap_or_else(|| "unmatched".to_owned());
    req.extensions_mut().insert(RoutePattern(pattern));

    let result = AssertUnwindSafe(next.call(req)).catch_unwind().await;
    let mut res = match result {
        Ok(Ok(res)) => res.map_into_boxed_body(),
        Ok(Err(err)) => ServiceResponse::new(detached_request(), err.error_response()),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned());
            tracing::error!(
                request_id,
                panic = what.as_deref().unwrap_or("non-string panic"),
                "handler panicked"
            );
            ServiceResponse::new(detached_request(), ApiError::internal().error_response())
        }
    };
    res = envelope_unless_enveloped(res, &request_id, &path).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(X_REQUEST_ID, v);
    }
    hardening_headers(res.headers_mut());
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    state
        .metrics
        .observe(&method, &route, status, elapsed.as_secs_f64());
    tracing::info!(request_id, %method, path, route, status, ip = %ip, ms = elapsed.as_secs_f64() * 1000.0, "request");
    Ok(res)
}

/// On every response: browsers never guess a content type, and never send a page's URL (one
/// that may hold a one-time secret, like a room link) to another origin.
fn hardening_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// A request to pair with a response built after the real request was consumed by a failed
/// or panicked inner service. The request must not be cloned before routing (actix needs
/// it unshared to record path parameters), and nothing downstream of `observe` reads it.
fn detached_request() -> HttpRequest {
    actix_web::test::TestRequest::default().to_http_request()
}

/// The method as a metrics label: the standard ones, or `OTHER` (labels must stay bounded).
fn metric_method(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Gives every error answer the envelope: framework errors (404, 405, 413, 415, bad query)
/// arrive as plain text; 500s are replaced whatever they said, so nothing internal leaks and
/// the request id is included. HTML pages (account, rooms) keep their own error pages.
async fn envelope_unless_enveloped(
    res: ServiceResponse<BoxBody>,
    request_id: &str,
    path: &str,
) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let is_html_page = !path.starts_with("/api/")
        && res
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        let err = ApiError::internal().with_details(json!({ "request_id": request_id }));
        return rebuild(res, err);
    }
    if is_json || is_html_page {
        return res;
    }
    let err = match status {
        StatusCode::NOT_FOUND => ApiError::not_found(),
        StatusCode::PAYLOAD_TOO_LARGE => payload_too_large(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => unsupported_media_type(),
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::new(Code::MethodNotAllowed, "This method is not allowed here.")
        }
        s if s == StatusCode::BAD_REQUEST => {
            let (req, resp) = res.into_parts();
            let detail = to_bytes_limited(resp.into_body(), 4096)
                .await
                .ok()
                .and_then(Result::ok)
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            let err = ApiError::new(
                Code::Validation,
                detail
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| "The request is malformed.".into()),
            );
            return ServiceResponse::new(req, err.error_response());
        }
        s if s.is_server_error() => ApiError::unavailable("A dependency"),
        // Another refusal of the framework's (a header or URI too long, …): its status
        // stays, under the code of a request that failed a check.
        s => ApiError::new(
            Code::Validation,
            s.canonical_reason()
                .unwrap_or("The request was refused.")
                .to_owned(),
        )
        .with_status(s),
    };
    rebuild(res, err)
}

fn rebuild(res: ServiceResponse<BoxBody>, err: ApiError) -> ServiceResponse<BoxBody> {
    let (req, old) = res.into_parts();
    let mut new = err.error_response();
    // Keep the headers set on the way out (rate limits, Allow, Retry-After, deprecation).
    for (k, v) in old.headers() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            new.headers_mut().insert(k.clone(), v.clone());
        }
    }
    ServiceResponse::new(req, new)
}

pub fn payload_too_large() -> ApiError {
    ApiError::new(
        Code::PayloadTooLarge,
        format!(
            "The request body is larger than {} KiB.",
            MAX_BODY_BYTES / 1024
        ),
    )
}

pub fn unsupported_media_type() -> ApiError {
    ApiError::new(
        Code::UnsupportedMediaType,
        "Send the body as application/json.",
    )
}

/// The path the router matches on: percent-decoded (except the reserved characters), so
/// `/%61pi/v1/profile` is seen as the `/api/v1/profile` it routes to.
pub fn routing_path(req: &HttpRequest) -> &str {
    req.match_info().as_str()
}

/// The route pattern the router will pick for this request's path, if any.
fn route_pattern(req: &HttpRequest) -> Option<String> {
    req.resource_map().match_pattern(routing_path(req))
}

/// The default service: 405 with `Allow` when the path exists under another method, else 404.
pub async fn unmatched(req: HttpRequest) -> HttpResponse {
    let methods = routes::methods_for_path(routing_path(&req));
    if methods.is_empty() {
        return ApiError::not_found().error_response();
    }
    ApiError::new(
        Code::MethodNotAllowed,
        format!(
            "{} is not allowed here; use {}.",
            req.method(),
            methods.join(", ")
        ),
    )
    .with_header(header::ALLOW, methods.join(", "))
    .error_response()
}

/// What the gate found for a request it let through.
struct Passed {
    principal: Option<Arc<TokenPrincipal>>,
    decision: Option<(RateClass, Decision)>,
}

/// A refusal, with the bucket it was counted in (for the rate-limit headers).
struct Refused {
    error: ApiError,
    decision: Option<(RateClass, Decision)>,
}

pub async fn api_gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !routing_path(req.request()).starts_with("/api/") {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let pattern = match req.extensions().get::<RoutePattern>() {
        Some(p) => p.0.clone(),
        None => route_pattern(req.request()),
    };
    let Some(spec) = pattern
        .as_deref()
        .and_then(|p| routes::find(req.method(), p))
    else {
        if let Some(p) = &pattern
            && !routes::ROUTES.iter().any(|r| r.path == p)
        {
            // A handler is registered for a path the route table does not know: it
            // would run without authentication or limits. Refuse loudly.
            tracing::error!(pattern = %p, "route served without a route-table entry");
            return Ok(req.into_response(ApiError::internal().error_response()));
        }
        // A known path under a method the table does not list (405), or no route (404):
        // answered here, so nothing under /api/ reaches a handler without the gate.
        let resp = unmatched(req.request().clone()).await;
        return Ok(req.into_response(resp));
    };
    let state = state_of(req.request());
    let ip = caller_ip(req.request());

    let mut res = match gate(&state, spec, &req, ip).await {
        Err(refused) => {
            let mut res = req.into_response(refused.error.error_response());
            add_limit_headers(res.headers_mut(), refused.decision);
            res
        }
        Ok(passed) => {
            if let Some(p) = passed.principal {
                req.extensions_mut().insert(p);
            }
            let mut res = match next.call(req).await {
                Ok(r) => r.map_into_boxed_body(),
                Err(e) => ServiceResponse::new(detached_request(), e.error_response()),
            };
            add_limit_headers(res.headers_mut(), passed.decision);
            res
        }
    };
    if let Some(dep) = spec.deprecation {
        let h = res.headers_mut();
        insert(h, "deprecation", &format!("@{}", dep.since));
        insert(h, "sunset", dep.sunset);
        insert(
            h,
            "link",
            &format!(
                "<{}{}>; rel=\"deprecation\"",
                state.config.public_url.trim_end_matches('/'),
                dep.link
            ),
        );
    }
    Ok(res)
}

fn insert(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(HeaderName::from_static(name), v);
    }
}

fn add_limit_headers(h: &mut HeaderMap, decision: Option<(RateClass, Decision)>) {
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

/// The bucket failed authentications are counted in, per client address, across routes.
const FAILED_AUTH_ROUTE: &str = "failed-authentication";

async fn gate(
    state: &AppState,
    spec: &'static RouteSpec,
    req: &ServiceRequest,
    ip: IpAddr,
) -> Result<Passed, Refused> {
    // Cheap refusals first: they need no store.
    if let Some(err) = body_refusal(spec, req.headers()) {
        return Err(Refused {
            error: err,
            decision: None,
        });
    }
    let authorization = req.headers().get(header::AUTHORIZATION);
    // A human-only act: a token is never looked at, whatever it is.
    let human_only_with_token = spec.access == Access::Session && authorization.is_some();
    let principal = match authorization {
        None if matches!(spec.access, Access::Public | Access::Session) => None,
        Some(_) if spec.access == Access::Session => None,
        None => {
            let err = ApiError::unauthenticated(
                "This route needs a bearer token: `Authorization: Bearer jbb_…`.",
            );
            return Err(count_failed_auth(state, ip, err).await);
        }
        Some(value) => {
            let raw = value.to_str().ok().and_then(bearer_token);
            let Some(raw) = raw else {
                let err =
                    ApiError::unauthenticated("The Authorization header must be `Bearer <token>`.");
                return Err(count_failed_auth(state, ip, err).await);
            };
            match authenticate(state, raw, ip).await {
                Ok(p) => Some(p),
                Err(Guarded::Refused(r)) => return Err(r),
                Err(Guarded::Auth(AuthError::Store(e))) => {
                    return Err(Refused {
                        error: ApiError::from(e),
                        decision: None,
                    });
                }
                Err(Guarded::Auth(e)) => return Err(count_failed_auth(state, ip, e.into()).await),
            }
        }
    };

    let (class, subject, quota) = match &principal {
        Some(p) => (
            spec.class,
            p.token_id.to_string(),
            p.rate_limits.quota(spec.class),
        ),
        None => (RateClass::Anonymous, bucket_subject(ip), anonymous_quota()),
    };
    let key = BucketKey {
        class: class.as_str(),
        subject,
        route: spec.bucket_route(),
    };
    let decision = match limit(state, &key, class, quota).await {
        Ok(d) => d,
        Err(error) => {
            return Err(Refused {
                error,
                decision: None,
            });
        }
    };
    if let Some(d) = decision
        && !d.allowed
    {
        state.metrics.rate_limited(class.as_str());
        let err = ApiError::new(Code::RateLimited,
                format!("Rate limit of {} requests per minute for this route exceeded; retry in {} s.", d.limit, d.retry_after_secs()),
            )
            .with_details(json!({ "class": class.as_str(), "limit": d.limit, "retry_after_seconds": d.retry_after_secs() }));
        return Err(Refused {
            error: err,
            decision: Some((class, d)),
        });
    }
    let decision = decision.map(|d| (class, d));
    let refuse = |error: ApiError| Refused { error, decision };
    if human_only_with_token {
        return Err(refuse(ApiError::new(
            Code::HumanSessionRequired,
            "Only a human in a logged-in browser session can do this; tokens never can. Send no Authorization header.",
        )));
    }

    if let Some(p) = &principal {
        if !allowed(&p.allowlist, ip) {
            return Err(refuse(ApiError::new(
                Code::IpNotAllowed,
                format!("Your IP allowlist does not include {ip}."),
            )));
        }
        if let Access::Token(scope) = spec.access
            && !p.scopes.contains(&scope)
        {
            let granted: Vec<&str> = p.scopes.iter().map(|s| s.as_str()).collect();
            let err = ApiError::new(
                Code::InsufficientScope,
                format!("This token lacks the `{scope}` scope."),
            )
            .with_details(json!({ "required_scope": scope.as_str(), "granted_scopes": granted }));
            return Err(refuse(err));
        }
        if let Some(required) = spec.account
            && p.account_type != required
        {
            return Err(refuse(
                jobby_domain::Error::WrongAccountType { required }.into(),
            ));
        }
    }
    if spec.is_mutating()
        && let Some(v) = req.headers().get("idempotency-key")
    {
        let key = v.to_str().ok().and_then(idempotency::parse_key);
        let Some(key) = key else {
            return Err(refuse(ApiError::field(
                "Idempotency-Key",
                "must be a UUID v4, bare or as a quoted string",
            )));
        };
        if principal.is_none() {
            return Err(refuse(ApiError::field(
                "Idempotency-Key",
                "needs an authenticated request",
            )));
        }
        req.extensions_mut().insert(IdempotencyKey(key));
    }
    Ok(Passed {
        principal,
        decision,
    })
}

/// 413 and 415 from the headers alone, before anything is read or counted.
fn body_refusal(spec: &RouteSpec, headers: &HeaderMap) -> Option<ApiError> {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Some(payload_too_large());
    }
    let has_body = length.is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING);
    if has_body && spec.is_mutating() {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            return Some(unsupported_media_type());
        }
    }
    None
}

enum Guarded {
    Auth(AuthError),
    Refused(Refused),
}

/// Authenticates a token: from the in-process cache when warm (no store, no extra limiter
/// call); otherwise only after checking that this address has failed-authentication budget
/// left, so guessing is slowed before any lookup is made.
async fn authenticate(
    state: &AppState,
    raw: &str,
    ip: IpAddr,
) -> Result<Arc<TokenPrincipal>, Guarded> {
    match state.auth.cached(raw) {
        Ok(Cached::Hit(p)) => return Ok(p),
        Err(e) => return Err(Guarded::Auth(e)),
        // A token valid a moment ago: refresh it without the guessing guard, so a busy
        // shared address cannot lock out the tokens in use behind it.
        Ok(Cached::Refresh) => return state.auth.lookup(raw, ip).await.map_err(Guarded::Auth),
        Ok(Cached::Miss) => {}
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

fn failed_auth_key(ip: IpAddr) -> BucketKey {
    BucketKey {
        class: RateClass::Anonymous.as_str(),
        subject: bucket_subject(ip),
        route: FAILED_AUTH_ROUTE.into(),
    }
}

fn too_many_failures(d: Decision) -> Refused {
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

async fn count_failed_auth(state: &AppState, ip: IpAddr, error: ApiError) -> Refused {
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

/// Checks the bucket. If the limiter's store is unreachable, `read`/`write`/`anonymous` fail
/// open (logged and counted; no decision, so no rate-limit headers) and `cost` fails closed.
fn anonymous_quota() -> Quota {
    Quota::per_minute(RateClass::Anonymous.default_limit())
}

async fn limit(
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
    use std::time::Duration;

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
        let config = HttpConfig {
            public_url: "http://x".into(),
            trusted_proxies: vec![],
        };
        let video = jobby_local::LocalRooms::new();
        let state = AppState::new(
            db,
            Arc::new(Unreachable),
            video,
            Arc::new(SystemClock),
            config,
            Duration::from_secs(1),
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
