//! Project automation. `cargo xtask test` is the one command that says "green".
//!
//! - `test` / `ci`: fmt check, clippy `-D warnings`, the layer check, the OpenAPI drift
//!   check, the v1 compatibility check, and every test (nextest); ends by saying how many
//!   service-backed tests skipped for want of Postgres, Redis or Chromium (from nextest's
//!   JUnit report, see `junit.rs`).
//! - `layers`: fails when a crate depends on a layer it must not (from `cargo metadata`);
//!   every package under `crates/adapters/` is an adapter.
//! - `openapi`: writes `openapi.json` from the code.
//! - `check-openapi-drift`: fails when `openapi.json` differs from the code's document, or
//!   when the route table and the document disagree.
//! - `check-api-compat`: fails when `openapi.json` breaks the v1 forward contract kept in
//!   `api/v1-baseline.json`: an endpoint, a success status, a response field or an error
//!   code gone, or a request validated more strictly; see `compat.rs`.
//! - `accept-api-baseline`: copies `openapi.json` to `api/v1-baseline.json`, listing the
//!   breaks it accepts; the only way the baseline moves.
//! - `fuzz-api`: schemathesis against the demo server on Postgres + Redis, holding
//!   `openapi.json` to what the server does; see `fuzz.rs`. Part of `test`.
//! - `bench`: release build, server on Postgres + Redis, load with `oha`; see `bench.rs`.

mod bench;
mod compat;
mod fuzz;
mod junit;
mod services;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test" | "ci") => test(&args[1..]),
        Some("layers") => layers(),
        Some("openapi") => write_openapi(),
        Some("check-openapi-drift") => check_openapi_drift(),
        Some("check-api-compat") => check_api_compat(),
        Some("accept-api-baseline") => accept_api_baseline(),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz-api") => fuzz::run_fuzz(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|ci|layers|openapi|check-openapi-drift|check-api-compat|accept-api-baseline|fuzz-api|bench>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace being worked on. Read at run time (cargo sets `CARGO_MANIFEST_DIR` for
/// `cargo run`), not baked in at build time: the target directory is shared between
/// checkouts, and a cached xtask built in another clone must not act on that clone.
pub fn root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

