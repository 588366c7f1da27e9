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
//!    server process (C, started for this phase), the rest poll `GET /queue/status` with their
//!    own tokens across all three, each waiting what the last answer asked
//!    (`poll_interval_seconds`, or a refusal's `Retry-After`), while `wrk` loads
//!    one seeker's token on the same route: latency, errors, how many authentications the
//!    token caches answered after the first round, how many statuses came from memory, and
//!    C's memory with all of it going on. Halfway, a token is revoked: how long until each
//!    server refuses it (at most 2 s, or the run fails).
//!
//! A request refused with 503 `SERVER_BUSY` is made again after its `Retry-After`, as agents
//! do, and counted. Every request that fails or times out is counted and printed by kind; a phase still
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

/// Requests the servers refused with 503 `SERVER_BUSY` (each retried after `Retry-After`
/// by [`call`], or counted by the pollers).
static SHED: AtomicUsize = AtomicUsize::new(0);
fn shed_so_far() -> usize {
    AtomicUsize::load(&SHED, Ordering::Relaxed)
}
/// A shed request is tried again at most this many times.
const SHED_RETRIES: usize = 30;

/// One request: its status, JSON body and `Retry-After` (seconds).
async fn call_once(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<&Value>,
) -> Result<(u16, Value, Option<u64>), reqwest::Error> {
    let mut req = http.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await?;
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    Ok((status, r.json().await.unwrap_or(Value::Null), retry_after))
}

/// A request as a well-behaved agent makes it: refused with `SERVER_BUSY` (nothing was
/// done), it is made again after `Retry-After`.
async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> Result<(u16, Value), reqwest::Error> {
    let mut tries = 0;
    loop {
        let (status, b, retry_after) =
            call_once(http, method.clone(), url, token, body.as_ref()).await?;
        if status == 503 && b["code"] == "SERVER_BUSY" && tries < SHED_RETRIES {
            SHED.fetch_add(1, Ordering::Relaxed);
            tries += 1;
            tokio::time::sleep(Duration::from_secs(retry_after.unwrap_or(1))).await;
            continue;
        }
        return Ok((status, b));
    }
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
/// Queue status reads answered from memory and from the store, over these servers.
async fn status_store_reads(http: &reqwest::Client, servers: &[String]) -> Fallible<[u64; 2]> {
    counters(
        http,
        servers,
        [
            "jobby_queue_status_kept_entries_total",
            "jobby_queue_status_store_reads_total",
        ],
    )
    .await
}

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
    /// The first answer to the join: taken in, or refused with `SERVER_BUSY`.
    first_answer: Duration,
    /// The join's answer, once taken in (after any refusals and the waits they asked for).
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
    let body = json!({"event_id": c.event});
    let mut first_answer = None;
    let mut tries = 0;
    let (st, b) = loop {
        let (st, b, retry_after) = call_once(
            &c.http,
            reqwest::Method::POST,
            &format!("{base}/api/v1/queue/join"),
            &s.token,
            Some(&body),
        )
        .await
        .map_err(|e| failure("join", &e))?;
        first_answer.get_or_insert_with(|| t0.elapsed());
        if st == 503 && b["code"] == "SERVER_BUSY" && tries < SHED_RETRIES {
            SHED.fetch_add(1, Ordering::Relaxed);
            tries += 1;
            tokio::time::sleep(Duration::from_secs(retry_after.unwrap_or(1))).await;
            continue;
        }
        break (st, b);
    };
    if st != 200 {
        return Err(refused("join", st, &b));
    }
    let answered = t0.elapsed();
    let first_answer = first_answer.unwrap_or(answered);
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
        first_answer,
        answered,
        matched,
        matched_at,
        waited,
    })
}

