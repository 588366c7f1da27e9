//! `cargo xtask bench`: builds release, starts the server on Postgres + Redis (a fresh
//! database and Redis prefix) as production runs it (two processes, the expiry worker on)
//! and the bare baseline, and loads them, printing requests/s and p50/p99 latency.
//!
//! - `live queue` (`bench-queue`, first): 10,000 seekers and 100 seats over the two
//!   processes: join→matched→decline cycles with seekers arriving at `--rate` and then
//!   `--rate2` a second (does matching hold its rate?), a burst where the seats fill,
//!   exactly-once checks on the store, then the waiting seekers: 2,000 streams on a third
//!   process (C), the rest polling every 5 s with their own tokens, and wrk on one token,
//!   with C's memory.
//!   Failures and time-outs are counted; a phase that cannot keep up stops at a time limit.
//! - wrk scenarios, three runs each (the median is what counts):
//!   - `baseline`: `GET /baseline/{user}`, one indexed SELECT through the same pool.
//!   - `authed read`: `GET /api/v1/profile` with a warm token (authentication from the
//!     in-process cache, one Redis round trip for the rate limit, one SELECT).
//!   - `queue status`: `GET /api/v1/queue/status` of a seeker waiting mid-queue.
//!   - `anonymous read`: `GET /api/v1/live-events` with no token (the live event, its
//!     queue length and seats), spread over client addresses behind a trusted proxy so
//!     each address stays inside its anonymous limit.
//!
//! Options: `--duration SECS` (default 10), `--connections N` (default 64), `--seekers N`
//! (default 10000), `--seats N` (default 100), `--rate N` and `--rate2 N` (arrivals a second
//! while seats are free, default 200 and 500; 0 skips the second), `--streams N` (default
//! 2000), `--limit SECS` (how long a phase may run past its last arrival, default 60).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::run as run_step;
use crate::services::{
    ScratchDb, admin_database_url, apt_install, jobby, redis_url, start, target_dir,
};
use crate::{Result, cargo};

struct Measured {
    rps: f64,
    p50: String,
    p99: String,
    non_2xx: u64,
}

fn wrk(
    url: &str,
    connections: u32,
    secs: u32,
    headers: &[&str],
    script: Option<&PathBuf>,
) -> Result<Measured> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t",
        "2",
        "-c",
        &connections.to_string(),
        "-d",
        &format!("{secs}s"),
        "--latency",
        "--timeout",
        "5s",
    ]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    cmd.arg(url);
    let out = cmd.output().map_err(|e| format!("wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |prefix: &str| {
        text.lines().map(str::trim).find_map(|l| {
            l.strip_prefix(prefix)
                .map(|r| r.split_whitespace().next().unwrap_or("").to_owned())
        })
    };
    let rps = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no Requests/sec in wrk output:\n{text}"))?;
    let non_2xx = field("Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(Measured {
        rps,
        p50: field("50%").unwrap_or_default(),
        p99: field("99%").unwrap_or_default(),
        non_2xx,
    })
}

pub fn run(args: &[String]) -> Result {
    let arg = |name: &str, default: u32| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let secs = arg("--duration", 10);
    let connections = arg("--connections", 64);
    let queue = QueueLoad {
        seekers: arg("--seekers", 10_000),
        seats: arg("--seats", 100),
        rates: (arg("--rate", 200), arg("--rate2", 500)),
        streams: arg("--streams", 2000),
        limit: arg("--limit", 60),
        connections,
    };
    if Command::new("wrk").arg("--version").output().is_err() {
        apt_install("wrk")?;
    }
    run_step(
        cargo().args([
            "build",
            "--release",
            "--locked",
            "--package",
            "jobby",
            "--package",
            "jobby-bench",
        ]),
        "cargo build --release",
    )?;
    let bin = target_dir().join("release").join("jobby");
    let baseline_bin = target_dir().join("release").join("bench-baseline");
    let queue_bin = target_dir().join("release").join("bench-queue");

    let db = ScratchDb::create(&admin_database_url(), "bench")?;
    measure(
        &bin,
        &baseline_bin,
        &queue_bin,
        queue,
        &db,
        &redis_url(),
        secs,
        connections,
    )
}

/// The live-queue scenario's size.
struct QueueLoad {
    seekers: u32,
    seats: u32,
    rates: (u32, u32),
    streams: u32,
    limit: u32,
    connections: u32,
}

