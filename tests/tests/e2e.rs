//! End to end over real HTTP: the `jobby` binary on Postgres and Redis.

use std::time::{Duration, Instant};

use jobby_tests::{Services, account_with_token, client, field, jobby, services_or_skip, spawn};
use serde_json::{Value, json};

async fn get(url: &str, token: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = client()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn walkthrough_on_postgres_and_redis() {
    let s: Services = services_or_skip!();
    let token = account_with_token(
        &s,
        "walk@example.com",
        "seeker",
        "profile:read,profile:write",
    );
    let server = spawn(&s, &[]);

    let (status, h, body) = get(&server.url("/api/v1/tokens/self"), &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["account_type"], "seeker");
    assert_eq!(h["x-ratelimit-limit"], "60");

    let (status, _, body) = get(&server.url("/api/v1/settings"), &token).await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], "INSUFFICIENT_SCOPE");

    let key = uuid::Uuid::new_v4().to_string();
    let patch = || {
        client()
            .patch(server.url("/api/v1/profile"))
            .bearer_auth(&token)
            .header("idempotency-key", &key)
            .json(&json!({"headline": "Rustacean"}))
    };
    let first = patch().send().await.unwrap();
    assert_eq!(first.status(), 200);
    let first_body = first.bytes().await.unwrap();
    let replay = patch().send().await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.bytes().await.unwrap(), first_body);

    let (status, _, body) = get(&server.url("/api/v1/profile"), &token).await;
    assert_eq!(
        (status, body["headline"].as_str()),
        (200, Some("Rustacean"))
    );

    let ready = client().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(
        ready["checks"],
        json!({"database": "ok", "rate_limiter": "ok"})
    );
}

#[tokio::test]
async fn the_rate_limit_holds_across_two_processes() {
    let s = services_or_skip!();
    let token = account_with_token(&s, "rl@example.com", "seeker", "profile:read");
    let a = spawn(&s, &[]);
    let b = spawn(&s, &[]);
    let mut ok = 0u64;
    let mut limited = 0;
    let started = Instant::now();
    for i in 0..70 {
        let server = if i % 2 == 0 { &a } else { &b };
        match get(&server.url("/api/v1/profile"), &token).await.0 {
            200 => ok += 1,
            429 => limited += 1,
            other => panic!("unexpected {other}"),
        }
    }
    // 60 a minute refills one a second: allow for the seconds the loop took, so a slow
    // machine does not fail the test, while a bucket per process (120) still would.
    let refilled = started.elapsed().as_secs() + 1;
    assert!(
        (60..=60 + refilled).contains(&ok),
        "one bucket in Redis, shared by both processes: {ok} allowed"
    );
    assert_eq!(ok + limited, 70);
}

