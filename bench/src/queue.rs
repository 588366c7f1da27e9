//! The live-queue load of `cargo xtask bench`: many seekers join one event with many
//! interviewer seats, through two server processes on one Postgres and Redis, run as
//! production runs them (the expiry worker on).
//!
//! 1. **Free seats**, at `RATE` and then at `RATE2` arrivals a second (an open loop:
//!    arrivals do not wait for earlier answers). Every seeker joins once and declines its
//!    match at once, as an interview ending would free the seat. A seeker not matched at
//!    once waits on `GET /queue/stream` for its match, as an agent that answers at once does.
//!    Figures: join answered, join→matched, matches made per 5 s (does the rate hold?).
//! 2. **Burst.** Every seeker joins again, `BURST` at a time: the seats fill and the rest
//!    wait. Every join must be answered.
//!
//! After each, the store is checked: each seeker in exactly the matches expected, no
//! interviewer ever in two live matches at once, and the waiting positions exactly 1..n.
//! 3. **Waiting.** `STREAMS` of the waiting seekers hold `GET /queue/stream` open on a third
//!    server process (C, started for this phase), the rest poll `GET /queue/status` every
//!    5 s with their own tokens (what the API advertises) across all three, while `wrk` loads
//!    one seeker's token on the same route: latency, errors, how many authentications the
//!    token caches answered after the first round, and C's memory with all of it going on.
//!
//! Every request that fails or times out is counted and printed by kind; a phase still
//! running `LIMIT` seconds after its last arrival is stopped and reported as unable to keep
//! up (everyone then leaves the queue and the next phase goes on), and the run fails at the
//! end.
//!
//! Prints the figures, then `STATUS_EMAIL`/`STATUS_TOKEN` of a seeker waiting mid-queue for
//! the status throughput scenario.
//!
//! Environment: `DATABASE_URL`, `BENCH_A`, `BENCH_B` (the two servers' base URLs),
//! `BENCH_C` and `BENCH_C_PID` (the waiting phase's stream server and its process, for its
//! memory; A when unset), `SEEKERS` (10000), `SEATS` (100),
//! `RATE` (200), `RATE2` (500; 0 skips), `BURST` (256), `STREAMS` (2000), `POLL_EVERY`
//! (5 s), `POLL_ROUNDS` (6), `LIMIT` (60 s), `WRK_CONNECTIONS` (64; 0 skips).

use std::collections::{BTreeMap, HashSet};
use std::process::Command;
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
) -> Result<(u16, Value), reqwest::Error> {
    let mut req = http.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}

/// A failed request in a few words, to count failures by kind: `join 503 CONTENTION`,
/// `decline timed out`, …
fn failure(step: &str, e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("{step} timed out")
    } else if e.is_connect() {
        format!("{step} could not connect")
    } else {
        format!("{step} failed in transit")
    }
}

fn refused(step: &str, status: u16, body: &Value) -> String {
    format!("{step} {status} {}", body["code"].as_str().unwrap_or(""))
}

/// Counts of failures by kind, printed `kind ×n, …` (or `none`).
fn tally(failures: impl IntoIterator<Item = String>) -> (usize, String) {
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for f in failures {
        *by_kind.entry(f).or_default() += 1;
    }
    let total = by_kind.values().sum();
    if by_kind.is_empty() {
        return (0, "none".into());
    }
    let text = by_kind
        .iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    (total, text)
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
    /// For streams: no overall time-out.
    streams: reqwest::Client,
    servers: [String; 2],
    seekers: Arc<Vec<Account>>,
    event: String,
}

/// Runs `f(i)` for every seeker index, `width` at a time, and returns every result.
async fn for_each_seeker<T, F, Fut>(n: usize, width: usize, f: F) -> Fallible<Vec<T>>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
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
                out.push(f(i).await);
            }
            out
        })
    });
    let mut all = vec![];
    for r in join_all(workers).await {
        all.extend(r?);
    }
    Ok(all)
}

