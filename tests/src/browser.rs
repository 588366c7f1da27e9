//! A real browser for the tests that need one: Debian's headless Chromium driven through
//! chromedriver (WebDriver). Each [`Chrome::window`] is a separate browser with its own
//! profile, so two windows are two people with two sessions.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::services_required;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A running chromedriver, stopped on drop with every browser it started, also when the
/// test failed before closing its windows.
pub struct Chrome {
    driver: Child,
    url: String,
    /// Every window's profile lives below this folder, which names its browser processes.
    profiles: std::path::PathBuf,
    windows: std::sync::atomic::AtomicUsize,
}

impl Drop for Chrome {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(self.profiles.as_os_str())
            .status();
        let _ = std::fs::remove_dir_all(&self.profiles);
    }
}

impl Chrome {
    /// Starts chromedriver, or returns `None` (after a loud skip line) when Chromium is not
    /// installed and `JOBBY_REQUIRE_SERVICES` is unset. `.ci/run` installs it.
    pub async fn start() -> Option<Chrome> {
        for bin in [CHROMEDRIVER, CHROMIUM] {
            if !Path::new(bin).exists() {
                assert!(
                    !services_required(),
                    "{bin} is missing and JOBBY_REQUIRE_SERVICES=1 (apt-get install chromium chromium-driver)"
                );
                eprintln!("SKIPPED: {bin} is missing (apt-get install chromium chromium-driver)");
                return None;
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let chrome = Chrome {
            driver,
            url: format!("http://127.0.0.1:{port}"),
            profiles: std::env::temp_dir()
                .join(format!("jobby-chrome-{}-{port}", std::process::id())),
            windows: std::sync::atomic::AtomicUsize::new(0),
        };
        let status = format!("{}/status", chrome.url);
        for _ in 0..100 {
            if let Ok(r) = reqwest::get(&status).await
                && r.status().is_success()
            {
                return Some(chrome);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not answer within 10 s");
    }

    /// A new headless browser with a fresh profile.
    pub async fn window(&self) -> Client {
        let n = self
            .windows
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let profile = self.profiles.join(n.to_string());
        let caps = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // Headless, as root in a container, and quiet on a closed network.
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1024,768",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a chromium session")
    }
}

/// Logs in through the login page, as a person types it.
pub async fn log_in(window: &Client, base: &str, email: &str, password: &str) {
    window.goto(&format!("{base}/account/login")).await.unwrap();
    window
        .find(Locator::Css("input[name=email]"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    window
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    window
        .find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Logged in: the form sends us on to the account pages.
    eventually(&format!("login as {email}"), || async {
        let url = window.current_url().await.unwrap();
        !url.path().ends_with("/account/login")
    })
    .await;
}

/// Polls `check` every 50 ms until it holds; fails after 10 s. Pages change after a click
/// only once the browser has navigated, so assertions on the next page wait for it.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not so after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for an element of the next page.
pub async fn element(window: &Client, locator: Locator<'_>) -> fantoccini::elements::Element {
    window
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(locator)
        .await
        .unwrap_or_else(|e| panic!("waiting for {locator:?}: {e}"))
}

/// Waits until the match page shows `status`.
pub async fn wait_for_status(window: &Client, status: &str) {
    eventually(&format!("match status {status}"), || async {
        match window.find(Locator::Css("#match-status")).await {
            Ok(e) => e.attr("data-status").await.ok().flatten().as_deref() == Some(status),
            Err(_) => false,
        }
    })
    .await;
}
