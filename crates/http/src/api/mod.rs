//! The v1 REST API: one module per resource; each handler parses, calls one use-case and
//! maps the result.

pub mod events;
pub mod matches;
pub mod meta;
pub mod mutate;
pub mod profile;
pub mod queue;
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
        .service(events::list_live_events)
        .service(events::get_live_event)
        .service(events::list_events)
        .service(events::create_event)
        .service(events::get_event)
        .service(events::patch_event)
        .service(events::start_event)
        .service(events::end_event)
        .service(events::put_availability)
        .service(queue::join_queue)
        .service(queue::queue_status)
        .service(queue::queue_stream)
        .service(queue::leave_queue)
        .service(matches::list_matches)
        .service(matches::get_match)
        .service(matches::decline_match)
        .service(matches::accept_match)
        .service(matches::complete_match)
        .service(matches::interview_room_url)
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