#[allow(clippy::too_many_arguments)]
fn measure(
    bin: &PathBuf,
    baseline_bin: &PathBuf,
    queue_bin: &PathBuf,
    queue: QueueLoad,
    db: &ScratchDb,
    redis: &str,
    secs: u32,
    connections: u32,
) -> Result {
    let db_url = db.url.clone();
    let prefix = format!("jobby-bench:{}:", db.name);
    let env: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", &db_url),
        ("REDIS_URL", redis),
        ("JOBBY_REDIS_PREFIX", &prefix),
        ("RUST_LOG", "warn"),
    ];
    jobby(bin, &env, &["migrate"])?;
    jobby(
        bin,
        &env,
        &[
            "admin",
            "create-user",
            "--email",
            "bench@example.com",
            "--password",
            "bench password",
            "--name",
            "Bench",
            "--account-type",
            "seeker",
        ],
    )?;
    let token = jobby(
        bin,
        &env,
        &[
            "admin",
            "mint-token",
            "--email",
            "bench@example.com",
            "--scopes",
            "profile:read",
        ],
    )?;
    // The scenarios measure the work behind the limiter, not its refusals.
    let unlimited_reads = |email: &str| {
        jobby(
            bin,
            &env,
            &[
                "admin",
                "set-rate-limit",
                "--email",
                email,
                "--class",
                "read",
                "--per-minute",
                "10000000",
            ],
        )
        .map(drop)
    };
    unlimited_reads("bench@example.com")?;

    let serve = |listen: &str| {
        let mut server = Command::new(bin);
        server
            .envs(env.iter().copied())
            .env("JOBBY_LISTEN", listen)
            .env("JOBBY_SEED_DEMO", "false")
            .env("JOBBY_WORKERS", "2")
            .env("JOBBY_TRUSTED_PROXIES", "127.0.0.1/32")
            .arg("serve");
        start(server, "jobby listening on").map(|(p, _)| p)
    };
    let server = serve("127.0.0.1:8091")?;
    let second = serve("127.0.0.1:8092")?;
    let third = serve("127.0.0.1:8093")?;
    let mut baseline = Command::new(baseline_bin);
    baseline
        .env("DATABASE_URL", &db_url)
        .env("BENCH_LISTEN", "127.0.0.1:8090")
        .env("JOBBY_WORKERS", "2");
    let _baseline = start(baseline, "baseline listening on")?.0;

    let auth = format!("Authorization: Bearer {token}");
    let me = ureq_json("http://127.0.0.1:8091/api/v1/tokens/self", &token)?;
    let user_uuid = me.strip_prefix("usr_").ok_or("unexpected user id")?;
    let user_uuid = format!(
        "{}-{}-{}-{}-{}",
        &user_uuid[0..8],
        &user_uuid[8..12],
        &user_uuid[12..16],
        &user_uuid[16..20],
        &user_uuid[20..32]
    );
    // The live queue, through both servers.
    println!(
        "\nlive queue: {} seekers, {} seats, two server processes (2 workers each, the expiry worker on)",
        queue.seekers, queue.seats
    );
    let started = Instant::now();
    let out = Command::new(queue_bin)
        .env("DATABASE_URL", &db_url)
        .env("BENCH_A", "http://127.0.0.1:8091")
        .env("BENCH_B", "http://127.0.0.1:8092")
        .env("BENCH_C", "http://127.0.0.1:8093")
        .env("BENCH_C_PID", third.0.id().to_string())
        .env("SEEKERS", queue.seekers.to_string())
        .env("SEATS", queue.seats.to_string())
        .env("RATE", queue.rates.0.to_string())
        .env("RATE2", queue.rates.1.to_string())
        .env("STREAMS", queue.streams.to_string())
        .env("LIMIT", queue.limit.to_string())
        .env("WRK_CONNECTIONS", queue.connections.to_string())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("bench-queue: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::to_owned)
    };
    for line in text.lines().filter(|l| !l.starts_with("STATUS_")) {
        println!("{line}");
    }
    println!(
        "memory high-water mark of server A: {} (now {}); scenario took {:.0} s",
        proc_status(server.0.id(), "VmHWM:")?,
        proc_status(server.0.id(), "VmRSS:")?,
        started.elapsed().as_secs_f64()
    );
    // A scenario that could not keep up still hands over a waiting seeker; the wrk figures
    // are measured, and the run fails at the end.
    let queue_failed = !out.status.success();
    if queue_failed && value("STATUS_TOKEN=").is_none() {
        return Err("the live-queue scenario failed".into());
    }
    drop(second);
    drop(third);
    let position = value("STATUS_POSITION=").ok_or("no STATUS_POSITION")?;
    let email = value("STATUS_EMAIL=").ok_or("no STATUS_EMAIL")?;
    let waiting_token = value("STATUS_TOKEN=").ok_or("no STATUS_TOKEN")?;
    unlimited_reads(&email)?;
    let waiting_auth = format!("Authorization: Bearer {waiting_token}");
    let status_name = format!("authed GET /api/v1/queue/status (at {position})");

    let script = std::env::temp_dir().join("jobby-bench-xff.lua");
    std::fs::write(&script, "counter = 0\nrequest = function()\n  counter = counter + 1\n  local ip = string.format(\"10.%d.%d.%d\", math.floor(counter / 65536) % 256, math.floor(counter / 256) % 256, counter % 256)\n  wrk.headers[\"X-Forwarded-For\"] = ip\n  return wrk.format(nil)\nend\n").map_err(|e| e.to_string())?;

    let scenarios: Vec<(&str, String, Vec<&str>, Option<&PathBuf>)> = vec![
        (
            "baseline (1 SELECT)",
            format!("http://127.0.0.1:8090/baseline/{user_uuid}"),
            vec![],
            None,
        ),
        (
            "authed read GET /api/v1/profile",
            "http://127.0.0.1:8091/api/v1/profile".into(),
            vec![auth.as_str()],
            None,
        ),
        (
            status_name.as_str(),
            "http://127.0.0.1:8091/api/v1/queue/status".into(),
            vec![waiting_auth.as_str()],
            None,
        ),
        (
            "anonymous read GET /api/v1/live-events",
            "http://127.0.0.1:8091/api/v1/live-events".into(),
            vec![],
            Some(&script),
        ),
    ];
    const RUNS: usize = 3;
    println!(
        "\nwrk: 2 threads, {connections} connections, {secs} s per scenario (after a 2 s warm-up), {RUNS} runs in turn"
    );
    println!(
        "{:<42} {:>4} {:>12} {:>10} {:>10} {:>8}",
        "scenario", "run", "requests/s", "p50", "p99", "non-2xx"
    );
    let started = Instant::now();
    let mut results: Vec<Vec<Measured>> = scenarios.iter().map(|_| vec![]).collect();
    for run in 1..=RUNS {
        for ((name, url, headers, script), runs) in scenarios.iter().zip(&mut results) {
            wrk(url, connections, 2, headers, *script)?;
            let m = wrk(url, connections, secs, headers, *script)?;
            println!(
                "{:<42} {:>4} {:>12.0} {:>10} {:>10} {:>8}",
                name, run, m.rps, m.p50, m.p99, m.non_2xx
            );
            if m.non_2xx > 0 {
                return Err(format!(
                    "{name}: {} responses were not 2xx, so its figures measure refusals; not a valid run",
                    m.non_2xx
                ));
            }
            runs.push(m);
        }
    }
    // Each run's ratio to the baseline measured just before it; the median of the runs.
    let ratio = |k: usize| {
        let mut r: Vec<f64> = (0..RUNS)
            .map(|i| results[k][i].rps / results[0][i].rps)
            .collect();
        r.sort_by(f64::total_cmp);
        (r[RUNS / 2], r)
    };
    for (k, what, target) in [
        (1, "authed read", "; target >= 0.90"),
        (2, "queue status", "; target >= 0.90"),
        (3, "anonymous live events", ""),
    ] {
        let (median, all) = ratio(k);
        println!(
            "{what} / baseline throughput: median {median:.2} (runs {}{target})",
            all.iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    eprintln!(
        "(wrk scenarios took {:.0} s)",
        started.elapsed().as_secs_f64()
    );
    if queue_failed {
        return Err("the live-queue scenario failed (see above)".into());
    }
    Ok(())
}

/// The caller's user id via `/tokens/self` (a plain HTTP/1.1 GET over a socket; xtask keeps
/// no HTTP client dependency).
fn ureq_json(url: &str, token: &str) -> Result<String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").ok_or("http only")?;
    let (host, path) = rest.split_once('/').ok_or("no path")?;
    let mut s = std::net::TcpStream::connect(host).map_err(|e| e.to_string())?;
    write!(s, "GET /{path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
    let body = buf.split("\r\n\r\n").nth(1).ok_or("no body")?;
    let v: serde_json::Value =
        serde_json::from_str(body.trim()).map_err(|e| format!("{e}: {body}"))?;
    v["user_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no user_id in {v}"))
}

/// A line of `/proc/{pid}/status` (Linux), e.g. `VmHWM:` (peak resident memory).
fn proc_status(pid: u32, key: &str) -> Result<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_owned())
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status"))
}
