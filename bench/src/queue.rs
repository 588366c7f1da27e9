//! The live-queue load of `cargo xtask bench`: many seekers join one event with many
//! interviewer seats, through two server processes on one Postgres and Redis.
//!
//! 1. **Free seats.** Every seeker joins once, arriving at `RATE` joins a second (an open
//!    loop: arrivals do not wait for earlier answers), and declines its match at once, as an
//!    interview ending would free the seat. Each join finds a free seat, so its answer is the
//!    match: join→matched latency.
//! 2. **Burst.** Every seeker joins again, `BURST` at a time: the seats fill and the rest
//!    wait. Every join must be answered.
//!
//! After each, the store is checked: each seeker in exactly the matches expected, no
//! interviewer ever in two live matches at once, and the waiting positions exactly 1..n.
//! 3. **Polling.** Every waiting seeker polls its status every 5 s with its own token, as
//!    the API advertises: latency, errors, and how many authentications the token caches
//!    answered after the first round.
//!
//! Prints the figures, then `STATUS_EMAIL`/`STATUS_TOKEN` of a seeker waiting mid-queue for
//! the status throughput scenario.
//!
//! Environment: `DATABASE_URL`, `BENCH_A`, `BENCH_B` (the two servers' base URLs),
//! `SEEKERS` (10000), `SEATS` (100), `RATE` (200), `BURST` (256), `POLL_EVERY` (5 s),
//! `POLL_ROUNDS` (6).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::RunQueryDsl;
use futures_util::future::join_all;
use jobby_domain::model::account::{AccountType, Email, User, hash_password};
use jobby_domain::model::ids::UserId;
use jobby_domain::model::profile::Profile;
use jobby_domain::ports::Db;
use jobby_domain::usecases::tokens::{self, MintRequest};
use serde_json::{Value, json};

type Fallible<T> = Result<T, BoxError>;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Account {
    id: UserId,
    email: String,
    token: String,
}

/// Creates accounts straight in the store (one shared password hash: hashing 10,000
/// passwords would measure argon2, not the queue) with a token each.
async fn accounts(
    db: &Db,
    kind: AccountType,
    prefix: &str,
    n: usize,
    scopes: &[&str],
) -> Fallible<Vec<Account>> {
    let hash = hash_password("bench password");
    let mut out = Vec::with_capacity(n);
    for chunk_start in (0..n).step_by(500) {
        let chunk_end = (chunk_start + 500).min(n);
        let hash = hash.clone();
        let prefix = prefix.to_owned();
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let made = db
            .transaction(move |r| {
                Box::pin(async move {
                    let now = chrono::Utc::now();
                    let mut made = vec![];
                    for i in chunk_start..chunk_end {
                        let email = format!("{prefix}{i}@bench.jobby.dev");
                        let user = User {
                            id: UserId::new(),
                            email: Email::parse(&email)
                                .map_err(|e| jobby_domain::Error::field("email", e))?,
                            account_type: kind,
                            password_hash: hash.clone(),
                            created_at: now,
                        };
                        let profile = Profile {
                            name: format!("{prefix} {i}"),
                            ..Default::default()
                        };
                        r.insert_user(&user, &profile).await?;
                        let req = MintRequest {
                            name: "bench".into(),
                            scopes: scopes.clone(),
                            expires_in_days: None,
                        };
                        let (plain, _) = tokens::mint(r, &user, req, now).await?;
                        made.push(Account {
                            id: user.id,
                            email,
                            token: plain.expose().to_owned(),
                        });
                    }
                    Ok::<_, jobby_domain::Error>(made)
                })
            })
            .await?;
        out.extend(made);
    }
    Ok(out)
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> Fallible<(u16, Value)> {
    let mut req = http.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(db: &jobby_postgres::PgDatabase, sql: &str, event: &str) -> Fallible<i64> {
    let mut conn = db.pool().get().await?;
    let rows: Vec<Count> = sql_query(sql)
        .bind::<Text, _>(event)
        .load(&mut conn)
        .await?;
    Ok(rows.into_iter().next().map_or(0, |c| c.n))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What each request of a phase needs.
#[derive(Clone)]
struct Ctx {
    http: reqwest::Client,
    servers: [String; 2],
    seekers: Arc<Vec<Account>>,
    event: String,
}

/// Runs `f(i)` for every seeker index, `width` at a time, and returns every result.
async fn for_each_seeker<T, F, Fut>(n: usize, width: usize, f: F) -> Fallible<Vec<T>>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<T, BoxError>> + Send + 'static,
    T: Send + 'static,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let workers = (0..width).map(|_| {
        let (f, next) = (f.clone(), next.clone());
        tokio::spawn(async move {
            let mut out = vec![];
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                out.push(f(i).await?);
            }
            Ok::<_, BoxError>(out)
        })
    });
    let mut all = vec![];
    for r in join_all(workers).await {
        all.extend(r??);
    }
    Ok(all)
}