#[tokio::test]
async fn revocation_reaches_another_process_within_two_seconds() {
    let s = services_or_skip!();
    let admin = account_with_token(
        &s,
        "rev@example.com",
        "seeker",
        "settings:read,settings:write",
    );
    let victim = jobby(
        &s,
        &[
            "admin",
            "mint-token",
            "--email",
            "rev@example.com",
            "--scopes",
            "queue:read",
        ],
    );
    // The longest short lifetime a server accepts, and the default thirty minutes while
    // access changes are heard: the revocation must travel through the outbox.
    let a = spawn(&s, &[("JOBBY_TOKEN_CACHE_MS", "1200")]);
    let b = spawn(&s, &[("JOBBY_TOKEN_CACHE_MS", "1200")]);
    assert_eq!(
        get(&b.url("/api/v1/tokens/self"), &victim).await.0,
        200,
        "warm b's cache"
    );
    // Past the short lifetime, b still answers from its cache: it hears access changes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let hits = || async {
        let text = client()
            .get(b.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("jobby_token_cache_hits_total "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = hits().await;
    assert_eq!(get(&b.url("/api/v1/tokens/self"), &victim).await.0, 200);
    assert_eq!(hits().await, before + 1, "a cache hit after 1.5 s");
    let (_, _, me) = get(&a.url("/api/v1/tokens/self"), &victim).await;
    let id = me["id"].as_str().unwrap().to_owned();
    let revoked = client()
        .delete(a.url(&format!("/api/v1/api-tokens/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let at = Instant::now();
    assert_eq!(
        get(&a.url("/api/v1/tokens/self"), &victim).await.0,
        401,
        "at once on the process that handled it"
    );
    loop {
        if get(&b.url("/api/v1/tokens/self"), &victim).await.0 == 401 {
            break;
        }
        assert!(
            at.elapsed() < Duration::from_secs(2),
            "b still accepts the revoked token after 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_acknowledged_idempotent_response_survives_a_crash() {
    let s = services_or_skip!();
    let token = account_with_token(&s, "crash@example.com", "recruiter", "profile:write");
    let a = spawn(&s, &[]);
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({"company": "Acme"});
    let first = client()
        .patch(a.url("/api/v1/profile"))
        .bearer_auth(&token)
        .header("idempotency-key", &key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let first_body = first.bytes().await.unwrap();
    a.kill();
    let b = spawn(&s, &[]);
    let replay = client()
        .patch(b.url("/api/v1/profile"))
        .bearer_auth(&token)
        .header("idempotency-key", &key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.bytes().await.unwrap(), first_body);
}

#[tokio::test]
async fn redis_down_fails_open_for_reads_and_is_counted() {
    let s = services_or_skip!();
    let token = account_with_token(&s, "down@example.com", "seeker", "profile:read");
    let server = spawn(&s, &[("REDIS_URL", "redis://127.0.0.1:1")]);
    let (status, h, _) = get(&server.url("/api/v1/profile"), &token).await;
    assert_eq!(status, 200, "read routes fail open");
    assert!(
        !h.contains_key("x-ratelimit-remaining"),
        "no count to report while Redis is away"
    );
    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("jobby_rate_limiter_fail_open_total 1"),
        "{metrics}"
    );
    let ready = client().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
}

#[tokio::test]
async fn a_human_signs_up_and_mints_a_token_on_postgres() {
    let s = services_or_skip!();
    let server = spawn(&s, &[]);
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .unwrap();
    let html = browser
        .get(server.url("/account/signup"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = field(&html, "name=\"csrf_token\" value=\"", '"');
    let form = [
        ("email", "human@example.com"),
        ("password", "a long password"),
        ("name", "Hu Man"),
        ("account_type", "recruiter"),
        ("csrf_token", csrf.as_str()),
    ];
    let page = browser
        .post(server.url("/account/signup"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(page.url().path(), "/account/api-tokens");
    let html = page.text().await.unwrap();
    let csrf = field(&html, "name=\"csrf_token\" value=\"", '"');
    let mint = [
        ("name", "agent"),
        ("scopes", "events:read"),
        ("scopes", "profile:read"),
        ("expires_in_days", ""),
        ("csrf_token", csrf.as_str()),
    ];
    let minted = browser
        .post(server.url("/account/api-tokens"))
        .form(&mint)
        .send()
        .await
        .unwrap();
    assert_eq!(minted.status(), 201);
    let token = field(&minted.text().await.unwrap(), "id=\"new-token\">", '<');
    let (status, _, body) = get(&server.url("/api/v1/tokens/self"), &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["scopes"], json!(["profile:read", "events:read"]));
    assert_eq!(body["expires_at"], Value::Null, "empty expiry = never");
}

#[tokio::test]
async fn migrate_is_repeatable() {
    let s = services_or_skip!();
    assert_eq!(jobby(&s, &["migrate"]), "migrations applied");
    assert_eq!(jobby(&s, &["migrate"]), "migrations applied");
}

#[tokio::test]
async fn an_operator_raises_one_accounts_limit() {
    let s = services_or_skip!();
    let token = account_with_token(&s, "partner@example.com", "seeker", "profile:read");
    let out = jobby(
        &s,
        &[
            "admin",
            "set-rate-limit",
            "--email",
            "partner@example.com",
            "--class",
            "read",
            "--per-minute",
            "1000",
        ],
    );
    assert_eq!(out, "partner@example.com: read limit is now 1000/min");
    let server = spawn(&s, &[]);
    for _ in 0..70 {
        let (status, h, _) = get(&server.url("/api/v1/profile"), &token).await;
        assert_eq!(status, 200);
        assert_eq!(h["x-ratelimit-limit"], "1000");
    }
    let bad = base_fails(
        &s,
        &[
            "admin",
            "set-rate-limit",
            "--email",
            "partner@example.com",
            "--class",
            "fast",
            "--per-minute",
            "5",
        ],
    );
    assert!(bad.contains("class"), "{bad}");
    let reset = jobby(
        &s,
        &[
            "admin",
            "set-rate-limit",
            "--email",
            "partner@example.com",
            "--class",
            "read",
            "--reset",
        ],
    );
    assert!(reset.ends_with("back to the default"));
}

fn base_fails(s: &Services, args: &[&str]) -> String {
    let out = std::process::Command::new(jobby_tests::binary())
        .env("DATABASE_URL", &s.database_url)
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn the_worker_purges_keys_older_than_a_day() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let s = services_or_skip!();
    let token = account_with_token(&s, "purge@example.com", "seeker", "profile:write");
    let server = spawn(&s, &[("JOBBY_NO_WORKER", "true")]);
    let key = uuid::Uuid::new_v4().to_string();
    let patch = || {
        client()
            .patch(server.url("/api/v1/profile"))
            .bearer_auth(&token)
            .header("idempotency-key", &key)
            .json(&json!({"headline": "x"}))
    };
    assert_eq!(patch().send().await.unwrap().status(), 200);
    assert_eq!(
        jobby(&s, &["worker", "--once"]),
        "purged 0 idempotency keys, 0 sessions, 0 outbox records and 0 room tickets; expired 0 matches",
        "a fresh key stays"
    );
    let mut conn = AsyncPgConnection::establish(&s.database_url).await.unwrap();
    diesel::sql_query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        jobby(&s, &["worker", "--once"]),
        "purged 1 idempotency keys, 0 sessions, 0 outbox records and 0 room tickets; expired 0 matches"
    );
    let again = patch().send().await.unwrap();
    assert_eq!(again.status(), 200);
    assert!(
        again.headers().get("idempotent-replayed").is_none(),
        "the purged key is fresh again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_is_503_and_coming_back_is_served() {
    let s = services_or_skip!();
    let token = account_with_token(
        &s,
        "pgdown@example.com",
        "seeker",
        "profile:read,profile:write",
    );
    let proxy = jobby_tests::Proxy::start(jobby_tests::host_port(&s.database_url).to_owned()).await;
    let through_proxy = Services {
        database_url: s.database_url.replacen(
            jobby_tests::host_port(&s.database_url),
            &proxy.addr.to_string(),
            1,
        ),
        ..s.clone()
    };
    // No token cache: every request looks its token up in Postgres.
    let server = spawn(&through_proxy, &[("JOBBY_TOKEN_CACHE_MS", "0")]);
    let patch = |headline: &'static str| {
        client()
            .patch(server.url("/api/v1/profile"))
            .bearer_auth(&token)
            .json(&json!({ "headline": headline }))
            .send()
    };
    assert_eq!(get(&server.url("/api/v1/profile"), &token).await.0, 200);

    proxy.cut();
    for _ in 0..2 {
        let (status, h, body) = get(&server.url("/api/v1/profile"), &token).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["code"], "DEPENDENCY_UNAVAILABLE", "{body}");
        assert!(h.contains_key("retry-after"), "{h:?}");
    }
    let r = patch("while away").await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let ready = client().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _, body) = get(&server.url("/api/v1/profile"), &token).await;
        if status == 200 {
            assert_ne!(
                body["headline"], "while away",
                "the refused write changed nothing"
            );
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "not served again within 15 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = patch("back again").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, _, body) = get(&server.url("/api/v1/profile"), &token).await;
    assert_eq!(body["headline"], "back again");
}

/// `JOBBY_METRICS_LISTEN` moves `/metrics` to the operator's address: the public one answers
/// it with 404, the operator's serves the counters of the public traffic.
#[tokio::test]
async fn metrics_are_served_on_the_operators_address_only() {
    let s: Services = services_or_skip!();
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let operator = free.local_addr().expect("address");
    drop(free);
    let server = spawn(&s, &[("JOBBY_METRICS_LISTEN", &operator.to_string())]);
    let public = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("request");
    assert_eq!(public.status(), 404);
    let body: Value = public.json().await.expect("envelope");
    assert_eq!(body["code"], "NOT_FOUND");
    let text = client()
        .get(format!("http://{operator}/metrics"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("route=\"/metrics\",status=\"404\"} 1"),
        "{text}"
    );
}
