//! The gate every `/api/` request passes: its route-table entry, authentication, limits, scopes, account type, allowlist, idempotency key, and the deprecation headers.

use crate::AppState;
use crate::error::ApiError;
use crate::error::Code;
use crate::routes::{self, Access, RouteSpec};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};
use jobby_domain::model::idempotency;
use jobby_domain::model::network::{allowed, bucket_subject};
use jobby_domain::model::ratelimit::{Decision, RateClass};
use jobby_domain::model::token::TokenPrincipal;
use jobby_domain::ports::BucketKey;
use jobby_domain::usecases::auth::AuthError;
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;

use super::deprecation::deprecation_headers;
use super::{
    Guarded, add_limit_headers, anonymous_quota, authenticate, bearer_token, body_refusal,
    count_failed_auth, detached_request, limit, route_pattern, routing_path, unmatched,
};
use super::{IdempotencyKey, RoutePattern, caller_ip, state_of};

/// What the gate found for a request it let through.
pub(super) struct Passed {
    pub(super) principal: Option<Arc<TokenPrincipal>>,
    pub(super) decision: Option<(RateClass, Decision)>,
}

/// A refusal, with the bucket it was counted in (for the rate-limit headers).
pub(super) struct Refused {
    pub(super) error: ApiError,
    pub(super) decision: Option<(RateClass, Decision)>,
}

pub async fn api_gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !routing_path(req.request()).starts_with("/api/") {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let pattern = match req.extensions().get::<RoutePattern>() {
        Some(p) => p.0.clone(),
        None => route_pattern(req.request()),
    };
    let Some(spec) = pattern
        .as_deref()
        .and_then(|p| routes::find(req.method(), p))
    else {
        if let Some(p) = &pattern
            && !crate::api::routes().iter().any(|r| r.path == p)
        {
            // A handler is registered for a path the route table does not know: it
            // would run without authentication or limits. Refuse loudly.
            tracing::error!(pattern = %p, "route served without a route-table entry");
            return Ok(req.into_response(ApiError::internal().error_response()));
        }
        // A known path under a method the table does not list (405), or no route (404):
        // answered here, so nothing under /api/ reaches a handler without the gate.
        let resp = unmatched(req.request().clone()).await;
        return Ok(req.into_response(resp));
    };
    let state = state_of(req.request());
    let ip = caller_ip(req.request());

    let mut res = match gate(&state, spec, &req, ip).await {
        Err(refused) => {
            let mut res = req.into_response(refused.error.error_response());
            add_limit_headers(res.headers_mut(), refused.decision);
            res
        }
        Ok(passed) => {
            if let Some(p) = passed.principal {
                req.extensions_mut().insert(p);
            }
            let mut res = match next.call(req).await {
                Ok(r) => r.map_into_boxed_body(),
                Err(e) => ServiceResponse::new(detached_request(), e.error_response()),
            };
            add_limit_headers(res.headers_mut(), passed.decision);
            res
        }
    };
    if let Some(dep) = spec.deprecation {
        deprecation_headers(res.headers_mut(), &dep, &state.config.public_url);
    }
    Ok(res)
}

