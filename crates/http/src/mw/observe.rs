//! The outermost layer: request ids, panics caught, metrics and the request log, hardening headers.

use crate::error::ApiError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, ResponseError};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::time::Instant;
use uuid::Uuid;

use super::{ClientIp, RequestId, RoutePattern, X_REQUEST_ID, resolve_client_ip, state_of};
use super::{envelope_unless_enveloped, route_pattern};

pub(super) fn sane_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| s.to_owned())
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
pub(super) fn hardening_headers(headers: &mut HeaderMap) {
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
pub(super) fn detached_request() -> HttpRequest {
    actix_web::test::TestRequest::default().to_http_request()
}

/// The method as a metrics label: the standard ones, or `OTHER` (labels must stay bounded).
pub(super) fn metric_method(m: &Method) -> &'static str {
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