pub fn run(cmd: &mut Command, what: &str) -> Result {
    eprintln!("==> {what}");
    let status = cmd.status().map_err(|e| format!("{what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn test(extra: &[String]) -> Result {
    run(
        cargo().args(["fmt", "--all", "--", "--check"]),
        "cargo fmt --check",
    )?;
    run(
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
        "cargo clippy -D warnings",
    )?;
    layers()?;
    check_openapi_drift()?;
    check_api_compat()?;
    // The end-to-end tests run the `jobby` binary itself; cargo builds a package's binaries
    // only for that package's own integration tests, so build them explicitly.
    run(
        cargo().args(["build", "--workspace", "--bins", "--locked"]),
        "cargo build --bins",
    )?;
    // The published document against the demo server; before the tests, so that nextest's
    // summary is the run's last word.
    let fuzzed = if extra.is_empty() {
        fuzz::in_test()
    } else {
        eprintln!("==> SKIPPED: schemathesis (the tests were filtered: {extra:?})");
        Ok(())
    };
    let mut nextest = cargo();
    nextest
        .args([
            "nextest",
            "run",
            "--workspace",
            "--all-targets",
            "--locked",
            "--no-fail-fast",
        ])
        .args(extra);
    // A report left by an earlier run must not be counted as this run's.
    let profile = junit::profile(extra, std::env::var("NEXTEST_PROFILE").ok());
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from);
    let reports = junit::report_paths(&root(), target_dir.as_deref(), &profile);
    for report in &reports {
        let _ = std::fs::remove_file(report);
    }
    let tested = run(&mut nextest, "cargo nextest run");
    report_skipped(&reports);
    fuzzed.and(tested)
}

/// Says how many tests skipped for want of Postgres, Redis or Chromium: they pass, so
/// without this line a run with no services looks as green as a full one.
fn report_skipped(reports: &[PathBuf]) {
    match reports.iter().find_map(|p| std::fs::read_to_string(p).ok()) {
        Some(xml) => eprintln!("{}", junit::summary(&junit::skipped_tests(&xml))),
        None => eprintln!(
            "==> skipped tests not counted: nextest wrote no JUnit report ({})",
            reports
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    }
}

/// The arrows of DESIGN.md: domain depends on nothing of ours; adapters and http on domain
/// only; the server and the test and tooling crates may use everything.
fn layers() -> Result {
    eprintln!("==> layer check");
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let packages = meta["packages"]
        .as_array()
        .ok_or("no packages in metadata")?;
    let workspace_root = meta["workspace_root"]
        .as_str()
        .map_or_else(root, PathBuf::from);
    let ours: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let manifests: Vec<(&str, &Path)> = packages
        .iter()
        .filter_map(|p| Some((p["name"].as_str()?, Path::new(p["manifest_path"].as_str()?))))
        .collect();
    let adapters = adapter_crates(&workspace_root, &manifests);
    let mut problems = vec![];
    for p in packages {
        let name = p["name"].as_str().unwrap_or("");
        let mut deps: BTreeMap<(&str, &str), ()> = BTreeMap::new();
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let kind = d["kind"].as_str().unwrap_or("normal");
            deps.insert((d["name"].as_str().unwrap_or(""), kind), ());
        }
        for (dep, kind) in deps.keys() {
            if let Some(why) = forbidden(name, dep, kind, &ours, &adapters) {
                problems.push(format!("{name} -> {dep} ({kind}): {why}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("layering broken:\n  {}", problems.join("\n  ")))
    }
}

/// The adapters are the workspace packages that live under `crates/adapters/`: a new one is
/// held to the adapter rule from the day it appears, without being listed anywhere.
fn adapter_crates<'a>(workspace_root: &Path, packages: &[(&'a str, &Path)]) -> Vec<&'a str> {
    let dir = workspace_root.join("crates").join("adapters");
    packages
        .iter()
        .filter(|(_, manifest)| manifest.starts_with(&dir))
        .map(|(name, _)| *name)
        .collect()
}

/// Why `pkg` may not depend on `dep`, if it may not.
fn forbidden(
    pkg: &str,
    dep: &str,
    kind: &str,
    ours: &[&str],
    adapters: &[&str],
) -> Option<&'static str> {
    const IO_CRATES: &[&str] = &[
        "actix-web",
        "actix-http",
        "diesel",
        "diesel-async",
        "redis",
        "reqwest",
        "tokio",
        "utoipa",
        "tokio-postgres",
    ];
    let is_ours = ours.contains(&dep);
    match pkg {
        "jobby-domain" if is_ours && dep != "jobby-domain" => {
            Some("the domain depends on nothing of ours")
        }
        "jobby-domain" if kind == "normal" && IO_CRATES.contains(&dep) => {
            Some("the domain does no I/O")
        }
        p if adapters.contains(&p) && is_ours && dep != "jobby-domain" && dep != p => {
            Some("an adapter depends on the domain only")
        }
        "jobby-http"
            if is_ours
                && dep != "jobby-domain"
                && !(kind == "dev" && matches!(dep, "jobby-memory" | "jobby-local")) =>
        {
            Some("http depends on the domain only (its tests may use the in-process adapters)")
        }
        _ => None,
    }
}

