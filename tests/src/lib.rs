//! The end-to-end harness: the real `jobby` binary on a random port against real Postgres
//! (a fresh database per test, cloned from a migrated template) and Redis (a key prefix per
//! test). With `JOBBY_REQUIRE_SERVICES=1` a missing service fails the test; otherwise the
//! test is skipped with a loud `SKIPPED:` line.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use jobby_postgres::testing::services_required;

pub mod browser;

/// The services one test runs against.
#[derive(Clone, Debug)]
pub struct Services {
    pub database_url: String,
    pub redis_url: String,
    pub redis_prefix: String,
}

fn redis_url() -> String {
    std::env::var("JOBBY_TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into())
}

async fn redis_answers(url: &str) -> Result<(), String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut conn = tokio::time::timeout(
        Duration::from_secs(2),
        client.get_multiplexed_async_connection(),
    )
    .await
    .map_err(|_| "timed out".to_owned())?
    .map_err(|e| e.to_string())?;
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Fresh services for one test, or `None` (after a loud skip line) when they are missing and
/// not required.
pub async fn services() -> Option<Services> {
    let database_url = jobby_postgres::testing::fresh_database_url_or_skip().await?;
    let redis_url = redis_url();
    if let Err(e) = redis_answers(&redis_url).await {
        assert!(
            !services_required(),
            "redis unreachable at {redis_url} and JOBBY_REQUIRE_SERVICES=1: {e}"
        );
        eprintln!("SKIPPED: redis unreachable at {redis_url}: {e}");
        return None;
    }
    let redis_prefix = format!("jobby-e2e:{}:", uuid::Uuid::new_v4().simple());
    Some(Services {
        database_url,
        redis_url,
        redis_prefix,
    })
}

/// The `jobby` binary built alongside this test.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join(format!("jobby{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not built: run the tests through `cargo xtask test` or build the workspace first",
        bin.display()
    );
    bin
}

/// A running server process, killed on drop.
pub struct Server {
    pub base: String,
    child: Child,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Asks the process to shut down (SIGTERM) and waits for it to exit; returns whether it
    /// exited successfully within `within`.
    pub fn terminate(mut self, within: Duration) -> bool {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(sent, "could not send SIGTERM to {pid}");
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Stops the process at once (no graceful shutdown), as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base_command(s: &Services) -> Command {
    let mut cmd = Command::new(binary());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &s.database_url)
        .env("REDIS_URL", &s.redis_url)
        .env("JOBBY_REDIS_PREFIX", &s.redis_prefix)
        .env(
            "RUST_LOG",
            std::env::var("JOBBY_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        );
    cmd
}

/// Starts `jobby serve` on a random port with extra environment, and waits until it serves.
pub fn spawn(s: &Services, extra: &[(&str, &str)]) -> Server {
    let mut cmd = base_command(s);
    cmd.env("JOBBY_LISTEN", "127.0.0.1:0")
        .env("JOBBY_WORKERS", "2")
        .envs(extra.iter().copied());
    cmd.arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("spawn jobby");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("jobby listening on ") {
                let _ = tx.send(addr.split(',').next().unwrap_or(addr).trim().to_owned());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("jobby did not start listening within 30 s");
        });
    Server { base, child }
}

/// Runs `jobby admin …` (or any subcommand) against the services; returns stdout.
pub fn jobby(s: &Services, args: &[&str]) -> String {
    let out = base_command(s).args(args).output().expect("run jobby");
    assert!(
        out.status.success(),
        "jobby {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// Creates an account through the operator CLI and mints a token with these scopes.
pub fn account_with_token(s: &Services, email: &str, kind: &str, scopes: &str) -> String {
    jobby(
        s,
        &[
            "admin",
            "create-user",
            "--email",
            email,
            "--password",
            "a long password",
            "--name",
            "E2E",
            "--account-type",
            kind,
        ],
    );
    jobby(
        s,
        &["admin", "mint-token", "--email", email, "--scopes", scopes],
    )
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// The text after `marker` in a page, up to `end`.
pub fn field(html: &str, marker: &str, end: char) -> String {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in page"))
        + marker.len();
    html[start..].split(end).next().unwrap().to_owned()
}

/// A cookie-keeping client logged in through the login form, as a browser would be. It
/// does not follow redirects, so tests see where the server sends the browser.
pub async fn logged_in(server: &Server, email: &str, password: &str) -> reqwest::Client {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    let html = browser
        .get(server.url("/account/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = field(&html, "name=\"csrf_token\" value=\"", '"');
    let page = browser
        .post(server.url("/account/login"))
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303, "login as {email}");
    browser
}

/// Accepts a match from its page, as the human behind `browser`; returns the answer's
/// status (303 back to the page when accepted).
pub async fn accept_in_page(server: &Server, browser: &reqwest::Client, match_id: &str) -> u16 {
    let page = server.url(&format!("/account/matches/{match_id}"));
    let html = browser
        .get(&page)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = field(&html, "name=\"csrf_token\" value=\"", '"');
    browser
        .post(format!("{page}/accept"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Sends a request with a bearer token (and a JSON body); returns the status and the JSON
/// answer (null when there is none).
pub async fn call(
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = client().request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// Fresh services for the test, or returns from it (skipped, loudly) when they are missing
/// and not required.
#[macro_export]
macro_rules! services_or_skip {
    () => {
        match $crate::services().await {
            Some(s) => s,
            None => return,
        }
    };
}

/// A TCP proxy on loopback in front of another address, which a test can cut (every open
/// connection is dropped and new ones are refused at once) and restore: a database that goes
/// away and comes back, without stopping the shared Postgres.
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: String) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, open2) = (up.clone(), open.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                open2.lock().unwrap().push(task.abort_handle());
            }
        });
        Proxy {
            addr,
            up,
            open,
            accept,
        }
    }

    /// Drops every open connection; new ones are closed as soon as they are accepted.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for task in self.open.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// The `host:port` of a `postgres://user@host:port/db` URL.
pub fn host_port(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest)
}
