#![allow(dead_code)]

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test;
use jobby_domain::model::account::{AccountType, User};
use jobby_domain::model::scopes::Scope;
use jobby_domain::ports::{Clock, Db, SystemClock};
use jobby_domain::usecases::{accounts, tokens};
use jobby_http::{AppState, HttpConfig};
use serde_json::Value;

pub struct Env {
    pub state: AppState,
}

/// A clock that never moves: rate-limit buckets do not refill during a test, however slow
/// the machine is.
pub struct FrozenClock(pub chrono::DateTime<chrono::Utc>);

impl Clock for FrozenClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0
    }
}

pub fn state_with(config: HttpConfig) -> AppState {
    state_on(
        Db::new(Arc::new(jobby_memory::MemoryDatabase::new())),
        config,
    )
}

/// A state over this store.
pub fn state_on(db: Db, config: HttpConfig) -> AppState {
    let limiter = Arc::new(jobby_memory::MemoryRateLimiter::with_clock(Arc::new(
        FrozenClock(chrono::Utc::now()),
    )));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let video = jobby_local::LocalRooms::new();
    AppState::new(
        db,
        limiter,
        video,
        clock,
        config,
        jobby_http::TokenCache::default(),
    )
}

pub fn state() -> AppState {
    state_with(HttpConfig::new("http://jobby.test"))
}

pub async fn user(state: &AppState, email: &str, kind: AccountType) -> User {
    let input = accounts::Signup {
        email: email.into(),
        password: "correct horse battery".into(),
        name: "Test Person".into(),
        account_type: kind.as_str().into(),
    };
    accounts::signup(&state.db, input, state.clock.now())
        .await
        .expect("signup")
}

pub async fn token(state: &AppState, owner: &User, scopes: &[Scope]) -> String {
    let owner = owner.clone();
    let req = tokens::MintRequest {
        name: "test".into(),
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        expires_in_days: None,
    };
    let now = state.clock.now();
    let (plain, _) = state
        .db
        .transaction(move |r| Box::pin(async move { tokens::mint(r, &owner, req, now).await }))
        .await
        .expect("mint");
    plain.expose().to_owned()
}

/// Response headers by lowercase name (the last value wins), indexable in assertions.
#[derive(Debug, Clone)]
pub struct Headers(pub std::collections::HashMap<String, String>);

impl std::ops::Index<&str> for Headers {
    type Output = String;
    fn index(&self, name: &str) -> &String {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("no header {name} in {:?}", self.0))
    }
}

impl Headers {
    pub fn of(map: &actix_web::http::header::HeaderMap) -> Self {
        Headers(
            map.iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
        )
    }
    pub fn contains_key(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
    pub fn get(&self, name: &str) -> Option<&String> {
        self.0.get(name)
    }
}

pub async fn body_json(resp: ServiceResponse<impl MessageBody>) -> (u16, Headers, Value) {
    let status = resp.status().as_u16();
    let headers = Headers::of(resp.headers());
    let bytes = test::read_body(resp).await;
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, headers, json)
}

pub fn bearer(t: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {t}"))
}

/// Sends a request and returns status, headers and JSON body.
pub async fn send<S, B>(app: &S, req: test::TestRequest) -> (u16, Headers, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let resp = test::call_service(app, req.to_request()).await;
    body_json(resp).await
}

pub fn assert_envelope(body: &Value, code: &str) {
    assert_eq!(body["code"], code, "body: {body}");
    assert!(
        body["error"].as_str().is_some_and(|s| !s.is_empty()),
        "error sentence missing: {body}"
    );
}

pub fn assert_limit_headers(h: &Headers) {
    for name in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "ratelimit",
        "ratelimit-policy",
    ] {
        assert!(h.contains_key(name), "missing {name}: {h:?}");
    }
}
