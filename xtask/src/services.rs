//! What the tasks that run the real server share: the target directory, Debian packages, a
//! scratch database, the `jobby` binary's subcommands, and server processes that stop with
//! the task.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{Result, root, run};

/// A child process, killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

pub fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR").map_or_else(|_| root().join("target"), PathBuf::from)
}

/// The Postgres that tests and tasks may create databases in.
pub fn admin_database_url() -> String {
    env_or(
        "JOBBY_TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    )
}

pub fn redis_url() -> String {
    env_or("JOBBY_TEST_REDIS_URL", "redis://127.0.0.1:6379")
}

/// Installs a Debian package (as root, or through `sudo -n`).
pub fn apt_install(package: &str) -> Result {
    eprintln!("==> installing {package} (Debian package)");
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    let apt = |args: &[&str]| {
        let mut c = Command::new(if root_user { "apt-get" } else { "sudo" });
        if !root_user {
            c.args(["-n", "apt-get"]);
        }
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run(&mut apt(&["update", "-qq"]), "apt-get update")?;
    run(
        &mut apt(&["install", "-y", "-qq", package]),
        &format!("apt-get install {package}"),
    )
}

pub fn psql(admin_url: &str, sql: &str) -> Result {
    let out = Command::new("psql")
        .args([admin_url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A database of its own for one run, dropped when the run ends.
pub struct ScratchDb {
    admin: String,
    pub name: String,
    pub url: String,
}

impl ScratchDb {
    pub fn create(admin: &str, purpose: &str) -> Result<Self> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let name = format!("jobby_{purpose}_{stamp}_{}", std::process::id());
        let (base, _) = admin
            .rsplit_once('/')
            .ok_or("JOBBY_TEST_DATABASE_URL has no database part")?;
        psql(admin, &format!("CREATE DATABASE {name}"))?;
        Ok(ScratchDb {
            admin: admin.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// Runs one `jobby` subcommand to the end; its standard output, trimmed.
pub fn jobby(bin: &PathBuf, env: &[(&str, &str)], args: &[&str]) -> Result<String> {
    let out = Command::new(bin)
        .envs(env.iter().copied())
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "jobby {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Starts `cmd` and waits (30 s at most) until its standard output prints a line containing
/// `marker`; returns the process and the lines it printed up to then.
pub fn start(mut cmd: Command, marker: &str) -> Result<(Proc, Vec<String>)> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let proc = Proc(child);
    let (tx, rx) = std::sync::mpsc::channel();
    let wanted = marker.to_owned();
    std::thread::spawn(move || {
        let mut seen = vec![];
        let mut sent = false;
        for line in BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
        {
            if sent {
                continue;
            }
            let done = line.contains(&wanted);
            seen.push(line);
            if done {
                let _ = tx.send(std::mem::take(&mut seen));
                sent = true;
            }
        }
    });
    let lines = rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| format!("`{marker}` not seen within 30 s"))?;
    Ok((proc, lines))
}
