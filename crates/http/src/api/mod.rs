//! The v1 REST API: one module per resource; each handler parses, calls one use-case and
//! maps the result.

pub mod meta;
pub mod mutate;
pub mod profile;
pub mod settings;
pub mod tokens;

use utoipa_actix_web::scope::{self, Scope};

pub fn scope() -> Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    scope::scope("/api/v1")
        .service(meta::openapi_json)
        .service(tokens::token_self)
        .service(tokens::token_current)
        .service(tokens::list_tokens)
        .service(tokens::revoke_token)
        .service(profile::get_profile)
        .service(profile::patch_profile)
        .service(settings::get_settings)
        .service(settings::patch_settings)
        .service(settings::get_allowlist)
        .service(settings::put_allowlist)
}

/// The error envelope, as documented.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A human-readable sentence.
    pub error: String,
    /// A stable machine-readable code (never renamed).
    pub code: String,
    /// Code-specific details, e.g. `fields` for `VALIDATION`.
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}
