//! The HTTP edge of Jobby: the v1 REST API, the account pages and the operations endpoints,
//! on actix-web. Handlers parse, call one use-case and map the result; authentication, rate
//! limits, idempotency, deprecation and the error envelope are shared mechanisms here.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, middleware::from_fn, web};
use ipnet::IpNet;
use jobby_domain::ports::{Clock, Db, RateLimiter, VideoRooms};
use jobby_domain::usecases::auth::Authenticator;
use utoipa_actix_web::AppExt;

pub mod api;
pub mod error;
pub mod extract;
pub mod feed;
pub mod lineups;
pub mod metrics;
pub mod mw;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod routes;
pub mod time;

pub use error::ApiError;

/// Request bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Settings of the HTTP edge.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Base of every URL handed out; cookies are `Secure` when it is https.
    pub public_url: String,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
}

impl HttpConfig {
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// Everything a request may need, shared by all workers.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub limiter: Arc<dyn RateLimiter>,
    pub auth: Arc<Authenticator>,
    pub clock: Arc<dyn Clock>,
    pub config: HttpConfig,
    pub metrics: Arc<metrics::Metrics>,
    /// Private video rooms for accepted matches.
    pub video: Arc<dyn VideoRooms>,
    /// Changes to the live queue, for `GET /queue/stream`.
    pub feed: Arc<feed::Feed>,
    /// Queue places for status reads.
    pub lineups: Arc<lineups::Lineups>,
    /// The served OpenAPI document, byte for byte the committed `openapi.json`.
    pub openapi: Arc<String>,
}

impl AppState {
    pub fn new(
        db: Db,
        limiter: Arc<dyn RateLimiter>,
        video: Arc<dyn VideoRooms>,
        clock: Arc<dyn Clock>,
        config: HttpConfig,
        token_cache_ttl: std::time::Duration,
    ) -> Self {
        let auth = Arc::new(Authenticator::new(
            db.clone(),
            clock.clone(),
            token_cache_ttl,
        ));
        AppState {
            feed: feed::Feed::new(db.clone(), feed::Timing::default()),
            lineups: Arc::default(),
            db,
            limiter,
            auth,
            clock,
            config,
            metrics: Arc::new(metrics::Metrics::new()),
            video,
            openapi: Arc::new(openapi::document()),
        }
    }
}

/// Registers every route. Routes under `/api/v1` go through utoipa so each is in the
/// OpenAPI document.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(api::scope());
    pages::configure(cfg);
    ops::configure(cfg);
}

/// The application: routes, the shared middleware and the error envelope for every layer.
pub fn build_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let (app, _api) = App::new()
        .into_utoipa_app()
        .app_data(web::Data::new(state))
        .app_data(extract::query_config())
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .app_data(web::FormConfig::default().limit(MAX_BODY_BYTES))
        .configure(configure)
        .split_for_parts();
    app.default_service(web::to(mw::unmatched))
        .wrap(from_fn(mw::api_gate))
        .wrap(from_fn(mw::observe))
}
