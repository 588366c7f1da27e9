//! Operations endpoints: liveness, readiness and metrics. Not part of the v1 API.

use actix_web::{HttpResponse, ResponseError, web};
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// The process is up.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The process can serve: its store and its rate limiter answer.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db = state.db.inner().ping().await;
    let limiter = state.limiter.ping().await;
    let word = |r: &Result<(), _>| if r.is_ok() { "ok" } else { "unreachable" };
    let checks = json!({ "database": word(&db), "rate_limiter": word(&limiter) });
    if db.is_ok() && limiter.is_ok() {
        return HttpResponse::Ok().json(json!({ "status": "ready", "checks": checks }));
    }
    ApiError::unavailable("A backing service")
        .with_details(json!({ "checks": checks }))
        .error_response()
}

/// Prometheus text on the public address, unless the operator gave metrics an address of
/// their own (`JOBBY_METRICS_LISTEN`): then 404, as for any unknown path.
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    if !state.config.public_metrics {
        return ApiError::not_found().error_response();
    }
    render_metrics(&state)
}

/// Prometheus text on the operator's address.
pub(crate) async fn operator_metrics(state: web::Data<AppState>) -> HttpResponse {
    render_metrics(&state)
}

fn render_metrics(state: &AppState) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
