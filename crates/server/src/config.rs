//! Configuration: environment variables, each also a flag (SPEC §10). These types carry
//! secrets (a `DATABASE_URL` may hold a password), so none of them implements `Debug`.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;

#[derive(Parser)]
#[command(
    name = "jobby",
    version,
    about = "Jobby: the on-demand job fair server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the API and the account pages (the default).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(StoreArgs),
    /// Run background work only (purges of expired idempotency keys and sessions).
    Worker {
        #[command(flatten)]
        store: StoreArgs,
        /// Run one pass and exit (for cron and tests).
        #[arg(long)]
        once: bool,
    },
    /// Operator commands.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Print the OpenAPI document; with --check, also verify it against the route table.
    Openapi {
        #[arg(long)]
        check: bool,
    },
}

#[derive(Args, Clone)]
pub struct StoreArgs {
    /// Postgres; unset = in-memory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Redis; unset = in-process rate limiting.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key this server writes.
    #[arg(long, env = "JOBBY_REDIS_PREFIX", default_value = "jobby:")]
    pub redis_prefix: String,
    /// Postgres pool size per process.
    #[arg(long, env = "JOBBY_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: usize,
}

#[derive(Args, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to serve on.
    #[arg(long, env = "JOBBY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Base of every URL the server hands out; cookies are Secure when it is https.
    /// Defaults to http://<listen>.
    #[arg(long, env = "JOBBY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Create demo accounts and print their tokens (default: on when in-memory).
    #[arg(long, env = "JOBBY_SEED_DEMO", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub seed_demo: Option<bool>,
    /// CIDRs whose X-Forwarded-For is believed, comma-separated.
    #[arg(long, env = "JOBBY_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_cidr)]
    pub trusted_proxies: Vec<IpNet>,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "JOBBY_WORKERS")]
    pub workers: Option<usize>,
    /// Requests one process serves at once; reads and joins may each hold three eighths of
    /// them. Past this, requests wait briefly for a place and are then refused with 503
    /// SERVER_BUSY, reads first.
    #[arg(long, env = "JOBBY_MAX_IN_FLIGHT", default_value_t = 128, value_parser = clap::value_parser!(u64).range(8..=1_000_000))]
    pub max_in_flight: u64,
    /// How long a looked-up token is trusted without asking the database (milliseconds)
    /// while this process does not hear of access changes (the outbox cannot be read).
    /// Bounds how long a revocation takes to reach it then.
    #[arg(long, env = "JOBBY_TOKEN_CACHE_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=1200))]
    pub token_cache_ms: u64,
    /// How long a looked-up token is trusted (seconds) while this process hears of access
    /// changes: revocations, allowlist and limit changes reach it through the outbox.
    #[arg(long, env = "JOBBY_TOKEN_CACHE_HEARD_SECS", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub token_cache_heard_secs: u64,
    /// Daily.co API key: video rooms on Daily. Unset = the local room page stand-in.
    #[arg(long, env = "DAILY_API_KEY", hide_env_values = true)]
    pub daily_api_key: Option<String>,
    /// Daily's API base (for tests and proxies).
    #[arg(long, env = "DAILY_API_BASE", default_value = jobby_daily::DEFAULT_API_BASE)]
    pub daily_api_base: String,
    /// Each call to Daily gives up after this many milliseconds (503 to the caller).
    #[arg(long, env = "DAILY_TIMEOUT_MS", default_value_t = 10_000)]
    pub daily_timeout_ms: u64,
    /// The deployment's secret key (at least 32 characters), the same for every process: it
    /// signs the login and signup forms' CSRF tokens. Unset = a random key per process.
    #[arg(long, env = "JOBBY_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Serve `/metrics` on this address (for the operator) instead of the public one.
    #[arg(long, env = "JOBBY_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Do not run background work in this process (run `jobby worker` elsewhere).
    #[arg(long, env = "JOBBY_NO_WORKER", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub no_worker: bool,
}

fn parse_cidr(s: &str) -> Result<IpNet, String> {
    jobby_domain::model::network::parse_cidr(s)
        .ok_or_else(|| format!("`{s}` is not a CIDR block or IP address"))
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create an account.
    CreateUser {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        email: String,
        /// The password (at least 10 characters). Prefer JOBBY_ADMIN_PASSWORD to keep it out of shell history.
        #[arg(long, env = "JOBBY_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long)]
        name: String,
        /// seeker or recruiter.
        #[arg(long)]
        account_type: String,
    },
    /// Raise (or lower) one account's rate limit for a class; the same limiter still runs.
    SetRateLimit {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        email: String,
        /// read, write, cost or anonymous.
        #[arg(long)]
        class: String,
        /// Requests per minute for that class.
        #[arg(long, required_unless_present = "reset", conflicts_with = "reset")]
        per_minute: Option<u32>,
        /// Remove the override: the class default applies again.
        #[arg(long)]
        reset: bool,
    },
    /// Mint a personal access token for an account and print it.
    MintToken {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// Scopes, comma-separated (e.g. profile:read,queue:write).
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Days until it expires; omit for never.
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
}