pub(super) async fn gate(
    state: &AppState,
    spec: &'static RouteSpec,
    req: &ServiceRequest,
    ip: IpAddr,
) -> Result<Passed, Refused> {
    // Cheap refusals first: they need no store.
    if let Some(err) = body_refusal(spec, req.headers()) {
        return Err(Refused {
            error: err,
            decision: None,
        });
    }
    let authorization = req.headers().get(header::AUTHORIZATION);
    // A human-only act: a token is never looked at, whatever it is.
    let human_only_with_token = spec.access == Access::Session && authorization.is_some();
    let principal = match authorization {
        None if matches!(spec.access, Access::Public | Access::Session) => None,
        Some(_) if spec.access == Access::Session => None,
        None => {
            let err = ApiError::unauthenticated(
                "This route needs a bearer token: `Authorization: Bearer jbb_…`.",
            );
            return Err(count_failed_auth(state, ip, err).await);
        }
        Some(value) => {
            let raw = value.to_str().ok().and_then(bearer_token);
            let Some(raw) = raw else {
                let err =
                    ApiError::unauthenticated("The Authorization header must be `Bearer <token>`.");
                return Err(count_failed_auth(state, ip, err).await);
            };
            match authenticate(state, raw, ip).await {
                Ok(p) => Some(p),
                Err(Guarded::Refused(r)) => return Err(r),
                Err(Guarded::Auth(AuthError::Store(e))) => {
                    return Err(Refused {
                        error: ApiError::from(e),
                        decision: None,
                    });
                }
                Err(Guarded::Auth(e)) => return Err(count_failed_auth(state, ip, e.into()).await),
            }
        }
    };

    let (class, subject, quota) = match &principal {
        Some(p) => (
            spec.class,
            p.token_id.to_string(),
            p.rate_limits.quota(spec.class),
        ),
        None => (RateClass::Anonymous, bucket_subject(ip), anonymous_quota()),
    };
    let key = BucketKey {
        class: class.as_str(),
        subject,
        route: spec.bucket_route(),
    };
    let decision = match limit(state, &key, class, quota).await {
        Ok(d) => d,
        Err(error) => {
            return Err(Refused {
                error,
                decision: None,
            });
        }
    };
    if let Some(d) = decision
        && !d.allowed
    {
        state.metrics.rate_limited(class.as_str());
        let err = ApiError::new(Code::RateLimited,
                format!("Rate limit of {} requests per minute for this route exceeded; retry in {} s.", d.limit, d.retry_after_secs()),
            )
            .with_details(json!({ "class": class.as_str(), "limit": d.limit, "retry_after_seconds": d.retry_after_secs() }));
        return Err(Refused {
            error: err,
            decision: Some((class, d)),
        });
    }
    let decision = decision.map(|d| (class, d));
    let refuse = |error: ApiError| Refused { error, decision };
    if human_only_with_token {
        return Err(refuse(ApiError::new(
            Code::HumanSessionRequired,
            "Only a human in a logged-in browser session can do this; tokens never can. Send no Authorization header.",
        )));
    }

    if let Some(p) = &principal {
        if !allowed(&p.allowlist, ip) {
            return Err(refuse(ApiError::new(
                Code::IpNotAllowed,
                format!("Your IP allowlist does not include {ip}."),
            )));
        }
        if let Access::Token(scope) = spec.access
            && !p.scopes.contains(&scope)
        {
            let granted: Vec<&str> = p.scopes.iter().map(|s| s.as_str()).collect();
            let err = ApiError::new(
                Code::InsufficientScope,
                format!("This token lacks the `{scope}` scope."),
            )
            .with_details(json!({ "required_scope": scope.as_str(), "granted_scopes": granted }));
            return Err(refuse(err));
        }
        if let Some(required) = spec.account
            && p.account_type != required
        {
            return Err(refuse(
                jobby_domain::Error::WrongAccountType { required }.into(),
            ));
        }
    }
    // An empty header carries no key: the request runs as one without it.
    if spec.is_mutating()
        && let Some(v) = req
            .headers()
            .get("idempotency-key")
            .filter(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
    {
        let key = v.to_str().ok().and_then(idempotency::parse_key);
        let Some(key) = key else {
            return Err(refuse(ApiError::field(
                "Idempotency-Key",
                "must be a UUID v4, bare or as a quoted string",
            )));
        };
        // A session route authenticates in its handler, which scopes the key to the human.
        if principal.is_none() && spec.access != Access::Session {
            return Err(refuse(ApiError::field(
                "Idempotency-Key",
                "needs an authenticated request",
            )));
        }
        req.extensions_mut().insert(IdempotencyKey(key));
    }
    Ok(Passed {
        principal,
        decision,
    })
}