/// Starts `f(i)` for every seeker index at `rate` a second, whatever the earlier ones are
/// doing. Returns each result, `None` for those still running `limit` after the last
/// arrival (they are stopped).
async fn arrivals<T, F, Fut>(n: usize, rate: usize, limit: Duration, f: F) -> Vec<Option<T>>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let start = tokio::time::Instant::now();
    let gap = Duration::from_secs(1).div_f64(rate as f64);
    let mut running = Vec::with_capacity(n);
    for i in 0..n {
        tokio::time::sleep_until(start + gap.mul_f64(i as f64)).await;
        running.push(tokio::spawn(f(i)));
    }
    let deadline = tokio::time::Instant::now() + limit;
    let mut all = Vec::with_capacity(n);
    for mut task in running {
        match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(Ok(out)) => all.push(Some(out)),
            Ok(Err(_)) => all.push(None),
            Err(_) => {
                task.abort();
                all.push(None);
            }
        }
    }
    all
}

/// The named counters of the servers' `/metrics`, each summed over the servers.
async fn counters<const N: usize>(
    http: &reqwest::Client,
    servers: &[String],
    names: [&str; N],
) -> Fallible<[u64; N]> {
    let mut sum = [0; N];
    for s in servers {
        let text = http
            .get(format!("{s}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        for (total, name) in sum.iter_mut().zip(names) {
            *total += metric(&text, name);
        }
    }
    Ok(sum)
}

/// The servers' token cache counters: hits, misses, refreshes while not hearing.
async fn cache_counts(http: &reqwest::Client, servers: &[String]) -> Fallible<[u64; 3]> {
    counters(
        http,
        servers,
        [
            "jobby_token_cache_hits_total",
            "jobby_token_cache_misses_total",
            "jobby_token_cache_unheard_refreshes_total",
        ],
    )
    .await
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or(0)
}

/// Both servers' round requests and rounds run.
async fn round_counts(http: &reqwest::Client, servers: &[String]) -> Fallible<[u64; 2]> {
    counters(
        http,
        servers,
        [
            "jobby_matching_round_requests_total",
            "jobby_matching_rounds_total",
        ],
    )
    .await
}

/// A process's resident memory now and its high-water mark, from `/proc`.
fn memory(pid: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map_or("?".to_owned(), |v| v.trim().to_owned())
    };
    format!("{} (high-water {})", field("VmRSS:"), field("VmHWM:"))
}

/// One seeker's join → matched → decline.
struct Cycle {
    /// The join's answer.
    answered: Duration,
    /// Join → matched, polls included.
    matched: Duration,
    /// When it was matched, from the phase's start.
    matched_at: Duration,
    /// 1 when it waited on the stream for a seat.
    waited: usize,
}

async fn cycle(c: Ctx, i: usize, phase_start: Instant) -> Result<Cycle, String> {
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
    .await
    .map_err(|e| failure("join", &e))?;
    if st != 200 {
        return Err(refused("join", st, &b));
    }
    let answered = t0.elapsed();
    let mut status = b;
    let mut waited = 0usize;
    if status["status"] == "waiting" {
        // Not matched at once (the seats were all taken): wait on the status stream, as an
        // agent that wants to answer its match at once does.
        waited += 1;
        status = await_match(&c, &s.token, base).await?;
    }
    if status["status"] != "matched" {
        return Err(format!("status {}", status["status"]));
    }
    let matched = t0.elapsed();
    let matched_at = phase_start.elapsed();
    let mid = status["match_id"].as_str().ok_or("no match id")?;
    let (st, b) = call(
        &c.http,
        reqwest::Method::POST,
        &format!("{}/api/v1/matches/{mid}/decline", c.servers[(i + 1) % 2]),
        &s.token,
        Some(json!({})),
    )
    .await
    .map_err(|e| failure("decline", &e))?;
    if st != 200 {
        return Err(refused("decline", st, &b));
    }
    Ok(Cycle {
        answered,
        matched,
        matched_at,
        waited,
    })
}

/// Follows `GET /queue/stream` until the status says matched (or no longer waiting), and
/// returns that status.
async fn await_match(c: &Ctx, token: &str, base: &str) -> Result<Value, String> {
    let mut resp = c
        .streams
        .get(format!("{base}/api/v1/queue/stream"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| failure("stream", &e))?;
    if resp.status() != 200 {
        return Err(format!("stream {}", resp.status().as_u16()));
    }
    let mut buf = Vec::new();
    loop {
        let chunk = resp
            .chunk()
            .await
            .map_err(|e| failure("stream", &e))?
            .ok_or("stream closed while waiting")?;
        buf.extend_from_slice(&chunk);
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let frame: Vec<u8> = buf.drain(..end + 2).collect();
            let frame = String::from_utf8_lossy(&frame);
            if !frame.lines().any(|l| l == "event: status") {
                continue;
            }
            let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            let status: Value = serde_json::from_str(data).map_err(|e| e.to_string())?;
            if status["status"] != "waiting" {
                return Ok(status);
            }
        }
    }
}

