//! Every refusal of the framework (unknown route, wrong method, malformed input, …) in the error envelope.

use crate::error::ApiError;
use crate::error::Code;
use crate::routes::{self};
use actix_web::body::{BoxBody, to_bytes_limited};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

use super::{payload_too_large, unsupported_media_type};

/// Gives every error answer the envelope: framework errors (404, 405, 413, 415, bad query)
/// arrive as plain text; 500s are replaced whatever they said, so nothing internal leaks and
/// the request id is included. HTML pages (account, rooms) keep their own error pages.
pub(super) async fn envelope_unless_enveloped(
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

pub(super) fn rebuild(res: ServiceResponse<BoxBody>, err: ApiError) -> ServiceResponse<BoxBody> {
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

/// The path the router matches on: percent-decoded (except the reserved characters), so
/// `/%61pi/v1/profile` is seen as the `/api/v1/profile` it routes to.
pub fn routing_path(req: &HttpRequest) -> &str {
    req.match_info().as_str()
}

/// The route pattern the router will pick for this request's path, if any.
pub(super) fn route_pattern(req: &HttpRequest) -> Option<String> {
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
