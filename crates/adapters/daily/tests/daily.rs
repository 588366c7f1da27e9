//! The Daily adapter against a stand-in of Daily's REST API: what it sends, and how every
//! kind of failure (4xx, 5xx, time-out, unreachable, garbage) becomes a `VideoError`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jobby_daily::{DailyConfig, DailyRooms, ROOM_LIFETIME_SECONDS};
use jobby_domain::model::ids::{EventId, UserId};
use jobby_domain::model::matches::Match;
use jobby_domain::ports::VideoRooms;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "daily-test-key";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn a_match() -> Match {
    Match::new(EventId::new(), UserId::new(), UserId::new(), now())
}

fn rooms(server: &MockServer, timeout: Duration) -> std::sync::Arc<DailyRooms> {
    let mut config = DailyConfig::new(KEY, Some(format!("{}/v1", server.uri())));
    config.timeout = timeout;
    DailyRooms::new(config).unwrap()
}

async fn sent_bodies(server: &MockServer, p: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == p)
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn creates_a_private_two_person_room_capped_by_eject_after_elapsed() {
    let server = MockServer::start().await;
    let m = a_match();
    Mock::given(method("POST"))
        .and(path("/v1/rooms"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "5e3cf703", "name": m.room_name(), "privacy": "private",
            "url": format!("https://jobby.daily.co/{}", m.room_name()),
        })))
        .expect(1)
        .mount(&server)
        .await;
    rooms(&server, Duration::from_secs(5))
        .create_room(&m)
        .await
        .unwrap();
    let sent = sent_bodies(&server, "/v1/rooms").await;
    assert_eq!(
        sent[0],
        json!({
            "name": m.room_name(),
            "privacy": "private",
            "properties": {
                "max_participants": 2,
                "eject_after_elapsed": 3600,
                "exp": now().timestamp() + ROOM_LIFETIME_SECONDS,
            },
        })
    );
}

#[tokio::test]
async fn creating_a_room_that_exists_is_harmless() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/rooms"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid-request-error",
            "info": "a room named jobby-0190 already exists",
        })))
        .mount(&server)
        .await;
    rooms(&server, Duration::from_secs(5))
        .create_room(&a_match())
        .await
        .unwrap();
}

#[tokio::test]
async fn entering_carries_a_30_second_token_for_that_room_and_user() {
    let server = MockServer::start().await;
    let mut m = a_match();
    m.room_name = Some(m.room_name());
    let name = m.room_name();
    let user = m.seeker_id;
    Mock::given(method("POST"))
        .and(path("/v1/meeting-tokens"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(body_partial_json(
            json!({"properties": {"room_name": name}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "eyJ.tok"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/rooms/{name}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": name, "privacy": "private",
            "url": format!("https://jobby.daily.co/{name}"),
        })))
        .mount(&server)
        .await;
    let at = now() + chrono::Duration::seconds(90);
    let url = rooms(&server, Duration::from_secs(5))
        .enter(&m, user, at)
        .await
        .unwrap();
    assert_eq!(
        url.as_deref(),
        Some(format!("https://jobby.daily.co/{name}?t=eyJ.tok").as_str())
    );
    let sent = sent_bodies(&server, "/v1/meeting-tokens").await;
    // Exactly these properties: in particular no eject_at_token_exp, which would throw the
    // person out 30 seconds into the interview.
    assert_eq!(
        sent[0],
        json!({"properties": {
            "room_name": name,
            "user_id": user.to_string(),
            "exp": at.timestamp() + 30,
        }})
    );
    assert!(
        user.to_string().len() <= 36,
        "Daily takes user ids of at most 36 characters"
    );
}

/// Every way Daily can fail becomes a `VideoError` (the HTTP edge answers 503
/// `DEPENDENCY_UNAVAILABLE`), and the error never carries the API key.
#[tokio::test]
async fn daily_failures_are_video_errors() {
    let cases: Vec<(&str, ResponseTemplate)> = vec![
        (
            "401",
            ResponseTemplate::new(401).set_body_json(
                json!({"error": "authorization-header-error", "info": "bad API key"}),
            ),
        ),
        (
            "404",
            ResponseTemplate::new(404).set_body_json(json!({"error": "not-found"})),
        ),
        (
            "429",
            ResponseTemplate::new(429).set_body_json(json!({"error": "rate-limit-error"})),
        ),
        (
            "500",
            ResponseTemplate::new(500).set_body_string("upstream exploded"),
        ),
        ("503", ResponseTemplate::new(503)),
        (
            "time-out",
            ResponseTemplate::new(200)
                .set_body_json(json!({"token": "late"}))
                .set_delay(Duration::from_secs(3)),
        ),
        (
            "not JSON",
            ResponseTemplate::new(200).set_body_string("<html>"),
        ),
        (
            "no token",
            ResponseTemplate::new(200).set_body_json(json!({"tok": "x"})),
        ),
    ];
    for (label, response) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(response.clone())
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(response)
            .mount(&server)
            .await;
        let daily = rooms(&server, Duration::from_millis(300));
        let mut m = a_match();
        m.room_name = Some(m.room_name());
        let join = daily.enter(&m, m.seeker_id, now()).await;
        let e = join.expect_err(label);
        assert!(!e.0.contains(KEY), "{label}: the key leaked: {e}");
        if label != "no token" {
            let create = daily.create_room(&m).await;
            assert!(create.is_err(), "{label}: creating a room should fail");
        }
    }
}

#[tokio::test]
async fn an_unreachable_daily_is_a_video_error() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut config = DailyConfig::new(KEY, Some(format!("http://{addr}/v1")));
    config.timeout = Duration::from_millis(500);
    let daily = DailyRooms::new(config).unwrap();
    let e = daily.create_room(&a_match()).await.unwrap_err();
    assert!(e.0.contains("could not connect"), "{e}");
}
