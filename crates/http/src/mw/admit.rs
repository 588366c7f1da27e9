//! Admission (see [`crate::admission`]): every request but the operator's probes waits for a
//! place before any work is done on it, or is refused with 503 `SERVER_BUSY`.

use actix_web::ResponseError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header;
use actix_web::middleware::Next;

use super::state_of;
use crate::admission::Kind;
use crate::error::{ApiError, Code};

/// What a request is, for admission.
fn kind_of(method: &Method, path: &str) -> Kind {
    match *method {
        // A queue stream is how a waiting seeker hears of their match, which frees nothing
        // until they answer it: refusing it costs the queue more than it saves. Once open it
        // holds no place.
        Method::GET if path == "/api/v1/queue/stream" => Kind::Change,
        // Reads that make something: a room ticket, a room at the video provider.
        Method::GET if path.starts_with("/rooms/") || path.ends_with("/interview-room-url") => {
            Kind::Change
        }
        Method::GET | Method::HEAD | Method::OPTIONS => Kind::Read,
        Method::POST if path == "/api/v1/queue/join" => Kind::Join,
        _ => Kind::Change,
    }
}

/// Paths the operator's probes and scrapers use: answered however busy the server is.
const PROBES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

pub async fn admit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if PROBES.contains(&req.path()) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let kind = kind_of(req.method(), req.path());
    let state = state_of(req.request());
    match state.admission.admit(kind).await {
        Ok(place) => {
            let res = next.call(req).await;
            // Held until the response is made (a stream's body goes on without it).
            drop(place);
            Ok(res?.map_into_boxed_body())
        }
        Err(shed) => {
            state.metrics.shed(kind);
            let err = ApiError::new(
                Code::ServerBusy,
                "The server is at capacity and did not run this request; retry after the \
                 seconds in Retry-After.",
            )
            .with_header(header::RETRY_AFTER, shed.retry_after.to_string());
            Ok(req.into_response(err.error_response()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_sorted_by_what_they_do() {
        let cases = [
            (Method::GET, "/api/v1/queue/status", Kind::Read),
            (Method::HEAD, "/api/v1/live-events", Kind::Read),
            (Method::GET, "/account/tokens", Kind::Read),
            (Method::POST, "/api/v1/queue/join", Kind::Join),
            (Method::POST, "/api/v1/matches/mtc_1/decline", Kind::Change),
            (Method::POST, "/api/v1/queue/leave", Kind::Change),
            (Method::GET, "/api/v1/queue/stream", Kind::Change),
            (
                Method::GET,
                "/api/v1/matches/mtc_1/interview-room-url",
                Kind::Change,
            ),
            (Method::GET, "/rooms/abc", Kind::Change),
            (Method::DELETE, "/api/v1/tokens/tok_1", Kind::Change),
        ];
        for (method, path, kind) in cases {
            assert_eq!(kind_of(&method, path), kind, "{method} {path}");
        }
    }
}
