//! The error envelope `{"error", "code", "details"?}` and the one place where domain errors
//! become statuses and stable codes.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use jobby_domain::Error as DomainError;
pub use jobby_domain::error::Code;
use jobby_domain::model::fields::FieldErrors;
use jobby_domain::ports::StoreError;
use jobby_domain::usecases::auth::AuthError;
use serde_json::{Value, json};

/// An error as the client sees it.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Code,
    pub message: String,
    pub details: Option<Value>,
    /// Extra response headers (`Allow`, `Retry-After`, `WWW-Authenticate`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with `code`, answered with the code's status.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(code.status()).expect("every code has a valid status"),
            code,
            message: message.into(),
            details: None,
            headers: vec![],
        }
    }

    /// Answers with `status` instead of the code's own: only for the framework's own
    /// refusals that have no code of their own.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: impl AsRef<str>) -> Self {
        if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
            self.headers.push((name, v));
        }
        self
    }

    pub fn validation(fields: FieldErrors) -> Self {
        let n = fields.0.len();
        let names: Vec<&str> = fields.0.keys().map(String::as_str).collect();
        let message = if n == 1 {
            format!(
                "The field `{}` is invalid: {}.",
                names[0],
                fields.0.values().next().map_or("", String::as_str)
            )
        } else {
            format!("{n} fields are invalid: {}.", names.join(", "))
        };
        ApiError::new(Code::Validation, message).with_details(json!({ "fields": fields }))
    }

    pub fn field(field: &str, message: &str) -> Self {
        Self::validation(FieldErrors::single(field, message))
    }

    pub fn not_found() -> Self {
        ApiError::new(Code::NotFound, "No such resource.")
    }

    pub fn unauthenticated(message: &str) -> Self {
        ApiError::new(Code::Unauthenticated, message)
            .with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"jobby\"")
    }

    pub fn internal() -> Self {
        ApiError::new(Code::Internal, "Something went wrong on our side.")
    }

    pub fn unavailable(what: &str) -> Self {
        ApiError::new(
            Code::DependencyUnavailable,
            format!("{what} is unavailable right now; it is safe to retry."),
        )
        .with_header(header::RETRY_AFTER, "1")
    }

    /// The envelope body, exactly as sent (and as saved for idempotent replays).
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut v = json!({ "error": self.message, "code": self.code.as_str() });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        serde_json::to_vec(&v).expect("envelope serializes")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        resp.content_type("application/json");
        for (k, v) in &self.headers {
            resp.insert_header((k.clone(), v.clone()));
        }
        resp.body(self.body_bytes())
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Validation(fields) => ApiError::validation(fields),
            DomainError::NotFound => ApiError::not_found(),
            DomainError::WrongAccountType { required } => ApiError::new(
                Code::WrongAccountType,
                format!("This route is for {required} accounts."),
            )
            .with_details(json!({ "required_account_type": required })),
            DomainError::InsufficientScope { required } => ApiError::new(
                Code::InsufficientScope,
                format!("This token lacks the `{required}` scope."),
            ),
            DomainError::Conflict { code, message } => ApiError::new(code, message),
            DomainError::InvalidCredentials => {
                ApiError::new(Code::Unauthenticated, "The email or password is wrong.")
            }
            DomainError::Store(err) => ApiError::from(err),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Malformed => ApiError::unauthenticated("The bearer token is malformed."),
            AuthError::Invalid => {
                ApiError::unauthenticated("The bearer token is unknown, expired or revoked.")
            }
            AuthError::Store(err) => ApiError::from(err),
        }
    }
}

impl From<StoreError> for ApiError {
    /// An unreachable store, or one that kept aborting the transaction in favour of
    /// concurrent ones, is a 503 the client may retry; any other store failure is ours.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unreachable(why) => {
                tracing::warn!(error = %why, "store unreachable");
                ApiError::unavailable("The database")
            }
            StoreError::Contention(why) => {
                tracing::warn!(error = %why, "store contention outlasted the retries");
                ApiError::unavailable("The database")
            }
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal()
            }
        }
    }
}
