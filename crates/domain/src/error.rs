//! The rules' error type. The HTTP edge maps each variant to exactly one status and stable
//! code, in one place.

use crate::model::account::AccountType;
use crate::model::fields::FieldErrors;
use crate::model::scopes::Scope;
use crate::ports::StoreError;

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
    Conflict { code: &'static str, message: String },
    /// Email and password do not match an account (the same for an unknown email).
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
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
