//! Every v1 route on the memory adapters: success and each error case.

mod common;

use actix_web::test::{self, TestRequest};
use common::*;
use jobby_domain::model::account::AccountType;
use jobby_domain::model::idempotency::{Fingerprint, IdempotencyScope};
use jobby_domain::model::scopes::Scope;
use serde_json::json;

macro_rules! app {
    ($state:expr) => {
        test::init_service(jobby_http::build_app($state.clone())).await
    };
}

#[actix_web::test]
async fn tokens_self_answers_for_the_calling_token() {
    let st = state();
    let u = user(&st, "self@example.com", AccountType::Seeker).await;
    let t = token(&st, &u, &[Scope::QueueRead]).await;
    let app = app!(st);
    let (status, h, body) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/tokens/self")
            .insert_header(bearer(&t)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], u.id.to_string());
    assert_eq!(body["account_type"], "seeker");
    assert_eq!(body["scopes"], json!(["queue:read"]));
    assert!(body["id"].as_str().unwrap().starts_with("tok_"));
    assert_limit_headers(&h);
    assert_eq!(h["x-ratelimit-limit"], "60");
    assert_eq!(h["ratelimit-policy"], "\"read\";q=60;w=60");
}

#[actix_web::test]
async fn authentication_failures_are_401_with_headers() {
    let st = state();
    let u = user(&st, "auth@example.com", AccountType::Seeker).await;
    let good = token(&st, &u, &[Scope::QueueRead]).await;
    let app = app!(st);
    let unknown = jobby_domain::model::token::PlainToken::generate();
    let last = if good.ends_with('x') { 'y' } else { 'x' };
    let typo = format!("{}{last}", &good[..good.len() - 1]);
    for auth in [
        None,
        Some("Basic abc".to_owned()),
        Some("Bearer".to_owned()),
        Some("Bearer jbb_short".to_owned()),
        Some(format!("Bearer {typo}")),
        Some(format!("Bearer {}", unknown.expose())),
    ] {
        let mut req = TestRequest::get().uri("/api/v1/tokens/self");
        if let Some(a) = &auth {
            req = req.insert_header(("authorization", a.as_str()));
        }
        let (status, h, body) = send(&app, req).await;
        assert_eq!(status, 401, "{auth:?}: {body}");
        assert_envelope(&body, "UNAUTHENTICATED");
        assert!(h["www-authenticate"].starts_with("Bearer"));
        assert_limit_headers(&h);
    }
}

#[actix_web::test]
async fn a_missing_scope_is_403_with_details() {
    let st = state();
    let u = user(&st, "scope@example.com", AccountType::Seeker).await;
    let t = token(&st, &u, &[Scope::ProfileWrite]).await;
    let app = app!(st);
    let (status, h, body) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/profile")
            .insert_header(bearer(&t)),
    )
    .await;
    assert_eq!(status, 403);
    assert_envelope(&body, "INSUFFICIENT_SCOPE");
    assert_eq!(body["details"]["required_scope"], "profile:read");
    assert_eq!(body["details"]["granted_scopes"], json!(["profile:write"]));
    assert_limit_headers(&h);
}

#[actix_web::test]
async fn profile_reads_and_patches() {
    let st = state();
    let u = user(&st, "prof@example.com", AccountType::Recruiter).await;
    let t = token(&st, &u, &[Scope::ProfileRead, Scope::ProfileWrite]).await;
    let app = app!(st);
    let (status, _, body) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/profile")
            .insert_header(bearer(&t)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], "Test Person");
    let patch = json!({"headline": "Talent partner", "skills": ["sourcing"], "company": "Acme", "links": ["https://acme.example"]});
    let (status, h, body) = send(
        &app,
        TestRequest::patch()
            .uri("/api/v1/profile")
            .insert_header(bearer(&t))
            .set_json(&patch),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["headline"], "Talent partner");
    assert_eq!(body["company"], "Acme");
    assert_eq!(h["x-ratelimit-limit"], "30", "write class");
    let (_, _, body) = send(
        &app,
        TestRequest::patch()
            .uri("/api/v1/profile")
            .insert_header(bearer(&t))
            .set_json(json!({"headline": null})),
    )
    .await;
    assert_eq!(body["headline"], json!(null));
    assert_eq!(body["company"], "Acme", "untouched fields stay");
}

