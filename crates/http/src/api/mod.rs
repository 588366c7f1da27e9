//! The v1 REST API: one folder per resource, one file per operation
//! (`api/<resource>/<operation>.rs`) holding the handler, the types only it uses, its
//! `#[utoipa::path]` and its route-table entry, `ROUTE`. Each handler parses, calls one
//! use-case and maps the result.
//!
//! A resource's `mod.rs` names its operations once, with `operations!`; that one list
//! declares the modules, registers the handlers and collects the entries, in its order. So a
//! new route is one new file, one line in its resource's `operations!`, and
//! `cargo xtask openapi`.

use std::sync::LazyLock;

use utoipa_actix_web::scope::{self, Scope};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::routes::RouteSpec;

/// Declares a resource's operations, `module => handler`, in registration order (which
/// matters to actix where patterns overlap, and orders the OpenAPI document). Each module
/// holds the handler and `pub const ROUTE: RouteSpec`. Expands to the `mod` declarations,
/// `ROUTES` (the entries, in this order) and `configure` (registers the handlers, in this
/// order).
macro_rules! operations {
    ($($op:ident => $handler:ident),+ $(,)?) => {
        $(pub mod $op;)+

        /// This resource's route-table entries, in registration order.
        pub(crate) const ROUTES: &[$crate::routes::RouteSpec] = &[$($op::ROUTE),+];

        /// Registers this resource's handlers, in the order of `ROUTES`.
        pub(crate) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
            $(cfg.service($op::$handler);)+
        }
    };
}

/// Declares the resources, in registration order: their modules, a `configure` registering
/// each one's handlers, and the route table made of each one's `ROUTES`, in the same order.
macro_rules! resources {
    ($($resource:ident),+ $(,)?) => {
        $(pub mod $resource;)+

        /// Registers every resource's handlers, resource by resource.
        fn configure(cfg: &mut ServiceConfig) {
            $($resource::configure(cfg);)+
        }

        static ROUTES: LazyLock<Vec<RouteSpec>> =
            LazyLock::new(|| [$($resource::ROUTES),+].concat());
    };
}

resources! {
    meta,
    tokens,
    profile,
    settings,
    live_events,
    events,
    queue,
    matches,
}

pub mod mutate;

/// The route table: every `/api/v1` operation's entry, in registration order.
pub fn routes() -> &'static [RouteSpec] {
    &ROUTES
}

pub fn scope() -> Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    scope::scope("/api/v1").configure(configure)
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

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::routes;

    #[test]
    fn the_table_holds_every_documented_operation_once() {
        assert!(
            routes().iter().all(|r| r.path.starts_with("/api/v1/")),
            "every route is under /api/v1"
        );
        let doc: Value = serde_json::from_str(&crate::openapi::document()).unwrap();
        let documented: usize = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(path, _)| path.starts_with("/api/v1/"))
            .map(|(_, item)| item.as_object().unwrap().len())
            .sum();
        assert_eq!(routes().len(), documented);
    }
}
