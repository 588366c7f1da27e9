//! The live queue end to end: two `jobby` processes on one Postgres and Redis.

use std::collections::HashSet;

use futures_util::future::join_all;
use jobby_tests::{Services, account_with_token, call, client, services_or_skip, spawn};
use serde_json::{Value, json};

const RECRUITER: &str = "events:read,events:write,matches:read,matches:write";
const SEEKER: &str = "queue:read,queue:write,matches:read,matches:write";

/// The reference's worked example, and matching exactly once while joins arrive through two
/// processes at once.
#[tokio::test]
async fn seekers_joining_through_two_processes_are_matched_exactly_once() {
    let s: Services = services_or_skip!();
    let owner = account_with_token(&s, "owner@example.com", "recruiter", RECRUITER);
    let mut interviewers = vec![];
    for i in 0..2 {
        interviewers.push(account_with_token(
            &s,
            &format!("iv{i}@example.com"),
            "recruiter",
            RECRUITER,
        ));
    }
    let mut seekers = vec![];
    for i in 0..16 {
        seekers.push(account_with_token(
            &s,
            &format!("s{i}@example.com"),
            "seeker",
            SEEKER,
        ));
    }
    let a = spawn(&s, &[]);
    let b = spawn(&s, &[]);
    let servers = [&a, &b];

    let mut ids = vec![];
    for t in &interviewers {
        let (_, me) = call(reqwest::Method::GET, a.url("/api/v1/tokens/self"), t, None).await;
        ids.push(me["user_id"].as_str().unwrap().to_owned());
    }
    let (st, ev) = call(
        reqwest::Method::POST,
        a.url("/api/v1/events"),
        &owner,
        Some(json!({"title": "Rust fair", "company": "Ferris Inc", "interviewer_ids": ids})),
    )
    .await;
    assert_eq!(st, 201, "{ev}");
    let id = ev["id"].as_str().unwrap().to_owned();
    let (st, _) = call(
        reqwest::Method::POST,
        b.url(&format!("/api/v1/events/{id}/start")),
        &owner,
        None,
    )
    .await;
    assert_eq!(st, 200);

    // 1. Find a live event (public, no token needed).
    let live: Value = client()
        .get(a.url("/api/v1/live-events?limit=5"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(live["data"][0]["id"], id.as_str());

    // 2. Joins through both processes at once, racing the interviewers becoming available.
    let mut calls = vec![];
    for (i, t) in seekers.iter().enumerate() {
        let url = servers[i % 2].url("/api/v1/queue/join");
        let body = json!({"event_id": id});
        calls.push(
            Box::pin(async move { call(reqwest::Method::POST, url, t, Some(body)).await })
                as std::pin::Pin<Box<dyn std::future::Future<Output = (u16, Value)>>>,
        );
    }
    for (i, t) in interviewers.iter().enumerate() {
        let url = servers[i % 2].url(&format!("/api/v1/events/{id}/availability"));
        calls.push(Box::pin(async move {
            call(
                reqwest::Method::PUT,
                url,
                t,
                Some(json!({"available": true})),
            )
            .await
        }));
    }
    for (status, body) in join_all(calls).await {
        assert_eq!(status, 200, "{body}");
    }

    // 3. Poll status: exactly one seeker per seat, waiting positions exactly 1..n (once the
    // places have caught up with the last join: they may trail a change by 250 ms).
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let mut seated = HashSet::new();
    let mut matched = vec![];
    let mut positions = vec![];
    for (i, t) in seekers.iter().enumerate() {
        let (_, st) = call(
            reqwest::Method::GET,
            servers[i % 2].url("/api/v1/queue/status"),
            t,
            None,
        )
        .await;
        match st["status"].as_str().unwrap() {
            "matched" => {
                let mid = st["match_id"].as_str().unwrap().to_owned();
                let (_, m) = call(
                    reqwest::Method::GET,
                    a.url(&format!("/api/v1/matches/{mid}")),
                    t,
                    None,
                )
                .await;
                assert_eq!(m["status"], "pending");
                assert!(
                    seated.insert(m["interviewer_id"].as_str().unwrap().to_owned()),
                    "one seat each"
                );
                matched.push((i, mid));
            }
            "waiting" => positions.push(st["position"].as_u64().unwrap()),
            other => panic!("a join was lost: {other}"),
        }
    }
    assert_eq!(seated.len(), 3, "every seat is filled");
    positions.sort_unstable();
    assert_eq!(positions, (1..=13).collect::<Vec<u64>>());

    // 4. Acceptance is for humans: a token is refused whatever its scopes.
    let (i, mid) = &matched[0];
    let (st, body) = call(
        reqwest::Method::POST,
        b.url(&format!("/api/v1/matches/{mid}/accept")),
        &seekers[*i],
        None,
    )
    .await;
    assert_eq!(
        (st, body["code"].as_str()),
        (403, Some("HUMAN_SESSION_REQUIRED"))
    );
    let (st, body) = call(
        reqwest::Method::GET,
        b.url(&format!("/api/v1/matches/{mid}/interview-room-url")),
        &seekers[*i],
        None,
    )
    .await;
    assert_eq!(
        (st, body["code"].as_str()),
        (409, Some("MATCH_NOT_ACCEPTED"))
    );

    // A seeker declines through one process; the seat is refilled, exactly once, by the
    // longest-waiting seeker, whichever process looks.
    let (st, body) = call(
        reqwest::Method::POST,
        a.url(&format!("/api/v1/matches/{mid}/decline")),
        &seekers[*i],
        None,
    )
    .await;
    assert_eq!((st, body["status"].as_str()), (200, Some("declined")));
    // Places may trail a change by up to 250 ms (each process reads its event's lineup at
    // most that often); the state and the match never do.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut now_matched = 0;
    let mut waiting = vec![];
    for (j, t) in seekers.iter().enumerate() {
        let (_, st) = call(
            reqwest::Method::GET,
            servers[j % 2].url("/api/v1/queue/status"),
            t,
            None,
        )
        .await;
        match st["status"].as_str().unwrap() {
            "matched" => now_matched += 1,
            "waiting" => waiting.push(st["position"].as_u64().unwrap()),
            _ => assert_eq!(j, *i, "only the seeker who declined left"),
        }
    }
    assert_eq!(now_matched, 3);
    waiting.sort_unstable();
    assert_eq!(waiting, (1..=12).collect::<Vec<u64>>());
}

/// Reads the stream until a frame satisfying `want` arrives; returns it.
async fn frame_until(
    resp: &mut reqwest::Response,
    buf: &mut String,
    want: impl Fn(&str) -> bool,
) -> String {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            if want(&frame) {
                return frame;
            }
        }
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("the stream said nothing wanted for 10 s")
            .expect("reading the stream")
            .expect("the stream ended early");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

fn data_of(frame: &str) -> Value {
    let data = frame
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("no data in {frame:?}"));
    serde_json::from_str(data).unwrap()
}

/// A stream opened on one process hears changes made through the other (through the
/// Postgres outbox), and a SIGTERM closes it cleanly.
#[tokio::test]
async fn the_queue_stream_follows_changes_made_anywhere_and_closes_on_shutdown() {
    let s: Services = services_or_skip!();
    let owner = account_with_token(&s, "owner@example.com", "recruiter", RECRUITER);
    let seeker = account_with_token(&s, "seeker@example.com", "seeker", SEEKER);
    let a = spawn(&s, &[]);
    let b = spawn(&s, &[]);
    let (st, ev) = call(
        reqwest::Method::POST,
        a.url("/api/v1/events"),
        &owner,
        Some(json!({"title": "Stream fair"})),
    )
    .await;
    assert_eq!(st, 201, "{ev}");
    let id = ev["id"].as_str().unwrap().to_owned();
    call(
        reqwest::Method::POST,
        a.url(&format!("/api/v1/events/{id}/start")),
        &owner,
        None,
    )
    .await;
    // The owner steps away, so the seeker waits.
    let (st, _) = call(
        reqwest::Method::PUT,
        a.url(&format!("/api/v1/events/{id}/availability")),
        &owner,
        Some(json!({"available": false})),
    )
    .await;
    assert_eq!(st, 200);

    let mut stream = client()
        .get(b.url("/api/v1/queue/stream"))
        .bearer_auth(&seeker)
        .timeout(std::time::Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut buf = String::new();
    let first = frame_until(&mut stream, &mut buf, |f| f.contains("event: status")).await;
    assert_eq!(data_of(&first)["status"], "not_queued");

    // Joined through process A: B's stream hears it.
    let (st, _) = call(
        reqwest::Method::POST,
        a.url("/api/v1/queue/join"),
        &seeker,
        Some(json!({"event_id": id})),
    )
    .await;
    assert_eq!(st, 200);
    let waiting = frame_until(&mut stream, &mut buf, |f| f.contains("event: status")).await;
    let w = data_of(&waiting);
    assert_eq!(
        (&w["status"], &w["position"]),
        (&json!("waiting"), &json!(1))
    );

    // The owner comes back through A: the match reaches B's stream.
    let t0 = std::time::Instant::now();
    call(
        reqwest::Method::PUT,
        a.url(&format!("/api/v1/events/{id}/availability")),
        &owner,
        Some(json!({"available": true})),
    )
    .await;
    let matched = frame_until(&mut stream, &mut buf, |f| f.contains("event: status")).await;
    let m = data_of(&matched);
    assert_eq!(
        (&m["status"], &m["match_status"]),
        (&json!("matched"), &json!("pending")),
        "{m}"
    );
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(3),
        "the change arrived after {:?}",
        t0.elapsed()
    );

    // SIGTERM to B: the stream gets its closing event and ends; the process exits cleanly.
    let stop = tokio::task::spawn_blocking(move || b.terminate(std::time::Duration::from_secs(15)));
    let closing = frame_until(&mut stream, &mut buf, |f| f.starts_with("event: closing")).await;
    assert_eq!(data_of(&closing)["reason"], "shutdown");
    let end = tokio::time::timeout(std::time::Duration::from_secs(10), stream.chunk())
        .await
        .expect("the stream stays open after closing");
    assert!(matches!(end, Ok(None)), "the stream ends cleanly: {end:?}");
    assert!(stop.await.unwrap(), "B exits with success within 15 s");
}