/// Free seats at `rate` arrivals a second: every seeker joins, is matched, declines.
/// `Ok(false)` when cycles failed or did not finish in time (then everyone leaves the queue,
/// so the next phase starts from an empty one); fails when the pairings are not exactly
/// once.
async fn free_seats(
    ctx: &Ctx,
    pg: &jobby_postgres::PgDatabase,
    event_uuid: &str,
    rate: usize,
    limit: Duration,
) -> Fallible<bool> {
    let n = ctx.seekers.len();
    let since = chrono::Utc::now().to_rfc3339();
    let rounds_before = round_counts(&ctx.http, &ctx.servers).await?;
    let t = Instant::now();
    let c = ctx.clone();
    let results = arrivals(n, rate, limit, move |i| cycle(c.clone(), i, t)).await;
    let secs = t.elapsed().as_secs_f64();
    let rounds_after = round_counts(&ctx.http, &ctx.servers).await?;
    let unfinished = results.iter().filter(|r| r.is_none()).count();
    let mut cycles = vec![];
    let (failed, kinds) = tally(results.into_iter().flatten().filter_map(|r| match r {
        Ok(c) => {
            cycles.push(c);
            None
        }
        Err(e) => Some(e),
    }));
    let waited: usize = cycles.iter().map(|c| c.waited).sum();
    let mut answered: Vec<Duration> = cycles.iter().map(|c| c.answered).collect();
    let mut matched: Vec<Duration> = cycles.iter().map(|c| c.matched).collect();
    answered.sort();
    matched.sort();
    // Matches made in each 5 s of the phase: a rate that holds stays level.
    let mut per_window = vec![0usize; (secs / 5.0).ceil() as usize + 1];
    for c in &cycles {
        per_window[(c.matched_at.as_secs_f64() / 5.0) as usize] += 1;
    }
    let windows = per_window
        .iter()
        .map(|m| format!("{:.0}", *m as f64 / 5.0))
        .collect::<Vec<_>>()
        .join(" ");
    let (requests, ran) = (
        rounds_after[0] - rounds_before[0],
        rounds_after[1] - rounds_before[1],
    );
    println!(
        "free seats, arrivals at {rate}/s: {} of {n} join→matched→decline cycles in {secs:.1} s ({:.0}/s); {waited} waited on the status stream for a seat",
        cycles.len(),
        cycles.len() as f64 / secs,
    );
    println!(
        "  join answered p50 {} p99 {} max {}; join→matched p50 {} p99 {} max {}",
        ms(percentile(&answered, 0.50)),
        ms(percentile(&answered, 0.99)),
        ms(*answered.last().unwrap_or(&Duration::ZERO)),
        ms(percentile(&matched, 0.50)),
        ms(percentile(&matched, 0.99)),
        ms(*matched.last().unwrap_or(&Duration::ZERO)),
    );
    println!("  matches/s in each 5 s: {windows}");
    println!(
        "  matching rounds: {ran} for {requests} requests (joins and declines); failed: {failed} ({kinds}); unfinished {} s after the last arrival: {unfinished}",
        limit.as_secs()
    );
    let kept_up = unfinished == 0 && failed == 0;
    if !kept_up {
        println!(
            "  COULD NOT KEEP UP at {rate}/s: {unfinished} cycles unfinished at the time limit, {failed} failed; everyone leaves the queue before the next phase"
        );
        let c = ctx.clone();
        for_each_seeker(n, 256, move |i| {
            let c = c.clone();
            async move {
                let _ = call(
                    &c.http,
                    reqwest::Method::POST,
                    &format!("{}/api/v1/queue/leave", c.servers[i % 2]),
                    &c.seekers[i].token,
                    None,
                )
                .await;
            }
        })
        .await?;
    }
    let phase = format!("event_id = $1::uuid AND created_at >= '{since}'::timestamptz");
    let twice = count(
        pg,
        &format!("SELECT count(*) AS n FROM (SELECT seeker_id FROM matches WHERE {phase} GROUP BY seeker_id HAVING count(*) > 1) x"),
        event_uuid,
    )
    .await?;
    let total = count(
        pg,
        &format!("SELECT count(*) AS n FROM matches WHERE {phase}"),
        event_uuid,
    )
    .await?;
    let overlaps = double_bookings(pg, event_uuid).await?;
    println!(
        "  checked: {total} matches made in the phase for {} completed cycles, seekers matched more than once: {twice}, interviewer double bookings: {overlaps}",
        cycles.len()
    );
    if total < cycles.len() as i64 || total > n as i64 || twice != 0 || overlaps != 0 {
        return Err("free seats: pairings were not exactly once".into());
    }
    Ok(kept_up)
}