fn generated_openapi() -> Result<String> {
    let out = cargo()
        .args([
            "run",
            "--quiet",
            "--locked",
            "--package",
            "jobby",
            "--",
            "openapi",
            "--check",
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "generating the OpenAPI document failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

fn write_openapi() -> Result {
    let doc = generated_openapi()?;
    std::fs::write(root().join("openapi.json"), doc).map_err(|e| e.to_string())?;
    eprintln!("wrote openapi.json");
    Ok(())
}

fn check_openapi_drift() -> Result {
    eprintln!("==> OpenAPI drift check");
    // `jobby openapi --check` already fails when a served /api/v1 route has no paths entry.
    let doc = generated_openapi()?;
    let committed = std::fs::read_to_string(root().join("openapi.json"))
        .map_err(|e| format!("openapi.json: {e}"))?;
    if committed != doc {
        let line = committed
            .lines()
            .zip(doc.lines())
            .position(|(a, b)| a != b)
            .map_or(committed.lines().count().min(doc.lines().count()), |i| i);
        return Err(format!(
            "openapi.json differs from the code's document from line {}; run `cargo xtask openapi` and commit it",
            line + 1
        ));
    }
    Ok(())
}

/// The v1 forward contract, and the document it was promised in.
const BASELINE: &str = "api/v1-baseline.json";

fn read_json(path: &str) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(root().join(path)).map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
}

fn check_api_compat() -> Result {
    eprintln!("==> v1 API compatibility check");
    let baseline = read_json(BASELINE).map_err(|e| {
        format!("{e}; `cargo xtask accept-api-baseline` writes it from openapi.json")
    })?;
    let current = read_json("openapi.json")?;
    let violations = compat::check(&baseline, &current);
    if violations.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
    Err(format!(
        "openapi.json breaks the v1 contract of {BASELINE} ({} violations):\n  {}\n\
         v1 never removes an endpoint, a response field or an error code, and never tightens \
         request validation: make the change additive. Only if the baseline itself is wrong, \
         `cargo xtask accept-api-baseline` moves it.",
        list.len(),
        list.join("\n  ")
    ))
}

fn accept_api_baseline() -> Result {
    let current = read_json("openapi.json")?;
    if let Ok(baseline) = read_json(BASELINE) {
        for v in compat::check(&baseline, &current) {
            eprintln!("accepting: {v}");
        }
    }
    let path = root().join(BASELINE);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::copy(root().join("openapi.json"), &path).map_err(|e| format!("{BASELINE}: {e}"))?;
    eprintln!("wrote {BASELINE} from openapi.json");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{adapter_crates, forbidden};
    use std::path::Path;

    #[test]
    fn the_layer_rule() {
        let ours = [
            "jobby-domain",
            "jobby-postgres",
            "jobby-memory",
            "jobby-http",
            "jobby",
        ];
        let adapters = ["jobby-postgres", "jobby-memory"];
        let f = |pkg, dep, kind| forbidden(pkg, dep, kind, &ours, &adapters);
        assert!(f("jobby-domain", "jobby-postgres", "normal").is_some());
        assert!(f("jobby-domain", "tokio", "normal").is_some());
        assert!(f("jobby-domain", "tokio", "dev").is_none());
        assert!(f("jobby-postgres", "jobby-domain", "normal").is_none());
        assert!(f("jobby-postgres", "jobby-memory", "dev").is_some());
        assert!(f("jobby-http", "jobby-postgres", "normal").is_some());
        assert!(f("jobby-http", "jobby-memory", "normal").is_some());
        assert!(f("jobby-http", "jobby-memory", "dev").is_none());
        assert!(f("jobby", "jobby-postgres", "normal").is_none());
    }

    #[test]
    fn adapters_are_the_crates_under_crates_adapters() {
        let root = Path::new("/w/jobby");
        let packages = [
            (
                "jobby-domain",
                Path::new("/w/jobby/crates/domain/Cargo.toml"),
            ),
            (
                "jobby-postgres",
                Path::new("/w/jobby/crates/adapters/postgres/Cargo.toml"),
            ),
            (
                "jobby-stripe",
                Path::new("/w/jobby/crates/adapters/stripe/Cargo.toml"),
            ),
            ("jobby-http", Path::new("/w/jobby/crates/http/Cargo.toml")),
            // Not under this workspace's crates/adapters/, whatever the name says.
            (
                "adapters-lookalike",
                Path::new("/w/jobby/crates/adapters-extra/Cargo.toml"),
            ),
            (
                "jobby-other",
                Path::new("/elsewhere/jobby/crates/adapters/x/Cargo.toml"),
            ),
            ("jobby", Path::new("/w/jobby/crates/server/Cargo.toml")),
        ];
        let adapters = adapter_crates(root, &packages);
        assert_eq!(adapters, ["jobby-postgres", "jobby-stripe"]);

        // A crate that appears under crates/adapters/ is held to the adapter rule at once.
        let ours: Vec<&str> = packages.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            forbidden("jobby-stripe", "jobby-postgres", "normal", &ours, &adapters),
            Some("an adapter depends on the domain only")
        );
        assert!(forbidden("jobby-stripe", "jobby-domain", "normal", &ours, &adapters).is_none());
        assert!(forbidden("jobby-stripe", "reqwest", "normal", &ours, &adapters).is_none());
        // Outside crates/adapters/ the rule does not apply.
        assert!(forbidden("jobby-other", "jobby-postgres", "normal", &ours, &adapters).is_none());
    }
}
