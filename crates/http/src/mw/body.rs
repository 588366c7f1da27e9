//! Body limits: 413 and 415 from the headers alone.

use crate::MAX_BODY_BYTES;
use crate::error::ApiError;
use crate::error::Code;
use crate::routes::RouteSpec;
use actix_web::http::header::{self, HeaderMap};

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

/// 413 and 415 from the headers alone, before anything is read or counted.
pub(super) fn body_refusal(spec: &RouteSpec, headers: &HeaderMap) -> Option<ApiError> {
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