#[actix_web::test]
async fn bad_profile_input_is_refused_and_changes_nothing() {
    let st = state();
    let u = user(&st, "bad@example.com", AccountType::Seeker).await;
    let t = token(&st, &u, &[Scope::ProfileRead, Scope::ProfileWrite]).await;
    let app = app!(st);
    let cases: Vec<(&str, &str, &str)> = vec![
        (r#"{"name": ""}"#, "application/json", "name"),
        (r#"{"nmae": "typo"}"#, "application/json", "nmae"),
        (r#"{"skills": "not a list"}"#, "application/json", "skills"),
        (r#"{"company": "Acme"}"#, "application/json", "company"),
        (
            r#"{"links": ["javascript:alert(1)"]}"#,
            "application/json",
            "links[0]",
        ),
        (r#"{"name": "#, "application/json", "body"),
        ("", "application/json", "body"),
        // serde reads a struct from an array of its fields; a body must be an object.
        (r#"["Ada", null]"#, "application/json", "body"),
        ("[null, null]", "application/json", "body"),
        ("null", "application/json", "body"),
    ];
    for (payload, ct, field) in cases {
        let req = TestRequest::patch()
            .uri("/api/v1/profile")
            .insert_header(bearer(&t))
            .insert_header(("content-type", ct))
            .set_payload(payload);
        let (status, _, body) = send(&app, req).await;
        assert_eq!(status, 400, "{payload}: {body}");
        assert_envelope(&body, "VALIDATION");
        assert!(
            body["details"]["fields"].get(field).is_some(),
            "{payload}: expected field {field} in {body}"
        );
    }
    let (status, _, body) = send(
        &app,
        TestRequest::patch()
            .uri("/api/v1/profile")
            .insert_header(bearer(&t))
            .insert_header(("content-type", "text/plain"))
            .set_payload("{}"),
    )
    .await;
    assert_eq!(status, 415);
    assert_envelope(&body, "UNSUPPORTED_MEDIA_TYPE");
    let big = format!(r#"{{"resume_text": "{}"}}"#, "x".repeat(70 * 1024));
    let (status, _, body) = send(
        &app,
        TestRequest::patch()
            .uri("/api/v1/profile")
            .insert_header(bearer(&t))
            .insert_header(("content-type", "application/json"))
            .set_payload(big),
    )
    .await;
    assert_eq!(status, 413);
    assert_envelope(&body, "PAYLOAD_TOO_LARGE");
    let (_, _, body) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/profile")
            .insert_header(bearer(&t)),
    )
    .await;
    assert_eq!(body["name"], "Test Person");
    assert_eq!(body["company"], json!(null));
}

#[actix_web::test]
async fn settings_read_patch_and_validate() {
    let st = state();
    let u = user(&st, "set@example.com", AccountType::Seeker).await;
    let t = token(&st, &u, &[Scope::SettingsRead, Scope::SettingsWrite]).await;
    let app = app!(st);
    let (status, _, body) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/settings")
            .insert_header(bearer(&t)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["timezone"], "UTC");
    assert_eq!(
        body["notifications"]["match.created"],
        json!({"email": true, "push": true})
    );
    let patch = json!({"timezone": "America/New_York", "notifications": {"match.created": {"push": false}}});
    let (status, _, body) = send(
        &app,
        TestRequest::patch()
            .uri("/api/v1/settings")
            .insert_header(bearer(&t))
            .set_json(&patch),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["timezone"], "America/New_York");
    assert_eq!(
        body["notifications"]["match.created"],
        json!({"email": true, "push": false})
    );
    for bad in [
        json!({"timezone": "Mars/Base"}),
        json!({"notifications": {"nope": {"email": true}}}),
        json!({"notifications": {"match.created": {"sms": true}}}),
        // serde would read the channels from an array of their fields.
        json!({"notifications": {"match.created": [true, false]}}),
    ] {
        let (status, _, body) = send(
            &app,
            TestRequest::patch()
                .uri("/api/v1/settings")
                .insert_header(bearer(&t))
                .set_json(&bad),
        )
        .await;
        assert_eq!(status, 400, "{bad}");
        assert_envelope(&body, "VALIDATION");
    }
    let (_, _, body) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/settings")
            .insert_header(bearer(&t)),
    )
    .await;
    assert_eq!(body["timezone"], "America/New_York");
}

#[actix_web::test]
async fn the_ip_allowlist_is_enforced_and_cannot_lock_out() {
    let st = state();
    let u = user(&st, "ip@example.com", AccountType::Seeker).await;
    let t = token(&st, &u, &[Scope::SettingsRead, Scope::SettingsWrite]).await;
    let app = app!(st);
    let me: std::net::SocketAddr = "198.51.100.7:5000".parse().unwrap();
    let put = |cidrs: serde_json::Value| {
        TestRequest::put()
            .uri("/api/v1/settings/ip-allowlist")
            .peer_addr(me)
            .insert_header(bearer(&t))
            .set_json(json!({ "cidrs": cidrs }))
    };
    let (status, _, body) = send(&app, put(json!(["10.0.0.0/8"]))).await;
    assert_eq!(status, 400);
    assert!(
        body["details"]["fields"]["cidrs"]
            .as_str()
            .unwrap()
            .contains("198.51.100.7")
    );
    let (status, _, body) = send(&app, put(json!(["not-a-cidr"]))).await;
    assert_eq!(status, 400);
    assert!(body["details"]["fields"]["cidrs[0]"].is_string());
    let (status, _, body) = send(&app, put(json!(["198.51.100.0/24", "2001:db8::/32"]))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cidrs"], json!(["198.51.100.0/24", "2001:db8::/32"]));
    let (status, _, body) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/settings/ip-allowlist")
            .peer_addr(me)
            .insert_header(bearer(&t)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["cidrs"], json!(["198.51.100.0/24", "2001:db8::/32"]));
    let elsewhere: std::net::SocketAddr = "203.0.113.9:5000".parse().unwrap();
    let (status, h, body) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/settings")
            .peer_addr(elsewhere)
            .insert_header(bearer(&t)),
    )
    .await;
    assert_eq!(status, 403);
    assert_envelope(&body, "IP_NOT_ALLOWED");
    assert_limit_headers(&h);
    // X-Forwarded-For is not believed from an untrusted peer.
    let (status, _, _) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/settings")
            .peer_addr(elsewhere)
            .insert_header(("x-forwarded-for", "198.51.100.7"))
            .insert_header(bearer(&t)),
    )
    .await;
    assert_eq!(status, 403);
}

#[actix_web::test]
async fn forwarded_for_is_believed_from_trusted_proxies() {
    let st = state_with(jobby_http::HttpConfig {
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        ..jobby_http::HttpConfig::new("http://jobby.test")
    });
    let u = user(&st, "proxy@example.com", AccountType::Seeker).await;
    let t = token(&st, &u, &[Scope::SettingsRead, Scope::SettingsWrite]).await;
    let app = app!(st);
    let proxy: std::net::SocketAddr = "10.1.2.3:443".parse().unwrap();
    let (status, _, body) = send(
        &app,
        TestRequest::put()
            .uri("/api/v1/settings/ip-allowlist")
            .peer_addr(proxy)
            .insert_header(("x-forwarded-for", "192.0.2.44"))
            .insert_header(bearer(&t))
            .set_json(json!({"cidrs": ["192.0.2.44"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/settings")
            .peer_addr(proxy)
            .insert_header(("x-forwarded-for", "192.0.2.44"))
            .insert_header(bearer(&t)),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/settings")
            .peer_addr(proxy)
            .insert_header(("x-forwarded-for", "192.0.2.45"))
            .insert_header(bearer(&t)),
    )
    .await;
    assert_eq!(status, 403);
}

#[actix_web::test]
async fn token_lists_page_and_revocation_is_immediate() {
    let st = state();
    let u = user(&st, "list@example.com", AccountType::Seeker).await;
    let admin = token(&st, &u, &[Scope::SettingsRead, Scope::SettingsWrite]).await;
    let victim = token(&st, &u, &[Scope::QueueRead]).await;
    let app = app!(st);
    let (status, _, _) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/tokens/self")
            .insert_header(bearer(&victim)),
    )
    .await;
    assert_eq!(status, 200, "warm the cache");
    let (status, _, page1) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/api-tokens?limit=1")
            .insert_header(bearer(&admin)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page1["data"].as_array().unwrap().len(), 1);
    assert_eq!(page1["has_more"], true);
    assert!(page1["data"][0].get("token").is_none(), "never the secret");
    let victim_id = page1["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(page1["data"][0]["last4"], &victim[victim.len() - 4..]);
    // Uses are written in batches off the request path: after the next write the list says
    // when and from where the token was last used.
    assert_eq!(page1["data"][0]["last_used_at"], json!(null));
    assert!(st.auth.flush_uses().await.unwrap() >= 2);
    let (_, _, again) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/api-tokens?limit=1")
            .insert_header(bearer(&admin)),
    )
    .await;
    assert!(again["data"][0]["last_used_at"].is_string(), "{again}");
    assert!(again["data"][0]["last_used_ip"].is_string(), "{again}");
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, _, page2) = send(
        &app,
        TestRequest::get()
            .uri(&format!("/api/v1/api-tokens?limit=1&cursor={cursor}"))
            .insert_header(bearer(&admin)),
    )
    .await;
    assert_eq!(page2["has_more"], false);
    assert_eq!(page2["next_cursor"], json!(null));
    for bad in ["limit=0", "limit=101", "limit=x", "cursor=%21%21"] {
        let (status, _, body) = send(
            &app,
            TestRequest::get()
                .uri(&format!("/api/v1/api-tokens?{bad}"))
                .insert_header(bearer(&admin)),
        )
        .await;
        assert_eq!(status, 400, "{bad}");
        assert_envelope(&body, "VALIDATION");
    }
    let (status, _, body) = send(
        &app,
        TestRequest::delete()
            .uri(&format!("/api/v1/api-tokens/{victim_id}"))
            .insert_header(bearer(&admin)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["revoked_at"].is_string());
    let (status, _, _) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/tokens/self")
            .insert_header(bearer(&victim)),
    )
    .await;
    assert_eq!(
        status, 401,
        "revocation takes effect at once on this process"
    );
}

#[actix_web::test]
async fn another_accounts_token_is_exactly_not_found() {
    let st = state();
    let a = user(&st, "a@example.com", AccountType::Seeker).await;
    let b = user(&st, "b@example.com", AccountType::Seeker).await;
    let ta = token(&st, &a, &[Scope::SettingsWrite]).await;
    let tb = token(&st, &b, &[Scope::SettingsRead]).await;
    let app = app!(st);
    let b_ids = {
        let (_, _, body) = send(
            &app,
            TestRequest::get()
                .uri("/api/v1/api-tokens")
                .insert_header(bearer(&tb)),
        )
        .await;
        body["data"][0]["id"].as_str().unwrap().to_owned()
    };
    let missing = jobby_domain::model::ids::TokenId::new().to_string();
    let (s1, _, foreign) = send(
        &app,
        TestRequest::delete()
            .uri(&format!("/api/v1/api-tokens/{b_ids}"))
            .insert_header(bearer(&ta)),
    )
    .await;
    let (s2, _, unknown) = send(
        &app,
        TestRequest::delete()
            .uri(&format!("/api/v1/api-tokens/{missing}"))
            .insert_header(bearer(&ta)),
    )
    .await;
    let (s3, _, malformed) = send(
        &app,
        TestRequest::delete()
            .uri("/api/v1/api-tokens/not-an-id")
            .insert_header(bearer(&ta)),
    )
    .await;
    assert_eq!((s1, s2, s3), (404, 404, 404));
    assert_eq!(foreign, unknown);
    assert_eq!(foreign, malformed);
    assert_envelope(&foreign, "NOT_FOUND");
    let (status, _, _) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/tokens/self")
            .insert_header(bearer(&tb)),
    )
    .await;
    assert_eq!(status, 200, "b's token was not revoked");
}

#[actix_web::test]
async fn the_read_limit_holds_then_429s() {
    let st = state();
    let u = user(&st, "rl@example.com", AccountType::Seeker).await;
    let t = token(&st, &u, &[Scope::ProfileRead]).await;
    let app = app!(st);
    for i in 0..60 {
        let (status, h, _) = send(
            &app,
            TestRequest::get()
                .uri("/api/v1/profile")
                .insert_header(bearer(&t)),
        )
        .await;
        assert_eq!(status, 200, "request {i}");
        assert_eq!(h["x-ratelimit-remaining"], (59 - i).to_string());
    }
    let (status, h, body) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/profile")
            .insert_header(bearer(&t)),
    )
    .await;
    assert_eq!(status, 429);
    assert_envelope(&body, "RATE_LIMITED");
    assert_eq!(h["retry-after"], "1");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert!(h["ratelimit"].starts_with("\"read\";r=0;t="));
    // Another route has its own bucket.
    let (status, _, _) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/tokens/self")
            .insert_header(bearer(&t)),
    )
    .await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn failed_authentications_are_limited_per_address() {
    let st = state();
    let app = app!(st);
    let mut last = 0;
    for _ in 0..61 {
        let (status, h, _) = send(
            &app,
            TestRequest::get()
                .uri("/api/v1/profile")
                .insert_header(("authorization", "Bearer jbb_nope")),
        )
        .await;
        assert_limit_headers(&h);
        last = status;
    }
    assert_eq!(
        last, 429,
        "the 61st failed authentication in a minute is refused"
    );
}

#[actix_web::test]
async fn idempotent_replays_are_byte_identical() {
    let st = state();
    let u = user(&st, "idem@example.com", AccountType::Seeker).await;
    let t = token(&st, &u, &[Scope::ProfileWrite, Scope::ProfileRead]).await;
    let app = app!(st);
    let key = "8e2f5a8c-2f38-4c0e-9a61-5d9ad3b1a0c4";
    let patch = |body: &str, key: &str| {
        TestRequest::patch()
            .uri("/api/v1/profile")
            .insert_header(bearer(&t))
            .insert_header(("idempotency-key", key.to_owned()))
            .insert_header(("content-type", "application/json"))
            .set_payload(body.to_owned())
    };
    let first = test::call_service(&app, patch(r#"{"headline":"One"}"#, key).to_request()).await;
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body = test::read_body(first).await;
    // Change the profile in between: a replay must still answer the original bytes.
    let (s, _, _) = send(
        &app,
        TestRequest::patch()
            .uri("/api/v1/profile")
            .insert_header(bearer(&t))
            .set_json(json!({"headline": "Two"})),
    )
    .await;
    assert_eq!(s, 200);
    let replay = test::call_service(
        &app,
        patch(r#"{"headline":"One"}"#, &format!("\"{key}\"")).to_request(),
    )
    .await;
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.headers().get("idempotent-replayed").unwrap(), "true");
    assert!(
        replay.headers().contains_key("x-ratelimit-remaining"),
        "current limit headers on a replay"
    );
    assert_eq!(test::read_body(replay).await, first_body);
    let (_, _, now) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/profile")
            .insert_header(bearer(&t)),
    )
    .await;
    assert_eq!(now["headline"], "Two", "the replay applied nothing");

    let (status, _, body) = send(&app, patch(r#"{"headline":"Other"}"#, key)).await;
    assert_eq!(status, 422);
    assert_envelope(&body, "IDEMPOTENCY_KEY_REUSED");
    for bad in [
        "nope",
        "0190f1a2-0000-7000-8000-000000000000",
        "\"8e2f5a8c-2f38-4c0e-9a61-5d9ad3b1a0c4",
    ] {
        let (status, _, body) = send(&app, patch(r#"{"headline":"x"}"#, bad)).await;
        assert_eq!(status, 400, "{bad}");
        assert!(body["details"]["fields"]["Idempotency-Key"].is_string());
    }
    // An empty header carries no key: the request runs, and nothing is saved for it.
    for empty in ["", "  "] {
        let (status, h, body) = send(&app, patch(r#"{"headline":"Empty key"}"#, empty)).await;
        assert_eq!(
            (status, body["headline"].as_str()),
            (200, Some("Empty key"))
        );
        assert!(!h.contains_key("idempotent-replayed"));
    }
    // A validation refusal is saved too, and replayed.
    let k2 = "3b8f0c1e-7a47-4d6c-8f0b-2f4c6a1e9d00";
    let (s1, _, b1) = send(&app, patch(r#"{"name":""}"#, k2)).await;
    let (s2, h2, b2) = send(&app, patch(r#"{"name":""}"#, k2)).await;
    assert_eq!((s1, s2), (400, 400));
    assert_eq!(b1, b2);
    assert_eq!(h2["idempotent-replayed"], "true");
}

#[actix_web::test]
async fn a_key_still_running_is_409_in_use() {
    let st = state();
    let u = user(&st, "busy@example.com", AccountType::Seeker).await;
    let t = token(&st, &u, &[Scope::ProfileWrite]).await;
    let key = uuid::Uuid::new_v4();
    let body = br#"{"headline":"x"}"#;
    let scope = IdempotencyScope { user_id: u.id, key };
    let now = st.clock.now();
    let fp = Fingerprint::of("PATCH", "/api/v1/profile", "", body);
    st.db
        .inner()
        .claim_idempotency(&scope, &fp, now, now - chrono::Duration::seconds(60))
        .await
        .unwrap();
    let app = app!(st);
    let req = TestRequest::patch()
        .uri("/api/v1/profile")
        .insert_header(bearer(&t))
        .insert_header(("idempotency-key", key.to_string()))
        .insert_header(("content-type", "application/json"))
        .set_payload(&body[..]);
    let (status, h, body) = send(&app, req).await;
    assert_eq!(status, 409);
    assert_envelope(&body, "IDEMPOTENCY_KEY_IN_USE");
    assert_eq!(h["retry-after"], "1");
}

#[actix_web::test]
async fn deprecated_routes_announce_their_sunset() {
    let st = state();
    let u = user(&st, "dep@example.com", AccountType::Seeker).await;
    let t = token(&st, &u, &[Scope::QueueRead]).await;
    let app = app!(st);
    let (status, h, body) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/tokens/current")
            .insert_header(bearer(&t)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["user_id"], u.id.to_string());
    assert_eq!(h["deprecation"], "@1764028800");
    assert_eq!(h["sunset"], "Wed, 25 Nov 2027 00:00:00 GMT");
    assert!(h["link"].ends_with("; rel=\"deprecation\""));
    let (_, h, _) = send(&app, TestRequest::get().uri("/api/v1/tokens/current")).await;
    assert!(h.contains_key("deprecation"), "on errors too");
    let (_, h, _) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/tokens/self")
            .insert_header(bearer(&t)),
    )
    .await;
    assert!(!h.contains_key("deprecation"));
}

#[actix_web::test]
async fn every_layer_answers_in_the_envelope() {
    let st = state();
    let u = user(&st, "env@example.com", AccountType::Seeker).await;
    let t = token(&st, &u, &[Scope::ProfileRead]).await;
    let app = app!(st);
    let (status, h, body) = send(&app, TestRequest::get().uri("/api/v1/nope")).await;
    assert_eq!(status, 404);
    assert_envelope(&body, "NOT_FOUND");
    assert!(h["x-request-id"].starts_with("req_"));
    let (status, h, body) = send(
        &app,
        TestRequest::post()
            .uri("/api/v1/profile")
            .insert_header(bearer(&t)),
    )
    .await;
    assert_eq!(status, 405);
    assert_envelope(&body, "METHOD_NOT_ALLOWED");
    assert_eq!(h["allow"], "GET, PATCH");
    let (status, _, body) = send(&app, TestRequest::get().uri("/nowhere")).await;
    assert_eq!(status, 404);
    assert_envelope(&body, "NOT_FOUND");
    let (_, h, _) = send(
        &app,
        TestRequest::get()
            .uri("/healthz")
            .insert_header(("x-request-id", "client-abc.123")),
    )
    .await;
    assert_eq!(
        h["x-request-id"], "client-abc.123",
        "a sane client id is echoed"
    );
    let (_, h, _) = send(
        &app,
        TestRequest::get()
            .uri("/healthz")
            .insert_header(("x-request-id", "bad id with spaces")),
    )
    .await;
    assert!(
        h["x-request-id"].starts_with("req_"),
        "an insane one is replaced"
    );
}

#[actix_web::test]
async fn a_panic_is_a_500_that_leaks_nothing() {
    use actix_web::{App, middleware::from_fn, web};
    let st = state();
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(st.clone()))
            .route(
                "/boom",
                web::get().to(|| async {
                    panic!("secret internal detail");
                    #[allow(unreachable_code)]
                    ""
                }),
            )
            .wrap(from_fn(jobby_http::mw::observe)),
    )
    .await;
    let (status, h, body) = send(&app, TestRequest::get().uri("/boom")).await;
    assert_eq!(status, 500);
    assert_envelope(&body, "INTERNAL");
    assert!(!body.to_string().contains("secret"));
    assert_eq!(body["details"]["request_id"], h["x-request-id"].as_str());
}

#[actix_web::test]
async fn the_served_openapi_is_the_generated_document() {
    let st = state();
    let app = app!(st);
    let resp = test::call_service(
        &app,
        TestRequest::get().uri("/api/v1/openapi.json").to_request(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers().contains_key("x-ratelimit-limit"),
        "anonymous class"
    );
    let bytes = test::read_body(resp).await;
    assert!(
        std::str::from_utf8(&bytes).unwrap() == jobby_http::openapi::document(),
        "served document differs"
    );
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json"))
            .expect("openapi.json is committed");
    assert!(
        committed == jobby_http::openapi::document(),
        "openapi.json is stale: run `cargo xtask openapi`"
    );
}

#[actix_web::test]
async fn ops_endpoints() {
    let st = state();
    let u = user(&st, "ops@example.com", AccountType::Seeker).await;
    let t = token(&st, &u, &[Scope::ProfileRead]).await;
    let app = app!(st);
    let (status, _, body) = send(&app, TestRequest::get().uri("/healthz")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, _, body) = send(&app, TestRequest::get().uri("/readyz")).await;
    assert_eq!(status, 200);
    assert_eq!(body["checks"]["database"], "ok");
    send(
        &app,
        TestRequest::get()
            .uri("/api/v1/profile")
            .insert_header(bearer(&t)),
    )
    .await;
    let resp = test::call_service(&app, TestRequest::get().uri("/metrics").to_request()).await;
    let text = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    assert!(
        text.contains(
            "jobby_http_requests_total{method=\"GET\",route=\"/api/v1/profile\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("jobby_http_request_duration_seconds_bucket"));
    assert!(text.contains("jobby_rate_limiter_fail_open_total"));
}

/// With an operator address for metrics (`JOBBY_METRICS_LISTEN`), the public address answers
/// `/metrics` like any unknown path, and the operator's app serves them, counting the public
/// traffic.
#[actix_web::test]
async fn metrics_can_move_to_the_operators_address() {
    let st = state_with(jobby_http::HttpConfig {
        public_metrics: false,
        ..jobby_http::HttpConfig::new("http://jobby.test")
    });
    let public = test::init_service(jobby_http::build_app(st.clone())).await;
    let operator = test::init_service(jobby_http::metrics_app(st.clone())).await;
    let (status, _, body) = send(&public, TestRequest::get().uri("/metrics")).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("NOT_FOUND")));
    let (status, _, _) = send(&public, TestRequest::get().uri("/healthz")).await;
    assert_eq!(status, 200);

    let resp = test::call_service(&operator, TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(resp.status(), 200);
    let text = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    assert!(
        text.contains(
            "jobby_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"404\"} 1"
        ),
        "{text}"
    );
    // Nothing else is served there.
    let (status, _, body) = send(&operator, TestRequest::get().uri("/api/v1/openapi.json")).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("NOT_FOUND")));
}

#[actix_web::test]
async fn times_are_rfc3339_utc_seconds() {
    let st = state();
    let u = user(&st, "time@example.com", AccountType::Seeker).await;
    let t = token(&st, &u, &[Scope::SettingsRead]).await;
    let app = app!(st);
    let (_, _, body) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/api-tokens")
            .insert_header(bearer(&t)),
    )
    .await;
    let created = body["data"][0]["created_at"].as_str().unwrap().to_owned();
    assert_eq!(created.len(), "2026-11-25T10:00:00Z".len(), "{created}");
    assert!(created.ends_with('Z'));
    assert!(chrono::DateTime::parse_from_rfc3339(&created).is_ok());
}

#[actix_web::test]
async fn every_forwarded_for_line_is_read() {
    let st = state_with(jobby_http::HttpConfig {
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        ..jobby_http::HttpConfig::new("http://jobby.test")
    });
    let u = user(&st, "xff@example.com", AccountType::Seeker).await;
    let t = token(&st, &u, &[Scope::SettingsRead, Scope::SettingsWrite]).await;
    let app = app!(st);
    let proxy: std::net::SocketAddr = "10.1.2.3:443".parse().unwrap();
    let (status, _, _) = send(
        &app,
        TestRequest::put()
            .uri("/api/v1/settings/ip-allowlist")
            .peer_addr(proxy)
            .insert_header(("x-forwarded-for", "192.0.2.44"))
            .insert_header(bearer(&t))
            .set_json(json!({"cidrs": ["192.0.2.44"]})),
    )
    .await;
    assert_eq!(status, 200);
    // The client wrote an allowlisted address; the proxy appended the real one on its own line.
    let req = TestRequest::get()
        .uri("/api/v1/settings")
        .peer_addr(proxy)
        .append_header(("x-forwarded-for", "192.0.2.44"))
        .append_header(("x-forwarded-for", "203.0.113.66"))
        .insert_header(bearer(&t));
    let (status, _, body) = send(&app, req).await;
    assert_eq!(status, 403, "{body}");
    assert_envelope(&body, "IP_NOT_ALLOWED");
}

#[actix_web::test]
async fn guessing_is_stopped_before_any_lookup_but_warm_tokens_work() {
    let st = state();
    let u = user(&st, "guess@example.com", AccountType::Seeker).await;
    let warm = token(&st, &u, &[Scope::QueueRead]).await;
    let cold = token(&st, &u, &[Scope::QueueRead]).await;
    let app = app!(st);
    assert_eq!(
        send(
            &app,
            TestRequest::get()
                .uri("/api/v1/tokens/self")
                .insert_header(bearer(&warm))
        )
        .await
        .0,
        200
    );
    for _ in 0..60 {
        let guess = jobby_domain::model::token::PlainToken::generate();
        let (status, _, _) = send(
            &app,
            TestRequest::get()
                .uri("/api/v1/tokens/self")
                .insert_header(bearer(guess.expose())),
        )
        .await;
        assert_eq!(status, 401);
    }
    let (status, h, body) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/tokens/self")
            .insert_header(bearer(&cold)),
    )
    .await;
    assert_eq!(
        status, 429,
        "a token not seen recently is not looked up while the address is out of budget: {body}"
    );
    assert_limit_headers(&h);
    let (status, _, _) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/tokens/self")
            .insert_header(bearer(&warm)),
    )
    .await;
    assert_eq!(status, 200, "a token in use keeps working");
}

#[actix_web::test]
async fn percent_encoded_paths_still_pass_the_gate() {
    let st = state();
    let u = user(&st, "enc@example.com", AccountType::Seeker).await;
    let t = token(&st, &u, &[Scope::QueueRead]).await;
    let app = app!(st);
    // Routed to /api/v1/profile: the gate must see it too (401, not a handler without auth).
    let (status, h, body) = send(&app, TestRequest::get().uri("/%61pi/v1/profile")).await;
    assert_eq!(status, 401, "{body}");
    assert_limit_headers(&h);
    let (status, _, body) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/%70rofile")
            .insert_header(bearer(&t)),
    )
    .await;
    assert_eq!(status, 403, "scope still checked: {body}");
    assert_envelope(&body, "INSUFFICIENT_SCOPE");
    let (status, h, _) = send(&app, TestRequest::get().uri("/api/v1/openapi%2Ejson")).await;
    assert_eq!(status, 200);
    assert_eq!(
        h["ratelimit-policy"], "\"anonymous\";q=60;w=60",
        "the anonymous limit applies"
    );
    let (status, _, body) = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/tokens%2Fself")
            .insert_header(bearer(&t)),
    )
    .await;
    assert_eq!(status, 404, "an encoded slash is not a separator");
    assert_envelope(&body, "NOT_FOUND");
}

/// Every route in the table, called the wrong way: without a token, without its scope, from
/// the other kind of account, or (human-only routes) with any token at all. Each refusal is
/// in the envelope with rate-limit headers, from the gate, before any handler runs.
#[actix_web::test]
async fn every_route_refuses_callers_the_table_excludes() {
    use jobby_domain::model::scopes::grantable;
    use jobby_http::routes::Access;

    let st = state();
    let seeker = user(&st, "s@example.com", AccountType::Seeker).await;
    let recruiter = user(&st, "r@example.com", AccountType::Recruiter).await;
    let app = app!(st);
    let mut checked = 0;
    for spec in jobby_http::api::routes() {
        let path = spec.path.replace("{id}", "x");
        let method = actix_web::http::Method::from_bytes(spec.method.as_bytes()).unwrap();
        let req = || {
            let r = TestRequest::default().method(method.clone()).uri(&path);
            if spec.is_mutating() {
                r.set_json(json!({}))
            } else {
                r
            }
        };
        let other_scopes = |scope: Option<Scope>, kind: AccountType| -> Vec<Scope> {
            grantable(kind).filter(|s| Some(*s) != scope).collect()
        };
        match spec.access {
            Access::Public => continue,
            Access::Session => {
                let everything = other_scopes(None, AccountType::Recruiter);
                let t = token(&st, &recruiter, &everything).await;
                let (status, h, body) = send(&app, req().insert_header(bearer(&t))).await;
                assert_eq!(status, 403, "{} {}: {body}", spec.method, spec.path);
                assert_envelope(&body, "HUMAN_SESSION_REQUIRED");
                assert_limit_headers(&h);
            }
            Access::Token(scope) => {
                let kind = spec.account.unwrap_or(if scope.recruiter_only() {
                    AccountType::Recruiter
                } else {
                    AccountType::Seeker
                });
                let owner = if kind == AccountType::Seeker {
                    &seeker
                } else {
                    &recruiter
                };
                let t = token(&st, owner, &other_scopes(Some(scope), kind)).await;
                let (status, h, body) = send(&app, req().insert_header(bearer(&t))).await;
                assert_eq!(status, 403, "{} {}: {body}", spec.method, spec.path);
                assert_envelope(&body, "INSUFFICIENT_SCOPE");
                assert_eq!(body["details"]["required_scope"], scope.as_str());
                assert_limit_headers(&h);
                if let Some(required) = spec.account {
                    let (other_kind, other) = match required {
                        AccountType::Seeker => (AccountType::Recruiter, &recruiter),
                        AccountType::Recruiter => (AccountType::Seeker, &seeker),
                    };
                    if grantable(other_kind).any(|s| s == scope) {
                        let t = token(&st, other, &[scope]).await;
                        let (status, _, body) = send(&app, req().insert_header(bearer(&t))).await;
                        assert_eq!(status, 403, "{} {}: {body}", spec.method, spec.path);
                        assert_envelope(&body, "WRONG_ACCOUNT_TYPE");
                    }
                }
            }
            Access::AnyToken => {}
        }
        // No token (and, for human-only routes, no session): 401.
        let (status, h, body) = send(&app, req()).await;
        assert_eq!(
            status, 401,
            "{} {} anonymously: {body}",
            spec.method, spec.path
        );
        assert_envelope(&body, "UNAUTHENTICATED");
        assert_limit_headers(&h);
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} routes checked");
}

#[actix_web::test]
async fn every_response_carries_the_hardening_headers() {
    let st = state();
    let u = user(&st, "hardening@example.com", AccountType::Seeker).await;
    let t = token(&st, &u, &[Scope::ProfileRead]).await;
    let app = app!(st);
    let requests = [
        TestRequest::get()
            .uri("/api/v1/profile")
            .insert_header(bearer(&t)),
        TestRequest::get().uri("/api/v1/profile"),
        TestRequest::get().uri("/api/v1/no-such-route"),
        TestRequest::delete().uri("/api/v1/profile"),
        TestRequest::get().uri("/account/login"),
        TestRequest::get().uri("/healthz"),
    ];
    for req in requests {
        let resp = test::call_service(&app, req.to_request()).await;
        let status = resp.status().as_u16();
        let h = resp.headers();
        assert_eq!(
            h.get("x-content-type-options").map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{status}"
        );
        assert_eq!(
            h.get("referrer-policy").map(|v| v.to_str().unwrap()),
            Some("same-origin"),
            "{status}"
        );
    }
}