/// Interviewers seated twice at once. Each interviewer's matches, in the order they were
/// made and ended under the event's matching lock (the outbox order), must alternate: made,
/// ended (the same match), made, ended…
async fn double_bookings(pg: &jobby_postgres::PgDatabase, event_uuid: &str) -> Fallible<i64> {
    count(
        pg,
        "WITH ev AS (SELECT id, kind, payload->>'interviewer_id' AS iv, payload->>'match_id' AS mid \
           FROM outbox WHERE event_id = $1::uuid \
           AND kind IN ('match.created', 'match.declined', 'match.expired', 'match.completed')), \
         seq AS (SELECT kind, mid, lag(kind) OVER w AS prev_kind, lag(mid) OVER w AS prev_mid \
           FROM ev WINDOW w AS (PARTITION BY iv ORDER BY id)) \
         SELECT count(*) AS n FROM seq WHERE (kind = 'match.created' AND prev_kind = 'match.created') \
           OR (kind <> 'match.created' AND (prev_kind IS DISTINCT FROM 'match.created' OR prev_mid IS DISTINCT FROM mid))",
        event_uuid,
    )
    .await
}

/// Everyone joins again, `burst` at a time: the seats fill and the rest wait. Returns the
/// waiting seekers' (position, index).
async fn burst(
    ctx: &Ctx,
    pg: &jobby_postgres::PgDatabase,
    event_uuid: &str,
    burst: usize,
) -> Fallible<Vec<(u64, usize)>> {
    let n = ctx.seekers.len();
    let since = chrono::Utc::now().to_rfc3339();
    // The seats open now (an earlier phase that could not keep up may have left some
    // interviewers parked: a match nobody answered expired).
    let seats = count(
        pg,
        "SELECT count(*) AS n FROM event_interviewers WHERE event_id = $1::uuid AND available",
        event_uuid,
    )
    .await?;
    let t = Instant::now();
    let c = ctx.clone();
    let joins = for_each_seeker(n, burst, move |i| {
        let c = c.clone();
        async move {
            let t0 = Instant::now();
            match call(
                &c.http,
                reqwest::Method::POST,
                &format!("{}/api/v1/queue/join", c.servers[i % 2]),
                &c.seekers[i].token,
                Some(json!({"event_id": c.event})),
            )
            .await
            {
                Ok((200, b)) => Ok((t0.elapsed(), b["status"] == "matched")),
                Ok((st, b)) => Err(refused("join", st, &b)),
                Err(e) => Err(failure("join", &e)),
            }
        }
    })
    .await?;
    let burst_secs = t.elapsed().as_secs_f64();
    let mut ok = vec![];
    let (failed, kinds) = tally(joins.into_iter().filter_map(|j| match j {
        Ok(j) => {
            ok.push(j);
            None
        }
        Err(e) => Some(e),
    }));
    let matched = ok.iter().filter(|j| j.1).count();
    let mut lat: Vec<Duration> = ok.into_iter().map(|j| j.0).collect();
    lat.sort();
    println!(
        "burst: {} joins answered ({matched} matched at once) at {burst} in flight, {:.0} joins/s; join p50 {} p99 {} max {}; failed: {failed} ({kinds})",
        lat.len(),
        lat.len() as f64 / burst_secs,
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap_or(&Duration::ZERO)),
    );
    if failed > 0 {
        return Err(format!("burst: {failed} joins failed").into());
    }
    let live = count(
        pg,
        "SELECT count(DISTINCT interviewer_id) AS n FROM matches WHERE event_id = $1::uuid AND status IN ('pending', 'accepted')",
        event_uuid,
    )
    .await?;
    let live_total = count(
        pg,
        "SELECT count(*) AS n FROM matches WHERE event_id = $1::uuid AND status IN ('pending', 'accepted')",
        event_uuid,
    )
    .await?;
    // Nobody accepts in the bench: a match made in the burst may expire (60 s), which drops
    // its seeker and parks its interviewer. Every seat is then live or parked.
    let expired = count(
        pg,
        &format!("SELECT count(*) AS n FROM matches WHERE event_id = $1::uuid AND status = 'expired' AND created_at >= '{since}'::timestamptz"),
        event_uuid,
    )
    .await?;
    // Every seeker asks for their place; the waiting places must be exactly 1..n.
    let c = ctx.clone();
    let states = for_each_seeker(n, 64, move |i| {
        let c = c.clone();
        async move {
            let (_, b) = call(
                &c.http,
                reqwest::Method::GET,
                &format!("{}/api/v1/queue/status", c.servers[i % 2]),
                &c.seekers[i].token,
                None,
            )
            .await?;
            Ok::<_, BoxError>((
                b["status"].as_str().unwrap_or("?").to_owned(),
                b["position"].as_u64().unwrap_or(0),
                i,
            ))
        }
    })
    .await?;
    let mut places = vec![];
    let (mut seated, mut gone) = (0i64, 0i64);
    for s in states {
        let (state, position, i) = s?;
        match state.as_str() {
            "waiting" => places.push((position, i)),
            "matched" => seated += 1,
            _ => gone += 1,
        }
    }
    places.sort_unstable();
    let positions: HashSet<u64> = places.iter().map(|p| p.0).collect();
    let w = places.len() as u64;
    let exact = (1..=w).all(|p| positions.contains(&p));
    println!(
        "  checked: {seats} seats open, {live_total} live matches over {live} interviewers, {expired} expired; {seated} seekers matched, {w} waiting, positions exactly 1..{w}: {exact}"
    );
    if live != live_total
        || live_total + expired != seats
        || seated != live_total
        || gone != expired
        || !exact
    {
        return Err(
            "burst: the seats or the queue are not what exactly-once matching gives".into(),
        );
    }
    Ok(places)
}

