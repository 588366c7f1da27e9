//! The live queue over HTTP: events, the queue, matches, the human-only accept and the room.

mod common;

use actix_web::test::{self, TestRequest};
use common::*;
use jobby_domain::model::account::AccountType;
use jobby_domain::model::scopes::Scope;
use jobby_domain::usecases::accounts;
use serde_json::{Value, json};

struct Browser {
    cookie: String,
    csrf: String,
}

async fn browser(st: &jobby_http::AppState, user: &jobby_domain::model::account::User) -> Browser {
    let (secret, record) = accounts::start_session(&st.db, user.id, st.clock.now())
        .await
        .unwrap();
    Browser {
        cookie: format!("jobby_session={secret}"),
        csrf: record.csrf_token,
    }
}

fn post_json(uri: &str, token: &str, body: Value) -> TestRequest {
    TestRequest::post()
        .uri(uri)
        .insert_header(bearer(token))
        .set_json(body)
}

fn get(uri: &str, token: &str) -> TestRequest {
    TestRequest::get().uri(uri).insert_header(bearer(token))
}

#[actix_web::test]
async fn events_queue_and_matches_end_to_end() {
    let st = state();
    let app = test::init_service(jobby_http::build_app(st.clone())).await;
    let rec = user(&st, "rec@example.com", AccountType::Recruiter).await;
    let other_rec = user(&st, "other@example.com", AccountType::Recruiter).await;
    let seeker = user(&st, "seek@example.com", AccountType::Seeker).await;
    let seeker2 = user(&st, "seek2@example.com", AccountType::Seeker).await;
    let rt = token(
        &st,
        &rec,
        &[
            Scope::EventsRead,
            Scope::EventsWrite,
            Scope::MatchesRead,
            Scope::MatchesWrite,
        ],
    )
    .await;
    let other_t = token(&st, &other_rec, &[Scope::EventsRead, Scope::EventsWrite]).await;
    let st_tok = token(
        &st,
        &seeker,
        &[
            Scope::QueueRead,
            Scope::QueueWrite,
            Scope::MatchesRead,
            Scope::MatchesWrite,
        ],
    )
    .await;
    let st2_tok = token(&st, &seeker2, &[Scope::QueueRead, Scope::QueueWrite]).await;
    let narrow = token(&st, &rec, &[Scope::EventsRead]).await;

    // Create: validation, scope, account type, success.
    let (s, _, b) = send(&app, post_json("/api/v1/events", &rt, json!({"title": ""}))).await;
    assert_eq!(s, 400);
    assert_envelope(&b, "VALIDATION");
    assert!(b["details"]["fields"]["title"].is_string());
    let (s, _, b) = send(
        &app,
        post_json("/api/v1/events", &rt, json!({"title": "x", "colour": 1})),
    )
    .await;
    assert_eq!(s, 400, "unknown fields are refused: {b}");
    let (s, h, b) = send(
        &app,
        post_json("/api/v1/events", &narrow, json!({"title": "x"})),
    )
    .await;
    assert_eq!(s, 403);
    assert_envelope(&b, "INSUFFICIENT_SCOPE");
    assert_limit_headers(&h);
    let (s, _, b) = send(
        &app,
        post_json("/api/v1/events", &st_tok, json!({"title": "x"})),
    )
    .await;
    assert_eq!(s, 403);
    assert_envelope(&b, "INSUFFICIENT_SCOPE");
    let (s, _, b) = send(
        &app,
        post_json(
            "/api/v1/events",
            &rt,
            json!({"title": "Rust fair", "interviewer_ids": [seeker.id.to_string()]}),
        ),
    )
    .await;
    assert_eq!(s, 400, "a seeker cannot interview: {b}");
    let why = b["details"]["fields"]["interviewer_ids"].as_str().unwrap();
    assert!(
        why.contains(&seeker.id.to_string()),
        "names the account: {why}"
    );
    let (s, _, ev) = send(
        &app,
        post_json(
            "/api/v1/events",
            &rt,
            json!({"title": "Rust fair", "company": "Ferris Inc"}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{ev}");
    assert_eq!(ev["status"], "draft");
    assert_eq!(ev["interviewers"][0]["user_id"], rec.id.to_string());
    let id = ev["id"].as_str().unwrap().to_owned();

    // Another recruiter cannot see or change it; a malformed id is the same 404.
    let (s, _, other) = send(&app, get(&format!("/api/v1/events/{id}"), &other_t)).await;
    assert_eq!(s, 404);
    let (s, _, malformed) = send(&app, get("/api/v1/events/evt_nope", &other_t)).await;
    assert_eq!((s, &other), (404, &malformed));
    let (s, _, _) = send(
        &app,
        post_json(&format!("/api/v1/events/{id}/start"), &other_t, json!({})),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _, b) = send(
        &app,
        TestRequest::patch()
            .uri(&format!("/api/v1/events/{id}"))
            .insert_header(bearer(&rt))
            .set_json(json!({"description": "All things Rust"})),
    )
    .await;
    assert_eq!((s, &b["description"]), (200, &json!("All things Rust")));

    // Not live: not listed, joins refused.
    let (s, _, list) = send(&app, TestRequest::get().uri("/api/v1/live-events")).await;
    assert_eq!((s, list["data"].as_array().unwrap().len()), (200, 0));
    let (s, _, b) = send(
        &app,
        post_json("/api/v1/queue/join", &st_tok, json!({"event_id": id})),
    )
    .await;
    assert_eq!(s, 409);
    assert_envelope(&b, "EVENT_NOT_LIVE");

    // Live: listed with its queue, the owner available.
    let (s, _, b) = send(
        &app,
        post_json(&format!("/api/v1/events/{id}/start"), &rt, json!({})),
    )
    .await;
    assert_eq!(
        (s, &b["status"], &b["interviewers"][0]["available"]),
        (200, &json!("live"), &json!(true))
    );
    let (_, _, live) = send(
        &app,
        TestRequest::get().uri(&format!("/api/v1/live-events/{id}")),
    )
    .await;
    assert_eq!(live["queue_length"], 0);
    assert_eq!(live["available_interviewers"], 1);

    // Joins: bad input, wrong account type, unknown event, success, repeat.
    let (s, _, b) = send(
        &app,
        post_json("/api/v1/queue/join", &st_tok, json!({"event_id": "nope"})),
    )
    .await;
    assert_eq!(s, 400);
    assert!(b["details"]["fields"]["event_id"].is_string(), "{b}");
    let (s, _, b) = send(
        &app,
        post_json(
            "/api/v1/queue/join",
            &st_tok,
            json!({"event_id": "evt_0193b1c2d3e4f5a6b7c8d9e0f1a2b3c4"}),
        ),
    )
    .await;
    assert_eq!(s, 404, "{b}");
    let rq = token(&st, &rec, &[Scope::QueueWrite]).await;
    let (s, _, b) = send(
        &app,
        post_json("/api/v1/queue/join", &rq, json!({"event_id": id})),
    )
    .await;
    assert_eq!(s, 403);
    assert_envelope(&b, "WRONG_ACCOUNT_TYPE");
    let key = uuid::Uuid::new_v4().to_string();
    let (s, _, joined) = send(
        &app,
        post_json("/api/v1/queue/join", &st_tok, json!({"event_id": id}))
            .insert_header(("idempotency-key", key.as_str())),
    )
    .await;
    assert_eq!(s, 200, "{joined}");
    assert_eq!(joined["status"], "matched");
    assert_eq!(joined["poll_interval_seconds"], 5);
    let mid = joined["match_id"].as_str().unwrap().to_owned();
    let (s, h, replay) = send(
        &app,
        post_json("/api/v1/queue/join", &st_tok, json!({"event_id": id}))
            .insert_header(("idempotency-key", key.as_str())),
    )
    .await;
    assert_eq!((s, &replay), (200, &joined));
    assert_eq!(h["idempotent-replayed"], "true");
    let (s, _, b) = send(
        &app,
        post_json("/api/v1/queue/join", &st2_tok, json!({"event_id": id})),
    )
    .await;
    assert_eq!(
        (s, &b["status"], &b["position"]),
        (200, &json!("waiting"), &json!(1))
    );
    let (_, _, again) = send(
        &app,
        post_json("/api/v1/queue/join", &st2_tok, json!({"event_id": id})),
    )
    .await;
    assert_eq!(again, b, "same event again: the same entry");
    let (_, _, status) = send(&app, get("/api/v1/queue/status", &st2_tok)).await;
    assert_eq!(
        (&status["position"], &status["queue_length"]),
        (&json!(1), &json!(1))
    );

    // The match: each participant sees it, nobody else does.
    let (s, _, m) = send(&app, get(&format!("/api/v1/matches/{mid}"), &st_tok)).await;
    assert_eq!((s, &m["status"]), (200, &json!("pending")));
    assert_eq!(
        m["accept_url"],
        format!("http://jobby.test/account/matches/{mid}")
    );
    let (s, _, _) = send(&app, get(&format!("/api/v1/matches/{mid}"), &rt)).await;
    assert_eq!(s, 200);
    let outsider = token(&st, &seeker2, &[Scope::MatchesRead, Scope::MatchesWrite]).await;
    let (s, _, _) = send(&app, get(&format!("/api/v1/matches/{mid}"), &outsider)).await;
    assert_eq!(s, 404);
    let (s, _, b) = send(
        &app,
        post_json(
            &format!("/api/v1/matches/{mid}/decline"),
            &outsider,
            json!({}),
        ),
    )
    .await;
    assert_eq!(s, 404, "{b}");
    let (s, _, b) = send(&app, get("/api/v1/matches?status=nope", &st_tok)).await;
    assert_eq!(s, 400);
    assert!(b["details"]["fields"]["status"].is_string());
    let (_, _, list) = send(&app, get("/api/v1/matches?status=pending", &st_tok)).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    // A decline with a bad body is refused and changes nothing.
    let long = "x".repeat(501);
    let (s, _, b) = send(
        &app,
        post_json(
            &format!("/api/v1/matches/{mid}/decline"),
            &st_tok,
            json!({"reason": long}),
        ),
    )
    .await;
    assert_eq!(s, 400);
    assert!(b["details"]["fields"]["reason"].is_string(), "{b}");
    let (s, _, b) = send(
        &app,
        post_json(
            &format!("/api/v1/matches/{mid}/decline"),
            &st_tok,
            json!({"why": "x"}),
        ),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (_, _, m) = send(&app, get(&format!("/api/v1/matches/{mid}"), &st_tok)).await;
    assert_eq!(m["status"], "pending");

    // The room is closed until both accept; completing before is refused.
    let (s, _, b) = send(
        &app,
        get(
            &format!("/api/v1/matches/{mid}/interview-room-url"),
            &st_tok,
        ),
    )
    .await;
    assert_eq!(s, 409);
    assert_envelope(&b, "MATCH_NOT_ACCEPTED");
    let (s, _, b) = send(
        &app,
        post_json(&format!("/api/v1/matches/{mid}/complete"), &rt, json!({})),
    )
    .await;
    assert_eq!(s, 409);
    assert_envelope(&b, "MATCH_NOT_ACCEPTED");

    // Accepting is for humans: any Authorization header is refused, even a full token.
    let (s, h, b) = send(
        &app,
        post_json(&format!("/api/v1/matches/{mid}/accept"), &st_tok, json!({})),
    )
    .await;
    assert_eq!(s, 403);
    assert_envelope(&b, "HUMAN_SESSION_REQUIRED");
    assert_limit_headers(&h);
    let (s, _, b) = send(
        &app,
        TestRequest::post().uri(&format!("/api/v1/matches/{mid}/accept")),
    )
    .await;
    assert_eq!(s, 401);
    assert_envelope(&b, "UNAUTHENTICATED");
    let seeker_browser = browser(&st, &seeker).await;
    let rec_browser = browser(&st, &rec).await;
    let accept = |b: &Browser, csrf: &str| {
        TestRequest::post()
            .uri(&format!("/api/v1/matches/{mid}/accept"))
            .insert_header(("cookie", b.cookie.clone()))
            .insert_header(("x-csrf-token", csrf.to_owned()))
    };
    let (s, _, b) = send(&app, accept(&seeker_browser, "wrong")).await;
    assert_eq!(s, 403);
    assert_envelope(&b, "CSRF_FAILED");
    let (s, _, b) = send(
        &app,
        accept(&seeker_browser, &seeker_browser.csrf)
            .insert_header(("sec-fetch-site", "cross-site")),
    )
    .await;
    assert_eq!(s, 403, "the right token from another site");
    assert_envelope(&b, "CSRF_FAILED");
    let (s, _, b) = send(&app, accept(&seeker_browser, &seeker_browser.csrf)).await;
    assert_eq!(
        (s, &b["seeker_accepted"], &b["status"]),
        (200, &json!(true), &json!("pending"))
    );
    let (s, _, b) = send(&app, accept(&rec_browser, &rec_browser.csrf)).await;
    assert_eq!((s, &b["status"]), (200, &json!("accepted")), "{b}");
    let (s, _, b) = send(&app, accept(&rec_browser, &rec_browser.csrf)).await;
    assert_eq!(s, 409);
    assert_envelope(&b, "MATCH_NOT_PENDING");
    let (_, _, m) = send(&app, get(&format!("/api/v1/matches/{mid}"), &st_tok)).await;
    assert_eq!(m["started_at"], Value::Null, "nobody is in the room yet");

    // The room URL: once, only for its user, in their session.
    let (s, h, room) = send(
        &app,
        get(
            &format!("/api/v1/matches/{mid}/interview-room-url"),
            &st_tok,
        ),
    )
    .await;
    assert_eq!(s, 200, "{room}");
    assert_eq!(h["ratelimit-policy"], "\"cost\";q=3;w=60");
    let url = room["url"].as_str().unwrap();
    let path = url.strip_prefix("http://jobby.test").unwrap().to_owned();
    let open = |b: &Browser| {
        TestRequest::get()
            .uri(&path)
            .insert_header(("cookie", b.cookie.clone()))
    };
    // Refusals are pages for the person in front of the browser, not API envelopes.
    let page_of = |resp: actix_web::dev::ServiceResponse<_>| async move {
        let status = resp.status().as_u16();
        let kind = Headers::of(resp.headers())["content-type"].clone();
        let html = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
        assert!(kind.starts_with("text/html"), "{kind}: {html}");
        (status, html)
    };
    let (s, html) = page_of(test::call_service(&app, open(&rec_browser).to_request()).await).await;
    assert_eq!(s, 403, "another user's link does not open");
    assert!(html.contains("This room link does not open"), "{html}");
    let (s, html) =
        page_of(test::call_service(&app, TestRequest::get().uri(&path).to_request()).await).await;
    assert_eq!(s, 401, "nor without a session");
    assert!(html.contains("Log in first"), "{html}");
    let resp = test::call_service(&app, open(&seeker_browser).to_request()).await;
    assert_eq!(resp.status(), 200);
    let html = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    assert!(html.contains("id=\"room\""), "{html}");
    let resp = test::call_service(&app, open(&seeker_browser).to_request()).await;
    assert_eq!(resp.status(), 403, "a link works once");

    // Someone entered the room: the interview has started and can no longer be declined.
    let (_, _, m) = send(&app, get(&format!("/api/v1/matches/{mid}"), &st_tok)).await;
    assert!(m["started_at"].is_string(), "{m}");
    let (s, _, b) = send(
        &app,
        post_json(
            &format!("/api/v1/matches/{mid}/decline"),
            &st_tok,
            json!({}),
        ),
    )
    .await;
    assert_eq!(s, 409);
    assert_envelope(&b, "MATCH_NOT_PENDING");

    // The cost class allows three calls a minute: the 409 above, the URL, and one more.
    let (s, h, _) = send(
        &app,
        get(
            &format!("/api/v1/matches/{mid}/interview-room-url"),
            &st_tok,
        ),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        h.get("cache-control").map(String::as_str),
        Some("no-store"),
        "a one-time URL is never cached"
    );
    let (s, h, b) = send(
        &app,
        get(
            &format!("/api/v1/matches/{mid}/interview-room-url"),
            &st_tok,
        ),
    )
    .await;
    assert_eq!(s, 429);
    assert_envelope(&b, "RATE_LIMITED");
    assert!(h.contains_key("retry-after"));

    // The interviewer completes; the seat goes to the next seeker.
    let (s, _, b) = send(
        &app,
        post_json(&format!("/api/v1/matches/{mid}/complete"), &rt, json!({})),
    )
    .await;
    assert_eq!((s, &b["status"]), (200, &json!("completed")));
    let (_, _, status) = send(&app, get("/api/v1/queue/status", &st2_tok)).await;
    assert_eq!(status["status"], "matched");
    let (_, _, status) = send(&app, get("/api/v1/queue/status", &st_tok)).await;
    assert_eq!(status["status"], "not_queued");

    // Leaving, twice: the second changes nothing.
    let (s, _, b) = send(&app, post_json("/api/v1/queue/leave", &st2_tok, json!({}))).await;
    assert_eq!((s, &b["status"]), (200, &json!("not_queued")));
    let (s, _, b) = send(&app, post_json("/api/v1/queue/leave", &st2_tok, json!({}))).await;
    assert_eq!((s, &b["status"]), (200, &json!("not_queued")));

    // Ending: no longer listed; a second end answers the same; availability is closed.
    let (s, _, b) = send(
        &app,
        post_json(&format!("/api/v1/events/{id}/end"), &rt, json!({})),
    )
    .await;
    assert_eq!((s, &b["status"]), (200, &json!("ended")));
    let (s, _, _) = send(
        &app,
        post_json(&format!("/api/v1/events/{id}/end"), &rt, json!({})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = send(
        &app,
        TestRequest::get().uri(&format!("/api/v1/live-events/{id}")),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _, b) = send(
        &app,
        TestRequest::put()
            .uri(&format!("/api/v1/events/{id}/availability"))
            .insert_header(bearer(&rt))
            .set_json(json!({"available": true})),
    )
    .await;
    assert_eq!(s, 409);
    assert_envelope(&b, "EVENT_ENDED");
    let (_, _, mine) = send(&app, get("/api/v1/events", &rt)).await;
    assert_eq!(mine["data"].as_array().unwrap().len(), 1);
}

/// A live event whose owner interviews, and a seeker matched with them at once.
struct Matched {
    rec: jobby_domain::model::account::User,
    seeker: jobby_domain::model::account::User,
    /// The recruiter's token: events and matches.
    rt: String,
    /// The seeker's token: queue and matches.
    stk: String,
    /// The event's id.
    eid: String,
    mid: String,
}

async fn matched<S, B>(st: &jobby_http::AppState, app: &S) -> Matched
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let rec = user(st, "rec@example.com", AccountType::Recruiter).await;
    let seeker = user(st, "seek@example.com", AccountType::Seeker).await;
    let rt = token(st, &rec, &[Scope::EventsWrite, Scope::MatchesRead]).await;
    let stk = token(
        st,
        &seeker,
        &[Scope::QueueWrite, Scope::QueueRead, Scope::MatchesWrite],
    )
    .await;
    let (_, _, ev) = send(
        app,
        post_json("/api/v1/events", &rt, json!({"title": "Fair"})),
    )
    .await;
    let eid = ev["id"].as_str().unwrap().to_owned();
    send(
        app,
        post_json(&format!("/api/v1/events/{eid}/start"), &rt, json!({})),
    )
    .await;
    let (_, _, joined) = send(
        app,
        post_json("/api/v1/queue/join", &stk, json!({"event_id": eid})),
    )
    .await;
    let mid = joined["match_id"]
        .as_str()
        .expect("matched at once")
        .to_owned();
    Matched {
        rec,
        seeker,
        rt,
        stk,
        eid,
        mid,
    }
}

#[actix_web::test]
async fn the_match_page_accepts_with_the_session_and_its_csrf_token() {
    let st = state();
    let app = test::init_service(jobby_http::build_app(st.clone())).await;
    let Matched { seeker, mid, .. } = matched(&st, &app).await;
    let mid = mid.as_str();
    let b = browser(&st, &seeker).await;
    let page = format!("/account/matches/{mid}");

    let resp = test::call_service(&app, TestRequest::get().uri(&page).to_request()).await;
    assert_eq!(resp.status(), 303, "log in first");
    let resp = test::call_service(
        &app,
        TestRequest::get()
            .uri(&page)
            .insert_header(("cookie", b.cookie.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let html = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    assert!(
        html.contains("id=\"accept\"") && html.contains("id=\"decline\""),
        "{html}"
    );
    let form = |csrf: &str| {
        TestRequest::post()
            .uri(&format!("{page}/accept"))
            .insert_header(("cookie", b.cookie.clone()))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(format!("csrf_token={csrf}"))
    };
    let resp = test::call_service(&app, form("forged").to_request()).await;
    assert_eq!(resp.status(), 403);
    let resp = test::call_service(&app, form(&b.csrf).to_request()).await;
    assert_eq!(resp.status(), 303);
    let resp = test::call_service(
        &app,
        TestRequest::get()
            .uri(&page)
            .insert_header(("cookie", b.cookie.clone()))
            .to_request(),
    )
    .await;
    let html = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    assert!(html.contains("You have accepted."), "{html}");
    assert!(!html.contains("id=\"accept\""));

    // Someone else's match is not found.
    let other = user(&st, "other@example.com", AccountType::Seeker).await;
    let ob = browser(&st, &other).await;
    let resp = test::call_service(
        &app,
        TestRequest::get()
            .uri(&page)
            .insert_header(("cookie", ob.cookie.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 404);
}

#[actix_web::test]
async fn an_accepted_match_can_be_declined_until_someone_enters_the_room() {
    let st = state();
    let app = test::init_service(jobby_http::build_app(st.clone())).await;
    let Matched {
        rec,
        seeker,
        rt,
        stk,
        mid,
        ..
    } = matched(&st, &app).await;
    let mid = mid.as_str();
    let sb = browser(&st, &seeker).await;
    let (s, _, m) = send(
        &app,
        TestRequest::post()
            .uri(&format!("/api/v1/matches/{mid}/accept"))
            .insert_header(("cookie", sb.cookie.clone()))
            .insert_header(("x-csrf-token", sb.csrf.clone())),
    )
    .await;
    assert_eq!(s, 200, "{m}");

    // The human's accept takes an Idempotency-Key like every mutation: a retry replays.
    let rb = browser(&st, &rec).await;
    let key = uuid::Uuid::new_v4().to_string();
    let accept_keyed = |key: Option<&str>| {
        let mut r = TestRequest::post()
            .uri(&format!("/api/v1/matches/{mid}/accept"))
            .insert_header(("cookie", rb.cookie.clone()))
            .insert_header(("x-csrf-token", rb.csrf.clone()));
        if let Some(k) = key {
            r = r.insert_header(("idempotency-key", k.to_owned()));
        }
        r
    };
    let (s, _, first) = send(&app, accept_keyed(Some(&key))).await;
    assert_eq!((s, &first["status"]), (200, &json!("accepted")), "{first}");
    let (s, h, again) = send(&app, accept_keyed(Some(&key))).await;
    assert_eq!((s, &again), (200, &first), "the retry replays");
    assert_eq!(
        h.get("idempotent-replayed").map(String::as_str),
        Some("true")
    );
    let (s, _, b) = send(&app, accept_keyed(None)).await;
    assert_eq!(s, 409, "without the key it runs again: {b}");
    assert_envelope(&b, "MATCH_NOT_PENDING");
    let (_, _, m) = send(&app, get(&format!("/api/v1/matches/{mid}"), &rt)).await;
    assert_eq!(
        (&m["status"], &m["started_at"]),
        (&json!("accepted"), &Value::Null)
    );
    let (s, _, b) = send(&app, accept_keyed(Some("not-a-uuid"))).await;
    assert_eq!(s, 400, "{b}");
    assert_envelope(&b, "VALIDATION");

    let (s, _, m) = send(
        &app,
        post_json(
            &format!("/api/v1/matches/{mid}/decline"),
            &stk,
            json!({"reason": "found another role"}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(
        (&m["status"], &m["declined_by"]),
        (&json!("declined"), &json!("seeker"))
    );
    let (_, _, status) = send(&app, get("/api/v1/queue/status", &stk)).await;
    assert_eq!(
        status["status"], "not_queued",
        "a seeker who declines leaves the queue"
    );
}

/// Reads the next frame (one chunk) of an event stream; `None` when it has ended.
async fn next_frame<B: actix_web::body::MessageBody + Unpin>(body: &mut B) -> Option<String> {
    let chunk = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_next(cx)),
    )
    .await
    .expect("the stream said nothing for 5 s")?;
    let chunk = chunk.ok().expect("the stream failed");
    Some(String::from_utf8(chunk.to_vec()).unwrap())
}

/// The next `status` event's object, skipping heartbeats.
async fn next_status<B: actix_web::body::MessageBody + Unpin>(body: &mut B) -> Value {
    loop {
        let frame = next_frame(body).await.expect("the stream ended");
        if frame.starts_with(": heartbeat") {
            continue;
        }
        let data = frame
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap_or_else(|| panic!("no data in {frame:?}"));
        assert!(frame.contains("event: status\n"), "{frame:?}");
        return serde_json::from_str(data).unwrap();
    }
}

#[actix_web::test]
async fn the_queue_stream_sends_the_status_at_once_on_every_change_and_closes_on_shutdown() {
    use jobby_http::feed::{Feed, Timing};
    use std::time::Duration;
    let mut st = state();
    st.feed = Feed::new(
        st.db.clone(),
        st.auth.clone(),
        st.lineups.clone(),
        Timing {
            poll: Duration::from_millis(10),
            heartbeat: Duration::from_millis(400),
            settle: Duration::from_millis(50),
            grace: Duration::from_millis(200),
        },
    );
    let app = test::init_service(jobby_http::build_app(st.clone())).await;
    let rec = user(&st, "rec@example.com", AccountType::Recruiter).await;
    let rt = token(&st, &rec, &[Scope::EventsWrite]).await;
    let mut seekers = vec![];
    for name in ["a", "b", "c"] {
        let u = user(&st, &format!("{name}@example.com"), AccountType::Seeker).await;
        let t = token(
            &st,
            &u,
            &[Scope::QueueRead, Scope::QueueWrite, Scope::MatchesWrite],
        )
        .await;
        seekers.push(t);
    }
    let (a, b, c) = (&seekers[0], &seekers[1], &seekers[2]);
    let (_, _, ev) = send(
        &app,
        post_json("/api/v1/events", &rt, json!({"title": "Stream fair"})),
    )
    .await;
    let eid = ev["id"].as_str().unwrap().to_owned();
    let (s, _, _) = send(
        &app,
        post_json(&format!("/api/v1/events/{eid}/start"), &rt, json!({})),
    )
    .await;
    assert_eq!(s, 200);
    // b takes the only seat.
    let (_, _, bs) = send(
        &app,
        post_json("/api/v1/queue/join", b, json!({"event_id": eid})),
    )
    .await;
    assert_eq!(bs["status"], "matched", "{bs}");

    // Without a token: refused in the envelope, no stream.
    let (s, h, body) = send(&app, TestRequest::get().uri("/api/v1/queue/stream")).await;
    assert_eq!(s, 401);
    assert_envelope(&body, "UNAUTHENTICATED");
    assert_limit_headers(&h);

    let resp = test::call_service(&app, get("/api/v1/queue/stream", a).to_request()).await;
    assert_eq!(resp.status(), 200);
    let h = Headers::of(resp.headers());
    assert_eq!(h["content-type"], "text/event-stream");
    assert_eq!(h["cache-control"], "no-cache");
    assert_limit_headers(&h);
    let mut body = resp.into_body();
    // At once: the current status, after a reconnection hint.
    let first = next_frame(&mut body).await.unwrap();
    assert!(first.starts_with("retry: 3000\n"), "{first:?}");
    let data = first
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap();
    let s: Value = serde_json::from_str(data).unwrap();
    assert_eq!(s["status"], "not_queued", "{s}");
    assert_eq!(s["poll_interval_seconds"], 5);

    // Its own join, made through another connection.
    send(
        &app,
        post_json("/api/v1/queue/join", a, json!({"event_id": eid})),
    )
    .await;
    let s = next_status(&mut body).await;
    assert_eq!(
        (&s["status"], &s["position"], &s["queue_length"]),
        (&json!("waiting"), &json!(1), &json!(1)),
        "{s}"
    );
    assert_eq!(s["event_id"], json!(eid));

    // Someone else's join changes the queue length.
    send(
        &app,
        post_json("/api/v1/queue/join", c, json!({"event_id": eid})),
    )
    .await;
    let s = next_status(&mut body).await;
    assert_eq!(
        (&s["status"], &s["position"], &s["queue_length"]),
        (&json!("waiting"), &json!(1), &json!(2)),
        "{s}"
    );

    // b declines: the seat frees and goes to a.
    let (_, _, bm) = send(&app, get("/api/v1/queue/status", b)).await;
    let mid = bm["match_id"].as_str().unwrap().to_owned();
    let (s, _, _) = send(
        &app,
        post_json(&format!("/api/v1/matches/{mid}/decline"), b, json!({})),
    )
    .await;
    assert_eq!(s, 200);
    // The match at once (the seeker's own state is always current)…
    let s = next_status(&mut body).await;
    assert_eq!(s["status"], "matched", "{s}");
    assert_eq!(s["match_status"], "pending");
    assert!(s["match_id"].as_str().unwrap().starts_with("mtc_"));
    // …and the queue length once the event's lineup has caught up: only c waits now.
    let mut s = s;
    while s["queue_length"] != 1 {
        s = next_status(&mut body).await;
        assert_eq!(s["status"], "matched", "{s}");
    }

    // Nothing changes: heartbeats keep the connection alive.
    let beat = next_frame(&mut body).await.unwrap();
    assert_eq!(beat, ": heartbeat\n\n");

    // Shutdown: a closing event, then the end of the stream.
    st.feed.close();
    let last = next_frame(&mut body).await.unwrap();
    assert!(last.starts_with("event: closing\n"), "{last:?}");
    assert_eq!(next_frame(&mut body).await, None);

    // A stream opened while shutting down gets the status and the closing event at once.
    let resp = test::call_service(&app, get("/api/v1/queue/stream", c).to_request()).await;
    let mut body = resp.into_body();
    let first = next_frame(&mut body).await.unwrap();
    assert!(first.contains("\"status\":\"waiting\""), "{first:?}");
    assert!(
        next_frame(&mut body)
            .await
            .unwrap()
            .starts_with("event: closing\n")
    );
    assert_eq!(next_frame(&mut body).await, None);
}

#[actix_web::test]
async fn a_revoked_token_ends_its_stream_at_the_next_heartbeat() {
    use jobby_http::feed::{Feed, Timing};
    use std::time::Duration;
    let mut st = state();
    st.feed = Feed::new(
        st.db.clone(),
        st.auth.clone(),
        st.lineups.clone(),
        Timing {
            poll: Duration::from_millis(10),
            heartbeat: Duration::from_millis(200),
            settle: Duration::from_millis(50),
            grace: Duration::from_millis(200),
        },
    );
    let app = test::init_service(jobby_http::build_app(st.clone())).await;
    let seeker = user(&st, "s@example.com", AccountType::Seeker).await;
    let listener = token(&st, &seeker, &[Scope::QueueRead]).await;
    let admin = token(&st, &seeker, &[Scope::SettingsWrite]).await;
    let (_, _, me) = send(&app, get("/api/v1/tokens/self", &listener)).await;
    let id = me["id"].as_str().unwrap().to_owned();

    let resp = test::call_service(&app, get("/api/v1/queue/stream", &listener).to_request()).await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    assert!(next_frame(&mut body).await.unwrap().contains("not_queued"));
    assert_eq!(next_frame(&mut body).await.unwrap(), ": heartbeat\n\n");

    let (s, _, b) = send(
        &app,
        TestRequest::delete()
            .uri(&format!("/api/v1/api-tokens/{id}"))
            .insert_header(bearer(&admin)),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    // Within the token cache's second, a heartbeat finds the token revoked.
    let closing = loop {
        let frame = next_frame(&mut body)
            .await
            .expect("closed without a closing event");
        if frame != ": heartbeat\n\n" {
            break frame;
        }
    };
    assert_eq!(
        closing,
        "event: closing\ndata: {\"reason\":\"unauthorized\"}\n\n"
    );
    assert_eq!(next_frame(&mut body).await, None);
}

#[actix_web::test]
async fn a_token_holds_at_most_five_streams_at_once() {
    let st = state();
    let app = test::init_service(jobby_http::build_app(st.clone())).await;
    let seeker = user(&st, "s@example.com", AccountType::Seeker).await;
    let t = token(&st, &seeker, &[Scope::QueueRead]).await;
    let other = token(&st, &seeker, &[Scope::QueueRead]).await;
    let mut open = vec![];
    for _ in 0..jobby_http::feed::STREAMS_PER_TOKEN {
        let resp = test::call_service(&app, get("/api/v1/queue/stream", &t).to_request()).await;
        assert_eq!(resp.status(), 200);
        open.push(resp.into_body());
    }
    let (s, h, b) = send(&app, get("/api/v1/queue/stream", &t)).await;
    assert_eq!(s, 429, "{b}");
    assert_envelope(&b, "RATE_LIMITED");
    assert_eq!(b["details"], json!({"limit": 5, "retry_after_seconds": 5}));
    assert_eq!(h["retry-after"], "5");
    assert_limit_headers(&h);
    // Another token of the same person is counted on its own.
    let resp = test::call_service(&app, get("/api/v1/queue/stream", &other).to_request()).await;
    assert_eq!(resp.status(), 200);
    // A stream that ends gives its place back.
    drop(open.pop());
    let resp = test::call_service(&app, get("/api/v1/queue/stream", &t).to_request()).await;
    assert_eq!(resp.status(), 200);
}

/// A state over `db` whose outbox feed is started (polling fast) and heard.
async fn hearing_state(db: jobby_domain::ports::Db) -> jobby_http::AppState {
    use jobby_http::feed::{Feed, Timing};
    use std::time::Duration;
    let mut st = state_on(db, jobby_http::HttpConfig::new("http://jobby.test"));
    st.feed = Feed::new(
        st.db.clone(),
        st.auth.clone(),
        st.lineups.clone(),
        Timing {
            poll: Duration::from_millis(10),
            heartbeat: Duration::from_secs(15),
            settle: Duration::from_millis(50),
            grace: Duration::from_millis(200),
        },
    );
    st.feed.start();
    tokio::time::timeout(Duration::from_secs(5), async {
        while !st.auth.hearing() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the feed is heard");
    st
}

/// [`matched`], and a second seeker waiting for the one seat. Answers a recruiter's token
/// for matches, the first match's id, and the waiting seeker's account and token.
async fn one_seat_taken<S, B>(
    st: &jobby_http::AppState,
    app: &S,
) -> (String, String, jobby_domain::model::account::User, String)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let Matched { rec, eid, mid, .. } = matched(st, app).await;
    let rt = token(st, &rec, &[Scope::MatchesWrite]).await;
    let seeker = user(st, "s@example.com", AccountType::Seeker).await;
    let t = token(st, &seeker, &[Scope::QueueRead, Scope::QueueWrite]).await;
    let (_, _, j) = send(
        app,
        post_json("/api/v1/queue/join", &t, json!({"event_id": eid})),
    )
    .await;
    assert_eq!(j["status"], "waiting", "{j}");
    (rt, mid, seeker, t)
}

#[actix_web::test]
async fn polls_are_answered_from_memory_and_hear_changes_made_elsewhere() {
    use jobby_domain::ports::Db;
    use jobby_domain::usecases::queue;
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    let store = jobby_memory::MemoryDatabase::new();
    // Another server process's handle on the same store.
    let elsewhere = Db::new(Arc::new(store.sibling()));
    let st = hearing_state(Db::new(Arc::new(store))).await;
    let app = test::init_service(jobby_http::build_app(st.clone())).await;
    let (_, _, seeker, t) = one_seat_taken(&st, &app).await;

    // The join's answer kept the entry, until the feed read the join's own outbox record;
    // then the first poll reads it again, and the next ones are answered from memory.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let kept = || st.metrics.queue_status_kept.get();
    let read = || st.metrics.queue_status_read.get();
    let (k0, r0) = (kept(), read());
    for _ in 0..3 {
        let (s, _, b) = send(&app, get("/api/v1/queue/status", &t)).await;
        assert_eq!(s, 200);
        assert_eq!(
            (&b["status"], &b["position"]),
            (&json!("waiting"), &json!(1))
        );
        assert_eq!(b["poll_interval_seconds"], 5);
    }
    assert_eq!((kept() - k0, read() - r0), (2, 1));

    // The seeker leaves through another process: the outbox feed tells this one, and the
    // poll says so within the bound.
    let (uid, now) = (seeker.id, st.clock.now());
    elsewhere
        .transaction(move |r| Box::pin(async move { queue::leave(r, uid, now).await }))
        .await
        .unwrap();
    let changed = Instant::now();
    loop {
        let (_, _, b) = send(&app, get("/api/v1/queue/status", &t)).await;
        if b["status"] == "not_queued" {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(2),
            "the change was not heard within 2 s: {b}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (_, _, b) = send(&app, get("/api/v1/queue/status", &t)).await;
    assert_eq!(b["status"], "not_queued");
}

#[actix_web::test]
async fn a_change_this_process_commits_shows_in_its_next_poll_whoever_made_it() {
    use jobby_domain::ports::Db;
    use jobby_domain::usecases::queue;
    use std::sync::Arc;
    let store = jobby_memory::MemoryDatabase::new();
    let elsewhere = Db::new(Arc::new(store.sibling()));
    let st = state_on(
        Db::new(Arc::new(store)),
        jobby_http::HttpConfig::new("http://jobby.test"),
    );
    // No outbox feed runs: the process is told it hears one, so all it learns of changes
    // comes from its own commits.
    let hear = || st.auth.heard(std::time::Instant::now());
    let app = test::init_service(jobby_http::build_app(st.clone())).await;
    let (rt, mid, seeker, t) = one_seat_taken(&st, &app).await;
    hear();
    let (_, _, b) = send(&app, get("/api/v1/queue/status", &t)).await;
    assert_eq!(b["status"], "waiting");

    // The interviewer declines the first match through this process: the round that follows
    // seats our seeker, and the next poll says so at once.
    let (s, _, d) = send(
        &app,
        post_json(&format!("/api/v1/matches/{mid}/decline"), &rt, json!({})),
    )
    .await;
    assert_eq!(s, 200, "{d}");
    hear();
    let (_, _, b) = send(&app, get("/api/v1/queue/status", &t)).await;
    assert_eq!(b["status"], "matched", "{b}");

    // The seeker leaves through another process: with no feed to tell this one, its polls
    // are still answered from memory.
    let (uid, now) = (seeker.id, st.clock.now());
    elsewhere
        .transaction(move |r| Box::pin(async move { queue::leave(r, uid, now).await }))
        .await
        .unwrap();
    hear();
    let (_, _, b) = send(&app, get("/api/v1/queue/status", &t)).await;
    assert_eq!(b["status"], "matched", "{b}");
}

#[actix_web::test]
async fn polls_read_the_store_while_the_feed_is_not_heard() {
    let st = state();
    let app = test::init_service(jobby_http::build_app(st.clone())).await;
    let seeker = user(&st, "s@example.com", AccountType::Seeker).await;
    let t = token(&st, &seeker, &[Scope::QueueRead]).await;
    assert!(!st.auth.hearing());
    for _ in 0..3 {
        let (s, _, b) = send(&app, get("/api/v1/queue/status", &t)).await;
        assert_eq!((s, &b["status"]), (200, &json!("not_queued")));
    }
    assert_eq!(
        (
            st.metrics.queue_status_kept.get(),
            st.metrics.queue_status_read.get()
        ),
        (0, 3)
    );
}

#[actix_web::test]
async fn past_capacity_reads_are_shed_first_and_agents_are_asked_to_poll_less() {
    use jobby_http::admission::{Admission, Capacity, Kind};
    use std::sync::Arc;
    use std::time::Duration;
    let mut st = state();
    st.admission = Arc::new(Admission::new(Capacity {
        in_flight: 4,
        reads_in_flight: 2,
        joins_in_flight: 1,
        read_wait: Duration::from_millis(50),
        join_wait: Duration::from_millis(50),
        change_wait: Duration::from_millis(200),
    }));
    let app = test::init_service(jobby_http::build_app(st.clone())).await;
    let rec = user(&st, "rec@example.com", AccountType::Recruiter).await;
    let rt = token(&st, &rec, &[Scope::EventsRead, Scope::EventsWrite]).await;
    let seeker = user(&st, "s@example.com", AccountType::Seeker).await;
    let t = token(&st, &seeker, &[Scope::QueueRead]).await;

    // Reads hold their whole share.
    let reads: Vec<_> = (0..2)
        .map(|_| st.admission.try_admit(Kind::Read).unwrap())
        .collect();
    let (s, h, b) = send(&app, get("/api/v1/queue/status", &t)).await;
    assert_eq!(s, 503);
    assert_envelope(&b, "SERVER_BUSY");
    assert_eq!(h["retry-after"], "5");
    assert!(h.0.contains_key("x-request-id"));
    let (s, _, b) = send(&app, TestRequest::get().uri("/api/v1/live-events")).await;
    assert_eq!(s, 503, "anonymous reads are shed too");
    assert_envelope(&b, "SERVER_BUSY");
    // Probes are answered; a queue stream still opens (it is how a seeker hears of their
    // match); a change still runs.
    let (s, _, _) = send(&app, TestRequest::get().uri("/healthz")).await;
    assert_eq!(s, 200);
    let stream = test::call_service(&app, get("/api/v1/queue/stream", &t).to_request()).await;
    assert_eq!(stream.status(), 200);
    drop(stream);
    let (s, _, ev) = send(
        &app,
        post_json("/api/v1/events", &rt, json!({"title": "Still open"})),
    )
    .await;
    assert_eq!(s, 201, "{ev}");
    // Joins hold their whole share: one more is shed, other changes still run.
    let join = st.admission.try_admit(Kind::Join).unwrap();
    let (s, h, b) = send(
        &app,
        post_json(
            "/api/v1/queue/join",
            &t,
            json!({"event_id": ev["id"].as_str().unwrap()}),
        ),
    )
    .await;
    assert_eq!(s, 503);
    assert_envelope(&b, "SERVER_BUSY");
    assert_eq!(h["retry-after"], "1");
    drop(join);

    // Every place is taken: a change waits its turn, then is shed, and nothing is made.
    let changes: Vec<_> = (0..2)
        .map(|_| st.admission.try_admit(Kind::Change).unwrap())
        .collect();
    let (s, h, b) = send(
        &app,
        post_json("/api/v1/events", &rt, json!({"title": "Shed"})),
    )
    .await;
    assert_eq!(s, 503);
    assert_envelope(&b, "SERVER_BUSY");
    assert_eq!(h["retry-after"], "1");
    drop((reads, changes));
    let (s, _, list) = send(&app, get("/api/v1/events", &rt)).await;
    assert_eq!(s, 200, "{list}");
    let titles: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Still open"]);

    // With room again, polls are answered, and told to come back less often for a while.
    let (s, _, b) = send(&app, get("/api/v1/queue/status", &t)).await;
    assert_eq!(s, 200);
    assert_eq!(b["poll_interval_seconds"], 20);
    assert_eq!(st.admission.shed_counts(), [2, 1, 1]);
    let metrics = st.metrics.render();
    assert!(
        metrics.contains("jobby_requests_shed_total{class=\"read\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("jobby_requests_shed_total{class=\"change\"} 1"));
    assert!(metrics.contains("jobby_requests_shed_total{class=\"join\"} 1"));
}
