//! Video rooms on Daily through the whole server: `jobby serve` with `DAILY_API_KEY` and
//! `DAILY_API_BASE` pointed at a stand-in of Daily's API, on Postgres and Redis. Jobby's room
//! link admits the person (once, in their session, within 30 s); only then is a Daily token
//! minted and the browser sent on.

use std::time::Duration;

use jobby_tests::{
    Services, accept_in_page, account_with_token, call, jobby, logged_in, services_or_skip, spawn,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn daily_rooms_open_through_jobbys_one_time_link_and_failures_answer_503() {
    let s: Services = services_or_skip!();
    let daily = MockServer::start().await;
    // Daily fails twice when the room is first created: at acceptance (which still
    // succeeds) and at the first room-link request (503); the next request creates it.
    Mock::given(method("POST"))
        .and(path("/v1/rooms"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
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
    let room_lookup = || {
        Mock::given(method("GET"))
            .and(path_regex("^/v1/rooms/jobby-[0-9a-f]{32}$"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"name": "r", "url": "https://jobby.daily.co/the-room"})),
            )
    };
    room_lookup().mount(&daily).await;

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

    let mut browsers = vec![];
    for email in ["seeker@example.com", "owner@example.com"] {
        let browser = logged_in(&server, email, "a long password").await;
        assert_eq!(
            accept_in_page(&server, &browser, &mid).await,
            303,
            "{email} accepts"
        );
        browsers.push(browser);
    }
    let (seeker_browser, owner_browser) = (&browsers[0], &browsers[1]);
    let (_, m) = call(
        reqwest::Method::GET,
        server.url(&format!("/api/v1/matches/{mid}")),
        &seeker,
        None,
    )
    .await;
    assert_eq!(m["status"], "accepted", "{m}");

    // Daily still failing: 503 in the envelope, nothing leaked.
    let url = server.url(&format!("/api/v1/matches/{mid}/interview-room-url"));
    let (st, body) = call(reqwest::Method::GET, url.clone(), &seeker, None).await;
    assert_eq!(
        (st, &body["code"]),
        (503, &json!("DEPENDENCY_UNAVAILABLE")),
        "{body}"
    );
    assert!(!body.to_string().contains("daily-secret"));
    // Daily answers: the room is made and Jobby hands out its own one-time room link.
    let (st, room) = call(reqwest::Method::GET, url.clone(), &seeker, None).await;
    assert_eq!(st, 200, "{room}");
    let link = room["url"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&server.url("/rooms/")), "{link}");
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
    assert_eq!(made.len(), 3, "two failures, then made");
    assert_eq!(made[2]["privacy"], "private");
    assert_eq!(made[2]["properties"]["eject_after_elapsed"], 3600);

    // The link leaked to the other participant opens nothing, and mints no token.
    let other = owner_browser.get(&link).send().await.unwrap();
    assert_eq!(other.status(), 403);
    assert!(
        !daily
            .received_requests()
            .await
            .unwrap()
            .iter()
            .any(|r| r.url.path() == "/v1/meeting-tokens"),
        "no token for a refused link"
    );
    // Opened by its user: a 30-second token for them, and on to Daily with it.
    let entered = seeker_browser.get(&link).send().await.unwrap();
    assert_eq!(entered.status(), 303);
    assert_eq!(
        entered.headers()["location"],
        "https://jobby.daily.co/the-room?t=eyJ.meeting"
    );
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
    // Once only.
    let again = seeker_browser.get(&link).send().await.unwrap();
    assert_eq!(again.status(), 403);

    // Daily refuses (4xx), fails (5xx) or hangs past the time-out when the token is minted:
    // the room page answers 503, and nothing leaks.
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
        room_lookup().mount(&daily).await;
        Mock::given(method("POST"))
            .respond_with(failure)
            .mount(&daily)
            .await;
        let (st, room) = call(reqwest::Method::GET, url.clone(), &seeker, None).await;
        assert_eq!(
            st, 200,
            "{label}: the room exists, the link needs no call: {room}"
        );
        let page = seeker_browser
            .get(room["url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 503, "{label}");
        let html = page.text().await.unwrap();
        assert!(
            html.contains("The video service is not answering"),
            "{label}: {html}"
        );
        assert!(!html.contains("daily-secret"), "{label}: the key leaked");
    }
}
