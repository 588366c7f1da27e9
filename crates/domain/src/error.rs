//! The rules' error type. The HTTP edge maps each variant to exactly one status and stable
//! code, in one place.

use crate::model::account::AccountType;
use crate::model::fields::FieldErrors;
use crate::model::scopes::Scope;
use crate::ports::StoreError;

/// Declares [`Code`]: each variant with its wire string, its HTTP status and when it is used,
/// side by side, so the table cannot fall out of step with itself.
macro_rules! codes {
    ($($variant:ident => $code:literal, $status:literal, $when:literal;)*) => {
        /// Every error code on the wire. Codes are never renamed or removed (SPEC §1): the
        /// list is pinned by a test, and the OpenAPI document lists it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $(#[doc = $when] $variant,)*
        }

        impl Code {
            /// Every code, in the order of SPEC's table.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as sent in the envelope's `code`.
            pub const fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// The HTTP status every response with this code has.
            pub const fn status(self) -> u16 {
                match self { $(Code::$variant => $status,)* }
            }

            /// When the code is used.
            pub const fn when(self) -> &'static str {
                match self { $(Code::$variant => $when,)* }
            }
        }
    };
}

codes! {
    Validation => "VALIDATION", 400, "The body, query or a header failed a schema or rule check; `details.fields` names each bad field.";
    Unauthenticated => "UNAUTHENTICATED", 401, "A missing, malformed, unknown, expired or revoked token, or wrong credentials (with `WWW-Authenticate: Bearer`).";
    InsufficientScope => "INSUFFICIENT_SCOPE", 403, "The token lacks the route's scope; `details: {required_scope, granted_scopes}`.";
    WrongAccountType => "WRONG_ACCOUNT_TYPE", 403, "The route is for the other kind of account; `details.required_account_type`.";
    IpNotAllowed => "IP_NOT_ALLOWED", 403, "The account's IP allowlist excludes the caller.";
    HumanSessionRequired => "HUMAN_SESSION_REQUIRED", 403, "A human-only act attempted with a token (any `Authorization` header).";
    CsrfFailed => "CSRF_FAILED", 403, "A session-authenticated state change without a valid CSRF token.";
    NotFound => "NOT_FOUND", 404, "No such resource, or not the caller's.";
    MethodNotAllowed => "METHOD_NOT_ALLOWED", 405, "The path exists but not with this method (with `Allow`).";
    AlreadyInQueue => "ALREADY_IN_QUEUE", 409, "The seeker already waits in another event's queue.";
    EventNotLive => "EVENT_NOT_LIVE", 409, "The event is not live (not started yet, or ended).";
    EventEnded => "EVENT_ENDED", 409, "The event has ended and can no longer change.";
    MatchNotPending => "MATCH_NOT_PENDING", 409, "The match is no longer pending (accepted, declined, expired or completed).";
    MatchNotAccepted => "MATCH_NOT_ACCEPTED", 409, "The match has not been accepted by both sides (or is over).";
    IdempotencyKeyInUse => "IDEMPOTENCY_KEY_IN_USE", 409, "A request with this `Idempotency-Key` is still running.";
    IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED", 422, "The `Idempotency-Key` was used before with a different request.";
    PayloadTooLarge => "PAYLOAD_TOO_LARGE", 413, "The body is over 64 KiB.";
    UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE", 415, "The body is not `application/json`.";
    RateLimited => "RATE_LIMITED", 429, "Over the route's rate limit (with `Retry-After`).";
    DependencyUnavailable => "DEPENDENCY_UNAVAILABLE", 503, "A store or outside service is unreachable or failing; safe to retry (with `Retry-After`).";
    ServerBusy => "SERVER_BUSY", 503, "The server is at capacity and shed the request before doing anything; safe to retry after `Retry-After` seconds. Reads are shed before changes.";
    Internal => "INTERNAL", 500, "Anything else; the body says only that, plus the request id.";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input failed a rule; each bad field is named.
    #[error("the request has invalid fields")]
    Validation(FieldErrors),
    /// No such resource, or not the caller's.
    #[error("not found")]
    NotFound,
    /// The route is for the other kind of account.
    #[error("this route is for {required} accounts")]
    WrongAccountType { required: AccountType },
    /// The token lacks the route's scope.
    #[error("missing scope {required}")]
    InsufficientScope { required: Scope },
    /// A state conflict with a stable code (`ALREADY_IN_QUEUE`, …).
    #[error("{message}")]
    Conflict { code: Code, message: String },
    /// Email and password do not match an account (the same for an unknown email).
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    pub fn conflict(code: Code, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(FieldErrors::single(field, message))
    }
}

impl From<FieldErrors> for Error {
    fn from(f: FieldErrors) -> Self {
        Error::Validation(f)
    }
}

#[cfg(test)]
mod tests {
    use super::Code;

    /// The published codes, exactly. Renaming or removing one breaks every client that
    /// branches on it, so this list only ever grows, deliberately.
    #[test]
    fn the_codes_on_the_wire_are_pinned() {
        let codes: Vec<(&str, u16)> = Code::ALL.iter().map(|c| (c.as_str(), c.status())).collect();
        assert_eq!(
            codes,
            [
                ("VALIDATION", 400),
                ("UNAUTHENTICATED", 401),
                ("INSUFFICIENT_SCOPE", 403),
                ("WRONG_ACCOUNT_TYPE", 403),
                ("IP_NOT_ALLOWED", 403),
                ("HUMAN_SESSION_REQUIRED", 403),
                ("CSRF_FAILED", 403),
                ("NOT_FOUND", 404),
                ("METHOD_NOT_ALLOWED", 405),
                ("ALREADY_IN_QUEUE", 409),
                ("EVENT_NOT_LIVE", 409),
                ("EVENT_ENDED", 409),
                ("MATCH_NOT_PENDING", 409),
                ("MATCH_NOT_ACCEPTED", 409),
                ("IDEMPOTENCY_KEY_IN_USE", 409),
                ("IDEMPOTENCY_KEY_REUSED", 422),
                ("PAYLOAD_TOO_LARGE", 413),
                ("UNSUPPORTED_MEDIA_TYPE", 415),
                ("RATE_LIMITED", 429),
                ("DEPENDENCY_UNAVAILABLE", 503),
                ("SERVER_BUSY", 503),
                ("INTERNAL", 500),
            ]
        );
    }

    #[test]
    fn codes_are_unique_and_upper_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert!(
                c.as_str()
                    .chars()
                    .all(|ch| ch.is_ascii_uppercase() || ch == '_'),
                "{c}"
            );
            assert!(!c.when().is_empty());
        }
    }
}
