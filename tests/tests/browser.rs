//! The reference's worked example, end to end, with its human steps in a real browser
//! (headless Chromium): a seeker mints a token in the browser, their agent joins and polls,
//! both humans accept in their own browsers, and the seeker opens the room link.

use fantoccini::Locator;
use jobby_tests::browser::{Chrome, element, eventually, log_in, wait_for_status};
use jobby_tests::{Services, account_with_token, call, client, jobby, services, spawn};
use serde_json::{Value, json};

const PASSWORD: &str = "a long password";

#[tokio::test]
async fn the_worked_example_with_both_browser_steps() {
    let Some(s): Option<Services> = services().await else {
        return;
    };
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let server = spawn(&s, &[]);
    let base = server.base.clone();
    let recruiter = account_with_token(
        &s,
        "recruiter@example.com",
        "recruiter",
        "events:write,matches:read,matches:write",
    );
    // The seeker's account; their token comes from the browser below.
    jobby(
        &s,
        &[
            "admin",
            "create-user",
            "--email",
            "seeker@example.com",
            "--password",
            PASSWORD,
            "--name",
            "Sam Seeker",
            "--account-type",
            "seeker",
        ],
    );

    // The recruiter's event is live; they step away for a moment, so the seeker waits.
    let (st, ev) = call(
        reqwest::Method::POST,
        server.url("/api/v1/events"),
        &recruiter,
        Some(json!({"title": "Rust engineers, live"})),
    )
    .await;
    assert_eq!(st, 201, "{ev}");
    let eid = ev["id"].as_str().unwrap().to_owned();
    for (path, body) in [
        (format!("/api/v1/events/{eid}/start"), None),
        (
            format!("/api/v1/events/{eid}/availability"),
            Some(json!({"available": false})),
        ),
    ] {
        let m = if body.is_some() {
            reqwest::Method::PUT
        } else {
            reqwest::Method::POST
        };
        let (st, b) = call(m, server.url(&path), &recruiter, body).await;
        assert_eq!(st, 200, "{path}: {b}");
    }

    // 0. The seeker mints a token at /account/api-tokens, in the browser.
    let seeker_window = chrome.window().await;
    log_in(&seeker_window, &base, "seeker@example.com", PASSWORD).await;
    seeker_window
        .goto(&format!("{base}/account/api-tokens"))
        .await
        .unwrap();
    seeker_window
        .find(Locator::Css("input[name=name]"))
        .await
        .unwrap()
        .send_keys("my agent")
        .await
        .unwrap();
    for scope in ["queue:write", "queue:read", "matches:read"] {
        seeker_window
            .find(Locator::Css(&format!(
                "input[name=scopes][value=\"{scope}\"]"
            )))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    seeker_window
        .find(Locator::XPath("//button[text()='Create token']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let token = element(&seeker_window, Locator::Id("new-token"))
        .await
        .text()
        .await
        .unwrap();
    assert!(token.starts_with("jbb_"), "{token}");

    // 1. Find a live event (public).
    let live: Value = client()
        .get(server.url("/api/v1/live-events?limit=5"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(live["data"][0]["id"], eid.as_str(), "{live}");

    // 2. Join its queue: 200, with the queue position.
    let (st, joined) = call(
        reqwest::Method::POST,
        server.url("/api/v1/queue/join"),
        &token,
        Some(json!({"event_id": eid})),
    )
    .await;
    assert_eq!(st, 200, "{joined}");
    assert_eq!(
        (&joined["status"], &joined["position"]),
        (&json!("waiting"), &json!(1))
    );

    // 3. Poll status: the recruiter comes back, and the status eventually shows the match.
    let (st, _) = call(
        reqwest::Method::PUT,
        server.url(&format!("/api/v1/events/{eid}/availability")),
        &recruiter,
        Some(json!({"available": true})),
    )
    .await;
    assert_eq!(st, 200);
    let (_, status) = call(
        reqwest::Method::GET,
        server.url("/api/v1/queue/status"),
        &token,
        None,
    )
    .await;
    assert_eq!(status["status"], "matched", "{status}");
    assert_eq!(status["poll_interval_seconds"], 5);
    let mid = status["match_id"].as_str().unwrap().to_owned();

    // The agent cannot accept, whatever its token, and gets no room before acceptance.
    let (st, body) = call(
        reqwest::Method::POST,
        server.url(&format!("/api/v1/matches/{mid}/accept")),
        &token,
        None,
    )
    .await;
    assert_eq!((st, &body["code"]), (403, &json!("HUMAN_SESSION_REQUIRED")));
    let room_url = server.url(&format!("/api/v1/matches/{mid}/interview-room-url"));
    let (st, body) = call(reqwest::Method::GET, room_url.clone(), &token, None).await;
    assert_eq!((st, &body["code"]), (409, &json!("MATCH_NOT_ACCEPTED")));

    // 4. Browser step 1: each human opens the match page and presses Accept.
    let match_page = format!("{base}/account/matches/{mid}");
    seeker_window.goto(&match_page).await.unwrap();
    wait_for_status(&seeker_window, "pending").await;
    element(&seeker_window, Locator::Id("accept"))
        .await
        .click()
        .await
        .unwrap();
    // Accepted on this side: the page comes back without the button, still pending for
    // the recruiter.
    eventually("the accept button is gone", || async {
        seeker_window.find(Locator::Id("accept")).await.is_err()
    })
    .await;
    wait_for_status(&seeker_window, "pending").await;
    let recruiter_window = chrome.window().await;
    log_in(
        &recruiter_window,
        &base,
        "recruiter@example.com",
        "a long password",
    )
    .await;
    recruiter_window.goto(&match_page).await.unwrap();
    element(&recruiter_window, Locator::Id("accept"))
        .await
        .click()
        .await
        .unwrap();
    wait_for_status(&recruiter_window, "accepted").await;
    let (_, m) = call(
        reqwest::Method::GET,
        server.url(&format!("/api/v1/matches/{mid}")),
        &token,
        None,
    )
    .await;
    assert_eq!(m["status"], "accepted", "{m}");

    // The agent fetches a room link for its human.
    let (st, room) = call(reqwest::Method::GET, room_url.clone(), &token, None).await;
    assert_eq!(st, 200, "{room}");
    let link = room["url"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&format!("{base}/rooms/")), "{link}");

    // Browser step 2: a leaked link is useless in the recruiter's browser...
    recruiter_window.goto(&link).await.unwrap();
    let refused = element(&recruiter_window, Locator::Css("h1")).await;
    assert_eq!(
        refused.text().await.unwrap(),
        "This room link does not open"
    );
    // ...and opens the room once in the seeker's.
    seeker_window.goto(&link).await.unwrap();
    let h1 = element(&seeker_window, Locator::Id("room"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(h1, "Interview room");
    seeker_window.goto(&link).await.unwrap();
    let again = element(&seeker_window, Locator::Css("h1")).await;
    assert_eq!(
        again.text().await.unwrap(),
        "This room link does not open",
        "a room link works once"
    );

    // The interview ends; the recruiter's seat is free again.
    let (st, done) = call(
        reqwest::Method::POST,
        server.url(&format!("/api/v1/matches/{mid}/complete")),
        &recruiter,
        None,
    )
    .await;
    assert_eq!((st, &done["status"]), (200, &json!("completed")), "{done}");
    for w in [seeker_window, recruiter_window] {
        w.close().await.unwrap();
    }
}
