//! Video rooms on Daily through the whole server: `jobby serve` with `DAILY_API_KEY` and
//! `DAILY_API_BASE` pointed at a stand-in of Daily's API, on Postgres and Redis.

use std::time::Duration;

use jobby_tests::{
    Services, accept_in_page, account_with_token, client, jobby, logged_in, services, spawn,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

macro_rules! services_or_skip {
    () => {
        match services().await {
            Some(s) => s,
            None => return,
        }
    };
}

async fn call(
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client().request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("request");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn rooms_are_made_on_daily_and_its_failures_answer_503() {
    let s: Services = services_or_skip!();
    let daily = MockServer::start().await;
    // Daily fails once when the room is first created (at acceptance): acceptance still
    // succeeds, and the room is created on the first URL request instead.
    Mock::given(method("POST"))
        .and(path("/v1/rooms"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&daily)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/rooms"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"name": "r", "url": "https://jobby.daily.co/r"})),
        )
        .mount(&daily)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/meeting-tokens"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "eyJ.meeting"})))
        .mount(&daily)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("^/v1/rooms/jobby-[0-9a-f]{32}$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"name": "r", "url": "https://jobby.daily.co/the-room"})),
        )
        .mount(&daily)
        .await;

    let owner = account_with_token(
        &s,
        "owner@example.com",
        "recruiter",
        "events:write,matches:read",
    );
    let seeker = account_with_token(
        &s,
        "seeker@example.com",
        "seeker",
        "queue:write,queue:read,matches:read",
    );
    // The room URL is a cost route (3 a minute); this test asks more often than that.
    jobby(
        &s,
        &[
            "admin",
            "set-rate-limit",
            "--email",
            "seeker@example.com",
            "--class",
            "cost",
            "--per-minute",
            "60",
        ],
    );
    let base = format!("{}/v1", daily.uri());
    let server = spawn(
        &s,
        &[
            ("DAILY_API_KEY", "daily-secret"),
            ("DAILY_API_BASE", base.as_str()),
            ("DAILY_TIMEOUT_MS", "500"),
        ],
    );
    let (st, ev) = call(
        reqwest::Method::POST,
        server.url("/api/v1/events"),
        &owner,
        Some(json!({"title": "Video fair"})),
    )
    .await;
    assert_eq!(st, 201, "{ev}");
    let id = ev["id"].as_str().unwrap();
    call(
        reqwest::Method::POST,
        server.url(&format!("/api/v1/events/{id}/start")),
        &owner,
        None,
    )
    .await;
    let (st, joined) = call(
        reqwest::Method::POST,
        server.url("/api/v1/queue/join"),
        &seeker,
        Some(json!({"event_id": id})),
    )
    .await;
    assert_eq!(st, 200);
    let mid = joined["match_id"]
        .as_str()
        .expect("matched at once")
        .to_owned();

    for email in ["seeker@example.com", "owner@example.com"] {
        let browser = logged_in(&server, email, "a long password").await;
        assert_eq!(
            accept_in_page(&server, &browser, &mid).await,
            200,
            "{email} accepts"
        );
    }
    let (_, m) = call(
        reqwest::Method::GET,
        server.url(&format!("/api/v1/matches/{mid}")),
        &seeker,
        None,
    )
    .await;
    assert_eq!(m["status"], "accepted", "{m}");

    let url = server.url(&format!("/api/v1/matches/{mid}/interview-room-url"));
    let (st, room) = call(reqwest::Method::GET, url.clone(), &seeker, None).await;
    assert_eq!(st, 200, "{room}");
    assert_eq!(room["url"], "https://jobby.daily.co/the-room?t=eyJ.meeting");
    let made: Vec<Value> = daily
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/v1/rooms" && r.method.as_str() == "POST")
        .map(|r| {
            assert_eq!(r.headers["authorization"], "Bearer daily-secret");
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect();
    assert_eq!(
        made.len(),
        2,
        "failed at acceptance, made at the first URL request"
    );
    assert_eq!(made[1]["privacy"], "private");
    assert_eq!(made[1]["properties"]["eject_after_elapsed"], 3600);
    let token: Value = daily
        .received_requests()
        .await
        .unwrap()
        .iter()
        .find(|r| r.url.path() == "/v1/meeting-tokens")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .unwrap();
    let (_, me) = call(
        reqwest::Method::GET,
        server.url("/api/v1/tokens/self"),
        &seeker,
        None,
    )
    .await;
    assert_eq!(token["properties"]["user_id"], me["user_id"]);
    assert!(token["properties"].get("eject_at_token_exp").is_none());

    // Daily refuses (4xx), fails (5xx) or hangs past the time-out: 503 in the envelope.
    for (label, failure) in [
        (
            "401",
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": "authorization-header-error"})),
        ),
        ("500", ResponseTemplate::new(500)),
        (
            "time-out",
            ResponseTemplate::new(200)
                .set_body_json(json!({"token": "late"}))
                .set_delay(Duration::from_secs(2)),
        ),
    ] {
        daily.reset().await;
        Mock::given(method("POST"))
            .respond_with(failure)
            .mount(&daily)
            .await;
        let (st, body) = call(reqwest::Method::GET, url.clone(), &seeker, None).await;
        assert_eq!(st, 503, "{label}: {body}");
        assert_eq!(body["code"], "DEPENDENCY_UNAVAILABLE", "{label}: {body}");
        assert!(
            !body.to_string().contains("daily-secret"),
            "{label}: the key leaked"
        );
    }
}