/// Everyone waiting keeps an eye on their place for `POLL_ROUNDS` × `POLL_EVERY` seconds:
/// the first `streams` through `GET /queue/stream` on server A, the rest polling
/// `GET /queue/status` every `POLL_EVERY` seconds with their own tokens, their polls spread
/// evenly; meanwhile `wrk` loads one waiting seeker's token. The first round warms the token
/// caches; the rest are measured.
async fn waiting(
    ctx: &Ctx,
    db: &Db,
    waiting: &[(u64, usize)],
    streams: usize,
    wrk_connections: usize,
) -> Fallible<()> {
    let every = Duration::from_secs(env_num("POLL_EVERY", 5) as u64);
    let rounds = env_num("POLL_ROUNDS", 6).max(2);
    let streams = streams.min(waiting.len() / 2);
    let (streamers, pollers) = waiting.split_at(streams);
    let start = tokio::time::Instant::now() + Duration::from_millis(500);
    let end = start + every * rounds as u32;

    // Streams: each must deliver its first status and stay open to the end.
    let stream_client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let mut stream_tasks = Vec::with_capacity(streams);
    // The streams go to a process of their own (`BENCH_C`), so its memory is what 2,000
    // streams and the waiting queue take, not what earlier phases left behind.
    let stream_server = std::env::var("BENCH_C").unwrap_or_else(|_| ctx.servers[0].clone());
    let all = [
        ctx.servers[0].clone(),
        ctx.servers[1].clone(),
        stream_server.clone(),
    ];
    for &(_, i) in streamers {
        let (http, base, token) = (
            stream_client.clone(),
            stream_server.clone(),
            ctx.seekers[i].token.clone(),
        );
        stream_tasks.push(tokio::spawn(async move {
            let opened = Instant::now();
            let mut resp = match http
                .get(format!("{base}/api/v1/queue/stream"))
                .bearer_auth(&token)
                .send()
                .await
            {
                Ok(r) if r.status() == 200 => r,
                Ok(r) => return Err(format!("stream {}", r.status().as_u16())),
                Err(e) => return Err(failure("stream", &e)),
            };
            let mut first = None;
            loop {
                match tokio::time::timeout_at(end, resp.chunk()).await {
                    Err(_) => break,
                    Ok(Ok(Some(chunk))) => {
                        if first.is_none() && chunk.windows(13).any(|w| w == b"event: status") {
                            first = Some(opened.elapsed());
                        }
                    }
                    Ok(Ok(None)) => return Err("stream closed early".into()),
                    Ok(Err(e)) => return Err(failure("stream", &e)),
                }
            }
            first.ok_or_else(|| "stream sent no status".to_owned())
        }));
    }

    // One waiting seeker's token under wrk, on server A, unlimited.
    let wrk_task = if wrk_connections > 0 {
        let (_, i) = pollers[pollers.len() / 2];
        let email = ctx.seekers[i].email.clone();
        let now = chrono::Utc::now();
        jobby_domain::usecases::accounts::set_rate_limit(db, &email, "read", Some(10_000_000), now)
            .await?;
        let (url, token) = (
            format!("{}/api/v1/queue/status", ctx.servers[0]),
            ctx.seekers[i].token.clone(),
        );
        let secs = (every * (rounds as u32 - 1)).as_secs();
        Some(tokio::spawn(async move {
            tokio::time::sleep_until(start + every).await;
            tokio::task::spawn_blocking(move || {
                Command::new("wrk")
                    .args(["--latency", "-t", "1", "-c"])
                    .arg(wrk_connections.to_string())
                    .arg("-d")
                    .arg(format!("{secs}s"))
                    .arg("-H")
                    .arg(format!("Authorization: Bearer {token}"))
                    .arg(url)
                    .output()
            })
            .await
        }))
    } else {
        None
    };

    let n = pollers.len().max(1);
    let mut tasks = Vec::with_capacity(n);
    for (k, &(_, i)) in pollers.iter().enumerate() {
        let (http, base, token) = (
            ctx.http.clone(),
            all[i % 3].clone(),
            ctx.seekers[i].token.clone(),
        );
        let offset = every.mul_f64(k as f64 / n as f64);
        tasks.push(tokio::spawn(async move {
            let mut measured = Vec::with_capacity(rounds - 1);
            let mut failures = vec![];
            for r in 0..rounds {
                tokio::time::sleep_until(start + offset + every * r as u32).await;
                let t0 = Instant::now();
                let outcome = match call(
                    &http,
                    reqwest::Method::GET,
                    &format!("{base}/api/v1/queue/status"),
                    &token,
                    None,
                )
                .await
                {
                    Ok((200, b)) if b["status"] == "waiting" => None,
                    Ok((200, b)) => Some(format!("status {}", b["status"])),
                    Ok((st, b)) => Some(refused("status", st, &b)),
                    Err(e) => Some(failure("status", &e)),
                };
                if r > 0 {
                    measured.push(t0.elapsed());
                    failures.extend(outcome);
                }
            }
            (measured, failures)
        }));
    }
    // Counters once the warm-up round is over, memory in the middle, counters at the end.
    tokio::time::sleep_until(start + every + Duration::from_millis(100)).await;
    let warm = cache_counts(&ctx.http, &all).await?;
    let t = Instant::now();
    tokio::time::sleep_until(start + every * (rounds as u32 / 2 + 1)).await;
    let mem = std::env::var("BENCH_C_PID")
        .or_else(|_| std::env::var("BENCH_A_PID"))
        .map_or("?".into(), |pid| memory(&pid));
    let mut lat = Vec::with_capacity(n * (rounds - 1));
    let mut failures = vec![];
    for r in join_all(tasks).await {
        let (l, f) = r?;
        lat.extend(l);
        failures.extend(f);
    }
    let secs = t.elapsed().as_secs_f64();
    let end_counts = cache_counts(&ctx.http, &all).await?;
    let (hits, misses, unheard) = (
        end_counts[0] - warm[0],
        end_counts[1] - warm[1],
        end_counts[2] - warm[2],
    );
    lat.sort();
    let (failed, kinds) = tally(failures);
    println!(
        "waiting: {} seekers polling GET /queue/status every {} s with their own tokens: {} polls in {secs:.0} s ({:.0}/s); p50 {} p99 {} max {}; failed: {failed} ({kinds})",
        pollers.len(),
        every.as_secs(),
        lat.len(),
        lat.len() as f64 / secs,
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap_or(&Duration::ZERO)),
    );
    println!(
        "  token cache after warm-up: {hits} hits, {misses} misses ({:.2}% from the cache; {unheard} of the misses while access changes were not heard)",
        100.0 * hits as f64 / (hits + misses).max(1) as f64,
    );
    let mut firsts = vec![];
    let (stream_failed, stream_kinds) = tally(join_all(stream_tasks).await.into_iter().filter_map(
        |r| match r {
            Ok(Ok(first)) => {
                firsts.push(first);
                None
            }
            Ok(Err(e)) => Some(e),
            Err(e) => Some(format!("stream task: {e}")),
        },
    ));
    firsts.sort();
    println!(
        "  {} of {streams} streams open on server C to the end; first status p50 {} p99 {}; failed: {stream_failed} ({stream_kinds})",
        firsts.len(),
        ms(percentile(&firsts, 0.50)),
        ms(percentile(&firsts, 0.99)),
    );
    println!(
        "  server C (this phase's streams and a third of its polls) memory with all of it going on: {mem}"
    );
    if let Some(task) = wrk_task {
        let out = task.await??.map_err(|e| format!("wrk: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let find = |prefix: &str| {
            text.lines()
                .find_map(|l| l.trim_start().strip_prefix(prefix))
                .map_or("?".to_owned(), |v| {
                    v.split_whitespace().next().unwrap_or("?").to_owned()
                })
        };
        println!(
            "  meanwhile wrk, {wrk_connections} connections on one waiting seeker's token: {} requests/s, p50 {} p99 {}, non-2xx {}",
            find("Requests/sec:"),
            find("50%"),
            find("99%"),
            text.lines()
                .find_map(|l| l.trim_start().strip_prefix("Non-2xx or 3xx responses:"))
                .map_or("0".to_owned(), |v| v.trim().to_owned()),
        );
    }
    if failed > 0 || stream_failed > 0 {
        return Err(format!("waiting: {failed} polls and {stream_failed} streams failed").into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Fallible<()> {
    let url = std::env::var("DATABASE_URL")?;
    let servers = [std::env::var("BENCH_A")?, std::env::var("BENCH_B")?];
    let n_seekers = env_num("SEEKERS", 10_000);
    let n_seats = env_num("SEATS", 100);
    let rates = [env_num("RATE", 200).max(1), env_num("RATE2", 500)];
    let burst_width = env_num("BURST", 256);
    let limit = Duration::from_secs(env_num("LIMIT", 60) as u64);
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
    let ctx = Ctx {
        streams: reqwest::Client::builder().build()?,
        http: http.clone(),
        servers: servers.clone(),
        seekers: seekers.clone(),
        event: event.clone(),
    };

    // 1. Free seats: join, matched at once, decline; at each rate in turn.
    let mut behind = vec![];
    for rate in rates.into_iter().filter(|r| *r > 0) {
        if !free_seats(&ctx, &pg, &event_uuid, rate, limit).await? {
            behind.push(rate);
        }
    }

    // 2. Burst: everyone joins again at once; the seats fill, the rest wait.
    let places = burst(&ctx, &pg, &event_uuid, burst_width).await?;

    // 3. Waiting: streams, polls, and wrk on one token.
    waiting(
        &ctx,
        &db,
        &places,
        env_num("STREAMS", 2000),
        env_num("WRK_CONNECTIONS", 64),
    )
    .await?;
    let (pos, mid) = places[places.len() / 2 + 1];
    println!("STATUS_POSITION={pos}");
    println!("STATUS_EMAIL={}", seekers[mid].email);
    println!("STATUS_TOKEN={}", seekers[mid].token);
    if !behind.is_empty() {
        return Err(format!("matching could not keep up with arrivals at {behind:?}/s").into());
    }
    Ok(())
}
