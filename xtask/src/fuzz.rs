//! `cargo xtask fuzz-api` (also the last step of `cargo xtask test`): schemathesis, pinned in
//! a virtualenv of its own, against the demo server on Postgres + Redis, so the published
//! `openapi.json` is held to what the server really does.
//!
//! The demo server seeds a recruiter and a seeker; their limits are lifted through the same
//! overrides an operator uses (`jobby admin set-rate-limit`), so the run reaches the logic
//! behind the limiter. Three passes: every operation as the recruiter, and as the seeker,
//! except token revocation, which runs last with a token of its own (it may revoke itself).
//! The checks that are not about the schema alone, and the few justified exceptions, are in
//! `api/schemathesis.toml`.
//!
//! Options: `--max-examples N` (default 25), `--seed N` (default fixed, so CI is repeatable).

use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::process::Command;

use crate::services::{ScratchDb, admin_database_url, env_or, jobby, redis_url, start, target_dir};
use crate::{Result, cargo, root, run};

const SCHEMATHESIS: &str = "schemathesis==4.32.5";
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,positive_data_acceptance,negative_data_rejection,unsupported_method";
const REVOKE: &str = "/api/v1/api-tokens/{id}";

/// The virtualenv's `schemathesis`, installed there first when missing or another version.
fn schemathesis() -> Result<PathBuf> {
    let home = env_or("HOME", "/root");
    let venv = PathBuf::from(env_or("JOBBY_VENV", &format!("{home}/.cache/jobby-venv")));
    let exe = venv.join("bin").join("schemathesis");
    let wanted = SCHEMATHESIS.trim_start_matches("schemathesis==");
    let installed = Command::new(&exe)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(wanted));
    if !installed {
        if !venv.join("bin").join("pip").exists() {
            run(
                Command::new("python3").args(["-m", "venv"]).arg(&venv),
                "python3 -m venv",
            )?;
        }
        run(
            Command::new(venv.join("bin").join("pip")).args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                SCHEMATHESIS,
            ]),
            &format!("pip install {SCHEMATHESIS}"),
        )?;
    }
    Ok(exe)
}

/// The value of `export NAME=value` among the demo server's first lines.
fn exported(lines: &[String], name: &str) -> Result<String> {
    let prefix = format!("export {name}=");
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::to_owned)
        .ok_or_else(|| format!("the demo server printed no `{prefix}…`"))
}

/// Whether Postgres and Redis answer.
fn services_up() -> bool {
    let pg = Command::new("psql")
        .args([&admin_database_url(), "-qAtc", "SELECT 1"])
        .output()
        .is_ok_and(|o| o.status.success());
    let redis = redis_url();
    let addr = redis
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .and_then(|authority| authority.rsplit('@').next())
        .unwrap_or("127.0.0.1:6379")
        .to_owned();
    let redis_ok = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| {
            std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(2)).is_ok()
        });
    pg && redis_ok
}

/// The step of `cargo xtask test`: without Postgres or Redis it says so and passes, unless
/// `JOBBY_REQUIRE_SERVICES=1` (CI), where it fails.
pub fn in_test() -> Result {
    if !services_up() {
        if std::env::var("JOBBY_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            return Err("schemathesis needs Postgres and Redis, and they do not answer".into());
        }
        eprintln!("==> SKIPPED: schemathesis (Postgres or Redis does not answer)");
        return Ok(());
    }
    run_fuzz(&[])
}

pub fn run_fuzz(args: &[String]) -> Result {
    let arg = |name: &str, default: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    };
    let max_examples = arg("--max-examples", "25");
    let seed = arg("--seed", "20261202");
    let st = schemathesis()?;
    run(
        cargo().args(["build", "--workspace", "--bins", "--locked"]),
        "cargo build --bins",
    )?;
    let bin = target_dir().join("debug").join("jobby");

    let db = ScratchDb::create(&admin_database_url(), "fuzz")?;
    let prefix = format!("{}:", db.name);
    let redis = redis_url();
    let env: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", &db.url),
        ("REDIS_URL", &redis),
        ("JOBBY_REDIS_PREFIX", &prefix),
        ("RUST_LOG", "warn"),
    ];
    let mut serve = Command::new(&bin);
    serve
        .envs(env.iter().copied())
        .env("JOBBY_LISTEN", "127.0.0.1:0")
        .env("JOBBY_SEED_DEMO", "true")
        .arg("serve");
    let (_server, lines) = start(serve, "jobby listening on")?;
    let base = exported(&lines, "JOBBY")?;
    for email in ["recruiter@demo.jobby.dev", "seeker@demo.jobby.dev"] {
        for class in ["read", "write", "cost"] {
            jobby(
                &bin,
                &env,
                &[
                    "admin",
                    "set-rate-limit",
                    "--email",
                    email,
                    "--class",
                    class,
                    "--per-minute",
                    "1000000",
                ],
            )?;
        }
    }
    let revoker = jobby(
        &bin,
        &env,
        &[
            "admin",
            "mint-token",
            "--email",
            "seeker@demo.jobby.dev",
            "--name",
            "fuzz revoke",
            "--scopes",
            "settings:read,settings:write",
        ],
    )?;

    let passes = [
        ("recruiter", exported(&lines, "RECRUITER_TOKEN")?, false),
        ("seeker", exported(&lines, "SEEKER_TOKEN")?, false),
        ("token revocation", revoker, true),
    ];
    let config = root().join("api").join("schemathesis.toml");
    let mut failed = vec![];
    for (who, token, revoke_only) in passes {
        let mut cmd = Command::new(&st);
        cmd.arg("--config-file")
            .arg(&config)
            .args(["run", &format!("{base}/api/v1/openapi.json")])
            .args(["--checks", CHECKS])
            .args(["--max-examples", &max_examples, "--seed", &seed])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args([
                if revoke_only {
                    "--include-path"
                } else {
                    "--exclude-path"
                },
                REVOKE,
            ])
            .current_dir(std::env::temp_dir());
        if run(&mut cmd, &format!("schemathesis as the {who}")).is_err() {
            failed.push(who);
        }
    }
    if failed.is_empty() {
        eprintln!("==> schemathesis: every pass found no failure");
        Ok(())
    } else {
        Err(format!("schemathesis found failures as the {failed:?}"))
    }
}