/// Starts `f(i)` for every seeker index at `rate` a second, whatever the earlier ones are
/// doing, and returns every result.
async fn arrivals<T, F, Fut>(n: usize, rate: usize, f: F) -> Fallible<Vec<T>>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, BoxError>> + Send + 'static,
    T: Send + 'static,
{
    let start = tokio::time::Instant::now();
    let gap = Duration::from_secs(1).div_f64(rate as f64);
    let mut running = Vec::with_capacity(n);
    for i in 0..n {
        tokio::time::sleep_until(start + gap.mul_f64(i as f64)).await;
        running.push(tokio::spawn(f(i)));
    }
    let mut all = Vec::with_capacity(n);
    for r in join_all(running).await {
        all.push(r??);
    }
    Ok(all)
}

/// The servers' token cache counters: (hits, misses, refreshes while not hearing), summed.
async fn cache_counts(http: &reqwest::Client, servers: &[String; 2]) -> Fallible<(u64, u64, u64)> {
    let mut sum = (0, 0, 0);
    for s in servers {
        let text = http
            .get(format!("{s}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        let read = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        sum.0 += read("jobby_token_cache_hits_total ");
        sum.1 += read("jobby_token_cache_misses_total ");
        sum.2 += read("jobby_token_cache_unheard_refreshes_total ");
    }
    Ok(sum)
}

/// Polling: every waiting seeker asks for its place every `POLL_EVERY` seconds (what the
/// status object advertises), each with its own token, their polls spread evenly, for
/// `POLL_ROUNDS` rounds. The first round warms the token caches; the rest are measured.
async fn poll(
    http: &reqwest::Client,
    servers: &[String; 2],
    seekers: &Arc<Vec<Account>>,
    waiting: &[(u64, usize)],
) -> Fallible<()> {
    let every = Duration::from_secs(env_num("POLL_EVERY", 5) as u64);
    let rounds = env_num("POLL_ROUNDS", 6).max(2);
    let n = waiting.len().max(1);
    let start = tokio::time::Instant::now() + Duration::from_millis(200);
    let mut tasks = Vec::with_capacity(n);
    for (k, &(_, i)) in waiting.iter().enumerate() {
        let (http, base, token) = (
            http.clone(),
            servers[i % 2].clone(),
            seekers[i].token.clone(),
        );
        let offset = every.mul_f64(k as f64 / n as f64);
        tasks.push(tokio::spawn(async move {
            let mut measured = Vec::with_capacity(rounds - 1);
            let mut errors = 0usize;
            for r in 0..rounds {
                tokio::time::sleep_until(start + offset + every * r as u32).await;
                let t0 = Instant::now();
                let ok = matches!(
                    call(&http, reqwest::Method::GET, &format!("{base}/api/v1/queue/status"), &token, None).await,
                    Ok((200, ref b)) if b["status"] == "waiting"
                );
                if r > 0 {
                    measured.push(t0.elapsed());
                    errors += usize::from(!ok);
                }
            }
            (measured, errors)
        }));
    }
    // Counters once the warm-up round is over, and at the end.
    tokio::time::sleep_until(start + every + Duration::from_millis(100)).await;
    let warm = cache_counts(http, servers).await?;
    let t = Instant::now();
    let mut lat = Vec::with_capacity(n * (rounds - 1));
    let mut errors = 0;
    for r in join_all(tasks).await {
        let (l, e) = r?;
        lat.extend(l);
        errors += e;
    }
    let secs = t.elapsed().as_secs_f64();
    let end = cache_counts(http, servers).await?;
    let (hits, misses, unheard) = (end.0 - warm.0, end.1 - warm.1, end.2 - warm.2);
    lat.sort();
    println!(
        "polling: {n} waiting seekers, each GET /queue/status every {} s with its own token: {} polls in {secs:.0} s ({:.0}/s), errors {errors}; p50 {} p99 {} max {}; token cache after warm-up: {hits} hits, {misses} misses ({:.2}% from the cache; {unheard} of the misses while access changes were not heard)",
        every.as_secs(),
        lat.len(),
        lat.len() as f64 / secs,
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap_or(&Duration::ZERO)),
        100.0 * hits as f64 / (hits + misses).max(1) as f64,
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Fallible<()> {
    let url = std::env::var("DATABASE_URL")?;
    let servers = [std::env::var("BENCH_A")?, std::env::var("BENCH_B")?];
    let n_seekers = env_num("SEEKERS", 10_000);
    let n_seats = env_num("SEATS", 100);
    let rate = env_num("RATE", 200).max(1);
    let burst = env_num("BURST", 256);
    let pg = jobby_postgres::connect(&url, 8).await?;
    let db = Db::new(Arc::new(jobby_postgres::connect(&url, 8).await?));

    let t = Instant::now();
    let recruiters = accounts(
        &db,
        AccountType::Recruiter,
        "interviewer",
        n_seats,
        &["events:write", "events:read"],
    )
    .await?;
    let seekers = Arc::new(
        accounts(
            &db,
            AccountType::Seeker,
            "seeker",
            n_seekers,
            &["queue:write", "queue:read", "matches:write"],
        )
        .await?,
    );
    eprintln!(
        "created {n_seats} interviewers and {n_seekers} seekers in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1024)
        // Below the server's 5 s keep-alive, so an idle connection is not reused just as the
        // server closes it (clients wait 5 s between polls).
        .pool_idle_timeout(Duration::from_secs(3))
        .build()?;
    let ids: Vec<String> = recruiters.iter().map(|r| r.id.to_string()).collect();
    let (st, ev) = call(
        &http,
        reqwest::Method::POST,
        &format!("{}/api/v1/events", servers[0]),
        &recruiters[0].token,
        Some(json!({"title": "Bench fair", "interviewer_ids": ids})),
    )
    .await?;
    assert_eq!(st, 201, "create event: {ev}");
    let event = ev["id"].as_str().ok_or("no event id")?.to_owned();
    let event_uuid = event.trim_start_matches("evt_").to_owned();
    let (st, b) = call(
        &http,
        reqwest::Method::POST,
        &format!("{}/api/v1/events/{event}/start", servers[0]),
        &recruiters[0].token,
        None,
    )
    .await?;
    assert_eq!(st, 200, "start: {b}");
    for r in &recruiters[1..] {
        let (st, b) = call(
            &http,
            reqwest::Method::PUT,
            &format!("{}/api/v1/events/{event}/availability", servers[0]),
            &r.token,
            Some(json!({"available": true})),
        )
        .await?;
        assert_eq!(st, 200, "availability: {b}");
    }

    // 1. Free seats: join, matched at once, decline.
    let ctx = Ctx {
        http: http.clone(),
        servers: servers.clone(),
        seekers: seekers.clone(),
        event: event.clone(),
    };
    let t = Instant::now();
    let cycles = arrivals(n_seekers, rate, move |i| {
        let c = ctx.clone();
        async move {
            let s = &c.seekers[i];
            let base = &c.servers[i % 2];
            let t0 = Instant::now();
            let (st, b) = call(
                &c.http,
                reqwest::Method::POST,
                &format!("{base}/api/v1/queue/join"),
                &s.token,
                Some(json!({"event_id": c.event})),
            )
            .await?;
            if st != 200 {
                return Err(format!("join answered {st}: {b}").into());
            }
            let mut status = b;
            let mut polls = 0usize;
            while status["status"] != "matched" {
                // Not matched at once (the seats were all taken): wait as a client would,
                // asking as often as the status object says.
                polls += 1;
                let every = status["poll_interval_seconds"].as_u64().unwrap_or(5).max(1);
                tokio::time::sleep(Duration::from_secs(every)).await;
                status = call(
                    &c.http,
                    reqwest::Method::GET,
                    &format!("{base}/api/v1/queue/status"),
                    &s.token,
                    None,
                )
                .await?
                .1;
            }
            let latency = t0.elapsed();
            let mid = status["match_id"].as_str().ok_or("no match id")?;
            let (st, b) = call(
                &c.http,
                reqwest::Method::POST,
                &format!("{}/api/v1/matches/{mid}/decline", c.servers[(i + 1) % 2]),
                &s.token,
                Some(json!({})),
            )
            .await?;
            if st != 200 {
                return Err(format!("decline answered {st}: {b}").into());
            }
            Ok((latency, polls))
        }
    })
    .await?;
    let waited: usize = cycles.iter().map(|c| c.1).sum();
    let mut lat: Vec<Duration> = cycles.into_iter().map(|c| c.0).collect();
    let free_secs = t.elapsed().as_secs_f64();
    lat.sort();
    println!(
        "free seats: {} joins arriving at {rate}/s (achieved {:.0}/s), {} polls needed; join→matched p50 {} p99 {} max {}",
        lat.len(),
        lat.len() as f64 / free_secs,
        waited,
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap_or(&Duration::ZERO)),
    );
    let per_seeker = count(
        &pg,
        "SELECT count(*) AS n FROM (SELECT seeker_id FROM matches WHERE event_id = $1::uuid GROUP BY seeker_id HAVING count(*) <> 1) x",
        &event_uuid,
    )
    .await?;
    let total = count(
        &pg,
        "SELECT count(*) AS n FROM matches WHERE event_id = $1::uuid",
        &event_uuid,
    )
    .await?;
    // Each interviewer's matches, in the order they were made and ended under the event's
    // lock (the outbox order), must alternate: made, ended (the same match), made, ended…
    let overlaps = count(
        &pg,
        "WITH ev AS (SELECT id, kind, payload->>'interviewer_id' AS iv, payload->>'match_id' AS mid \
           FROM outbox WHERE event_id = $1::uuid \
           AND kind IN ('match.created', 'match.declined', 'match.expired', 'match.completed')), \
         seq AS (SELECT kind, mid, lag(kind) OVER w AS prev_kind, lag(mid) OVER w AS prev_mid \
           FROM ev WINDOW w AS (PARTITION BY iv ORDER BY id)) \
         SELECT count(*) AS n FROM seq WHERE (kind = 'match.created' AND prev_kind = 'match.created') \
           OR (kind <> 'match.created' AND (prev_kind IS DISTINCT FROM 'match.created' OR prev_mid IS DISTINCT FROM mid))",
        &event_uuid,
    )
    .await?;
    println!(
        "  checked: {total} matches, seekers not matched exactly once: {per_seeker}, interviewer double bookings: {overlaps}"
    );
    if total != n_seekers as i64 || per_seeker != 0 || overlaps != 0 {
        return Err("free seats: pairings were not exactly once".into());
    }

    // 2. Burst: everyone joins again at once; the seats fill, the rest wait.
    let ctx = Ctx {
        http: http.clone(),
        servers: servers.clone(),
        seekers: seekers.clone(),
        event: event.clone(),
    };
    let t = Instant::now();
    let joins = for_each_seeker(n_seekers, burst, move |i| {
        let c = ctx.clone();
        async move {
            let t0 = Instant::now();
            let (st, b) = call(
                &c.http,
                reqwest::Method::POST,
                &format!("{}/api/v1/queue/join", c.servers[i % 2]),
                &c.seekers[i].token,
                Some(json!({"event_id": c.event})),
            )
            .await?;
            if st != 200 {
                return Err(format!("join answered {st}: {b}").into());
            }
            Ok((t0.elapsed(), b["status"] == "matched"))
        }
    })
    .await?;
    let matched = joins.iter().filter(|j| j.1).count();
    let mut lat: Vec<Duration> = joins.into_iter().map(|j| j.0).collect();
    let burst_secs = t.elapsed().as_secs_f64();
    lat.sort();
    println!(
        "burst: {} joins answered ({} matched at once) at {burst} in flight, {:.0} joins/s; join p50 {} p99 {} max {}",
        lat.len(),
        matched,
        lat.len() as f64 / burst_secs,
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap_or(&Duration::ZERO)),
    );
    let live = count(
        &pg,
        "SELECT count(DISTINCT interviewer_id) AS n FROM matches WHERE event_id = $1::uuid AND status IN ('pending', 'accepted')",
        &event_uuid,
    )
    .await?;
    let live_total = count(
        &pg,
        "SELECT count(*) AS n FROM matches WHERE event_id = $1::uuid AND status IN ('pending', 'accepted')",
        &event_uuid,
    )
    .await?;
    // Every waiting seeker asks for their place; the places must be exactly 1..n.
    let ctx = Ctx {
        http: http.clone(),
        servers: servers.clone(),
        seekers: seekers.clone(),
        event: event.clone(),
    };
    let mut places: Vec<(u64, usize)> = for_each_seeker(n_seekers, 64, move |i| {
        let c = ctx.clone();
        async move {
            let (_, b) = call(
                &c.http,
                reqwest::Method::GET,
                &format!("{}/api/v1/queue/status", c.servers[i % 2]),
                &c.seekers[i].token,
                None,
            )
            .await?;
            Ok((b["status"] == "waiting").then(|| (b["position"].as_u64().unwrap_or(0), i)))
        }
    })
    .await?
    .into_iter()
    .flatten()
    .collect();
    places.sort_unstable();
    let positions: HashSet<u64> = places.iter().map(|p| p.0).collect();
    let expected = (n_seekers - n_seats) as u64;
    let exact = places.len() as u64 == expected && (1..=expected).all(|p| positions.contains(&p));
    println!(
        "  checked: {live_total} live matches over {live} interviewers; {} waiting, positions exactly 1..{expected}: {exact}",
        places.len()
    );
    if live != n_seats as i64 || live_total != n_seats as i64 || !exact {
        return Err(
            "burst: the seats or the queue are not what exactly-once matching gives".into(),
        );
    }
    poll(&http, &servers, &seekers, &places).await?;
    let (pos, mid) = places[places.len() / 2];
    println!("STATUS_POSITION={pos}");
    println!("STATUS_EMAIL={}", seekers[mid].email);
    println!("STATUS_TOKEN={}", seekers[mid].token);
    Ok(())
}