/// Opens `GET /queue/stream`, made again after `Retry-After` while refused with
/// `SERVER_BUSY`.
async fn open_stream(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> Result<reqwest::Response, String> {
    let mut tries = 0;
    loop {
        let resp = http
            .get(format!("{base}/api/v1/queue/stream"))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| failure("stream", &e))?;
        let status = resp.status().as_u16();
        if status == 200 {
            return Ok(resp);
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status == 503 && body["code"] == "SERVER_BUSY" && tries < SHED_RETRIES {
            SHED.fetch_add(1, Ordering::Relaxed);
            tries += 1;
            tokio::time::sleep(Duration::from_secs(retry_after.unwrap_or(1))).await;
            continue;
        }
        return Err(refused("stream", status, &body));
    }
}

/// Follows `GET /queue/stream` until the status says matched (or no longer waiting), and
/// returns that status.
async fn await_match(c: &Ctx, token: &str, base: &str) -> Result<Value, String> {
    let mut resp = open_stream(&c.streams, base, token).await?;
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
    let shed_before = shed_so_far();
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
    let mut first: Vec<Duration> = cycles.iter().map(|c| c.first_answer).collect();
    let mut answered: Vec<Duration> = cycles.iter().map(|c| c.answered).collect();
    let mut matched: Vec<Duration> = cycles.iter().map(|c| c.matched).collect();
    first.sort();
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
        "  join first answered (taken in, or refused with SERVER_BUSY) p50 {} p99 {} max {}",
        ms(percentile(&first, 0.50)),
        ms(percentile(&first, 0.99)),
        ms(*first.last().unwrap_or(&Duration::ZERO)),
    );
    println!(
        "  join taken in p50 {} p99 {} max {}; join→matched p50 {} p99 {} max {}",
        ms(percentile(&answered, 0.50)),
        ms(percentile(&answered, 0.99)),
        ms(*answered.last().unwrap_or(&Duration::ZERO)),
        ms(percentile(&matched, 0.50)),
        ms(percentile(&matched, 0.99)),
        ms(*matched.last().unwrap_or(&Duration::ZERO)),
    );
    println!("  matches/s in each 5 s: {windows}");
    println!(
        "  requests refused with 503 SERVER_BUSY and made again after Retry-After: {}",
        shed_so_far() - shed_before
    );
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
    let all_servers = [
        ctx.servers[0].clone(),
        ctx.servers[1].clone(),
        std::env::var("BENCH_C").unwrap_or_else(|_| ctx.servers[0].clone()),
    ];
    // Each process once, for its counters.
    let mut processes = all_servers.to_vec();
    processes.dedup();
    let status_before = status_store_reads(&ctx.http, &processes).await?;
    let streams_shed_before = shed_so_far();
    let start = tokio::time::Instant::now() + Duration::from_millis(500);
    let end = start + every * rounds as u32;

    // Streams: each must deliver its first status and stay open to the end.
    let stream_client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let mut stream_tasks = Vec::with_capacity(streams);
    // The streams go to a process of their own (`BENCH_C`), so its memory is what 2,000
    // streams and the waiting queue take, not what earlier phases left behind.
    let stream_server = all_servers[2].clone();
    let all = all_servers;
    for &(_, i) in streamers {
        let (http, base, token) = (
            stream_client.clone(),
            stream_server.clone(),
            ctx.seekers[i].token.clone(),
        );
        stream_tasks.push(tokio::spawn(async move {
            let opened = Instant::now();
            let mut resp = open_stream(&http, &base, &token).await?;
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

    // Each poller waits what the last answer asked: `poll_interval_seconds`, or the
    // `Retry-After` of a refusal. The first poll warms the caches and is not measured.
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
            let (mut failures, mut shed, mut intervals) = (vec![], 0usize, vec![]);
            let mut next = start + offset;
            let mut first = true;
            while next < end {
                tokio::time::sleep_until(next).await;
                let t0 = Instant::now();
                let (outcome, wait, answered) = match call_once(
                    &http,
                    reqwest::Method::GET,
                    &format!("{base}/api/v1/queue/status"),
                    &token,
                    None,
                )
                .await
                {
                    Ok((200, b, _)) => {
                        let wait = b["poll_interval_seconds"].as_u64();
                        intervals.extend(wait);
                        let wait = wait.map_or(every, Duration::from_secs);
                        if b["status"] == "waiting" {
                            (None, wait, true)
                        } else {
                            (Some(format!("status {}", b["status"])), wait, true)
                        }
                    }
                    Ok((503, b, retry_after)) if b["code"] == "SERVER_BUSY" => {
                        (None, retry_after.map_or(every, Duration::from_secs), false)
                    }
                    Ok((st, b, _)) => (Some(refused("status", st, &b)), every, false),
                    Err(e) => (Some(failure("status", &e)), every, false),
                };
                if !first {
                    // Latency of the polls answered; refusals are counted apart.
                    if answered {
                        measured.push(t0.elapsed());
                    } else if outcome.is_none() {
                        shed += 1;
                    }
                    failures.extend(outcome);
                }
                first = false;
                next += wait;
            }
            (measured, failures, shed, intervals)
        }));
    }
    // Halfway through, one polling seeker's token is revoked (as through the API: the
    // revocation and its outbox record in one transaction); every server must refuse it
    // within 2 s, with all of the above going on.
    let revoke_task = {
        // A second token of a polling seeker: their polls go on with the first.
        let (_, i) = pollers[pollers.len() / 3];
        let owner = ctx.seekers[i].id;
        let now = chrono::Utc::now();
        let (plain, record) = db
            .transaction(move |r| {
                Box::pin(async move {
                    let user = r
                        .user_by_id(owner)
                        .await?
                        .ok_or(jobby_domain::Error::NotFound)?;
                    let req = MintRequest {
                        name: "revoked mid-run".into(),
                        scopes: vec!["queue:read".into()],
                        expires_in_days: None,
                    };
                    tokens::mint(r, &user, req, now).await
                })
            })
            .await?;
        let (id, token) = (record.id, plain.expose().to_owned());
        let (db, http, servers) = (db.clone(), ctx.http.clone(), all.clone());
        // Known to every server's token cache before it is revoked.
        for base in &servers {
            let (st, b) = call(
                &http,
                reqwest::Method::GET,
                &format!("{base}/api/v1/queue/status"),
                &token,
                None,
            )
            .await?;
            if st != 200 {
                return Err(format!("the token to revoke: {}", refused("status", st, &b)).into());
            }
        }
        let at = start + every * (rounds as u32 / 2);
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let now = chrono::Utc::now();
            db.transaction(move |r| {
                Box::pin(async move { tokens::revoke(r, owner, id, now).await })
            })
            .await
            .map_err(|e| format!("revoking: {e}"))?;
            let revoked = Instant::now();
            let mut refused = vec![];
            for base in servers {
                loop {
                    let answer = call_once(
                        &http,
                        reqwest::Method::GET,
                        &format!("{base}/api/v1/queue/status"),
                        &token,
                        None,
                    )
                    .await;
                    if matches!(answer, Ok((401, _, _))) {
                        refused.push(revoked.elapsed());
                        break;
                    }
                    if revoked.elapsed() > Duration::from_secs(10) {
                        return Err(format!("{base} still accepts a token revoked 10 s ago"));
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            Ok::<_, String>(refused)
        })
    };
    // Counters once the warm-up round is over, memory in the middle, counters at the end.
    tokio::time::sleep_until(start + every + Duration::from_millis(100)).await;
    let warm = cache_counts(&ctx.http, &processes).await?;
    let t = Instant::now();
    tokio::time::sleep_until(start + every * (rounds as u32 / 2 + 1)).await;
    let mem = std::env::var("BENCH_C_PID")
        .or_else(|_| std::env::var("BENCH_A_PID"))
        .map_or("?".into(), |pid| memory(&pid));
    let mut lat = Vec::with_capacity(n * (rounds - 1));
    let (mut failures, mut shed) = (vec![], 0);
    let mut intervals: BTreeMap<u64, usize> = BTreeMap::new();
    for r in join_all(tasks).await {
        let (l, f, s, i) = r?;
        lat.extend(l);
        failures.extend(f);
        shed += s;
        for secs in i {
            *intervals.entry(secs).or_default() += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let end_counts = cache_counts(&ctx.http, &processes).await?;
    let (hits, misses, unheard) = (
        end_counts[0] - warm[0],
        end_counts[1] - warm[1],
        end_counts[2] - warm[2],
    );
    lat.sort();
    let (failed, kinds) = tally(failures);
    println!(
        "waiting: {} seekers polling GET /queue/status with their own tokens, as often as the answers ask: {} polls answered in {secs:.0} s ({:.0}/s); p50 {} p99 {} max {}; refused with 503 SERVER_BUSY (after warm-up): {shed}; failed: {failed} ({kinds})",
        pollers.len(),
        lat.len(),
        lat.len() as f64 / secs,
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap_or(&Duration::ZERO)),
    );
    println!(
        "  poll_interval_seconds answered: {}",
        intervals
            .iter()
            .map(|(s, n)| format!("{s} s ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let stores = status_store_reads(&ctx.http, &processes).await?;
    println!(
        "  queue status entries: {} from memory, {} read from the store ({:.2}% from memory, the whole phase)",
        stores[0] - status_before[0],
        stores[1] - status_before[1],
        100.0 * (stores[0] - status_before[0]) as f64
            / ((stores[0] - status_before[0]) + (stores[1] - status_before[1])).max(1) as f64
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
        "  {} of {streams} streams open on server C to the end; first status p50 {} p99 {} (opening refused with SERVER_BUSY and made again: {}); failed: {stream_failed} ({stream_kinds})",
        firsts.len(),
        ms(percentile(&firsts, 0.50)),
        ms(percentile(&firsts, 0.99)),
        shed_so_far() - streams_shed_before,
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
    let refused = revoke_task.await??;
    println!(
        "  a token revoked halfway: refused by servers A, B, C after {} (bound: 2 s)",
        refused
            .iter()
            .map(|d| ms(*d))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if failed > 0 || stream_failed > 0 {
        return Err(format!("waiting: {failed} polls and {stream_failed} streams failed").into());
    }
    if refused.iter().any(|d| *d > Duration::from_secs(2)) {
        return Err("waiting: a revoked token was accepted for more than 2 s".into());
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
