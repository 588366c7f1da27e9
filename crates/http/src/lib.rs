//! The HTTP edge of Jobby: the v1 REST API, the account pages and the operations endpoints,
//! on actix-web. Handlers parse, call one use-case and map the result; authentication, rate
//! limits, idempotency, deprecation and the error envelope are shared mechanisms here.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, middleware::from_fn, web};
use ipnet::IpNet;
use jobby_domain::model::server_key::ServerKey;
use jobby_domain::model::session::PreSessionTokens;
use jobby_domain::ports::{Clock, Db, RateLimiter, VideoRooms};
use jobby_domain::usecases::auth::Authenticator;
use jobby_domain::usecases::queue::Rounds;
use utoipa_actix_web::AppExt;

pub mod admission;
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
mod schema;
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
    /// The deployment's secret key, shared by every process: it signs the login and signup
    /// forms' CSRF tokens.
    pub secret_key: ServerKey,
    /// Whether `/metrics` is served on the public address (it is not when the operator gives
    /// it an address of its own, see [`metrics_app`]).
    pub public_metrics: bool,
}

impl HttpConfig {
    /// Settings for one process: no trusted proxies, a random secret key (good for this
    /// process only), `/metrics` on the public address.
    pub fn new(public_url: impl Into<String>) -> Self {
        HttpConfig {
            public_url: public_url.into(),
            trusted_proxies: vec![],
            secret_key: ServerKey::random(),
            public_metrics: true,
        }
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// How long looked-up tokens are trusted in process: `heard_ttl` while this process hears of
/// access changes through the outbox, `ttl` (at most 1.2 s) when it does not.
#[derive(Clone, Copy, Debug)]
pub struct TokenCache {
    pub ttl: std::time::Duration,
    pub heard_ttl: std::time::Duration,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache {
            ttl: jobby_domain::usecases::auth::DEFAULT_CACHE_TTL,
            heard_ttl: jobby_domain::usecases::auth::DEFAULT_LONG_TTL,
        }
    }
}

/// How often noted token uses are written.
const TOKEN_USE_FLUSH: std::time::Duration = std::time::Duration::from_secs(15);

/// Starts what a serving process runs beside its requests: the outbox reader (queue streams
/// and access changes) and the writer of token uses, every 15 seconds. Needs a Tokio
/// runtime. At shutdown, `auth.flush_uses()` writes what is left.
pub fn start_background(state: &AppState) {
    state.feed.start();
    let auth = state.auth.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TOKEN_USE_FLUSH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = auth.flush_uses().await {
                tracing::warn!(error = %e, "recording token uses failed; trying again later");
            }
        }
    });
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
    /// This process's matching rounds, shared by the changes that need one.
    pub rounds: Arc<Rounds>,
    /// How much work this process takes on at once.
    pub admission: Arc<admission::Admission>,
    /// The served OpenAPI document, byte for byte the committed `openapi.json`.
    pub openapi: Arc<String>,
    /// Issues and checks the CSRF tokens of the login and signup forms.
    pub pre_session: PreSessionTokens,
}

impl AppState {
    pub fn new(
        db: Db,
        limiter: Arc<dyn RateLimiter>,
        video: Arc<dyn VideoRooms>,
        clock: Arc<dyn Clock>,
        config: HttpConfig,
        token_cache: TokenCache,
    ) -> Self {
        let auth = Arc::new(Authenticator::new(
            db.clone(),
            clock.clone(),
            token_cache.ttl,
            token_cache.heard_ttl,
        ));
        let lineups = Arc::new(lineups::Lineups::new(auth.clone()));
        let weak = Arc::downgrade(&lineups);
        db.inner().on_commit(Arc::new(move |users| {
            if let Some(lineups) = weak.upgrade() {
                lineups.committed(users);
            }
        }));
        AppState {
            feed: feed::Feed::new(
                db.clone(),
                auth.clone(),
                lineups.clone(),
                feed::Timing::default(),
            ),
            lineups,
            rounds: Arc::default(),
            admission: Arc::default(),
            db,
            limiter,
            pre_session: PreSessionTokens::new(&config.secret_key),
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

/// The operator's application for `JOBBY_METRICS_LISTEN`: `/metrics` alone, on an address of
/// its own, beside [`build_app`] (which then answers `/metrics` with 404).
pub fn metrics_app(
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
    App::new()
        .app_data(web::Data::new(state))
        .route("/metrics", web::get().to(ops::operator_metrics))
        .default_service(web::to(|| async {
            actix_web::ResponseError::error_response(&ApiError::not_found())
        }))
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
        .wrap(from_fn(mw::admit))
        .wrap(from_fn(mw::observe))
}
