//! `jobby`: the composition root. It reads configuration, picks the adapters (Postgres and
//! Redis when configured, memory otherwise) and runs a subcommand.

mod config;
mod seed;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use config::{AdminCommand, Cli, Command, ServeArgs, StoreArgs};
use jobby_domain::model::account::Email;
use jobby_domain::model::server_key::ServerKey;
use jobby_domain::model::{idempotency, outbox, room};
use jobby_domain::ports::{Clock, Database, Db, RateLimiter, SystemClock};
use jobby_domain::usecases::{accounts, queue, tokens};

type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = match cli.command {
        None => runtime.block_on(serve(cli.serve)),
        Some(Command::Serve(args)) => runtime.block_on(serve(args)),
        Some(Command::Migrate(store)) => runtime.block_on(migrate(store)),
        Some(Command::Worker { store, once }) => runtime.block_on(worker(store, once)),
        Some(Command::Admin(cmd)) => runtime.block_on(admin(cmd)),
        Some(Command::Openapi { check }) => openapi(check),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jobby: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().flatten_event(true).init();
    }
}

async fn open_store(store: &StoreArgs) -> Fallible<Arc<dyn Database>> {
    match &store.database_url {
        Some(url) => {
            jobby_postgres::run_migrations(url).await?;
            Ok(Arc::new(
                jobby_postgres::connect(url, store.db_pool_size).await?,
            ))
        }
        None => Ok(Arc::new(jobby_memory::MemoryDatabase::new())),
    }
}

async fn open_limiter(store: &StoreArgs) -> Fallible<Arc<dyn RateLimiter>> {
    match &store.redis_url {
        Some(url) => {
            // Connect lazily: a Redis outage at start must not stop the server; read and write
            // routes fail open and cost routes fail closed until Redis answers.
            let limiter =
                jobby_redis::RedisRateLimiter::connect_lazy(url, store.redis_prefix.clone())?;
            if let Err(e) = limiter.ping().await {
                tracing::warn!(error = %e, "redis does not answer yet; rate limits fail open (cost routes closed) until it does");
            }
            Ok(Arc::new(limiter))
        }
        None => Ok(Arc::new(jobby_memory::MemoryRateLimiter::new())),
    }
}

/// Connections waiting to be accepted, at most (the kernel caps it at `net.core.somaxconn`).
/// Thousands of agents connect at once at a fair's opening; a short queue drops their
/// connection attempts, which then wait out the client's retransmission (a second or more).
const LISTEN_BACKLOG: u32 = 4096;

/// A listening socket on `addr` with a backlog of [`LISTEN_BACKLOG`].
fn listen(addr: std::net::SocketAddr) -> Fallible<std::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket.listen(LISTEN_BACKLOG)?.into_std()?)
}

async fn serve(args: ServeArgs) -> Fallible<()> {
    let db = Db::new(open_store(&args.store).await?);
    let limiter = open_limiter(&args.store).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // Bind first, so that with port 0 the URLs handed out name the port actually served.
    let listener = listen(args.listen)?;
    let bound = listener.local_addr()?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"));
    let secret_key = match args.secret_key.as_deref() {
        Some(text) => ServerKey::from_config(text).map_err(|e| format!("JOBBY_SECRET_KEY: {e}"))?,
        None => {
            if args.store.database_url.is_some() {
                tracing::warn!(
                    "JOBBY_SECRET_KEY is not set: a random key is used, so a login or signup form served by one process is refused by the others and after a restart; set the same key on every process"
                );
            }
            ServerKey::random()
        }
    };
    // Bind the operator's address before serving, so a taken port stops the start.
    let metrics_listener = args
        .metrics_listen
        .map(std::net::TcpListener::bind)
        .transpose()?;
    let config = jobby_http::HttpConfig {
        public_url: public_url.clone(),
        trusted_proxies: args.trusted_proxies.clone(),
        secret_key,
        public_metrics: metrics_listener.is_none(),
    };
    let video: Arc<dyn jobby_domain::ports::VideoRooms> = match &args.daily_api_key {
        Some(key) if !key.is_empty() => {
            tracing::info!(api_base = %args.daily_api_base, "video rooms on Daily");
            let mut daily =
                jobby_daily::DailyConfig::new(key.clone(), Some(args.daily_api_base.clone()));
            daily.timeout = Duration::from_millis(args.daily_timeout_ms);
            jobby_daily::DailyRooms::new(daily)?
        }
        _ => jobby_local::LocalRooms::new(),
    };
    let mut state = jobby_http::AppState::new(
        db.clone(),
        limiter,
        video,
        clock.clone(),
        config,
        jobby_http::TokenCache {
            ttl: Duration::from_millis(args.token_cache_ms),
            heard_ttl: Duration::from_secs(args.token_cache_heard_secs),
        },
    );
    let in_flight = usize::try_from(args.max_in_flight).unwrap_or(usize::MAX);
    state.admission = Arc::new(jobby_http::admission::Admission::new(
        jobby_http::admission::Capacity::of(in_flight),
    ));

    // Compute the decoy password hash now, so the first login with an unknown email takes
    // no longer than any other.
    let _ = jobby_domain::model::account::decoy_hash();
    let in_memory = args.store.database_url.is_none();
    if args.seed_demo.unwrap_or(in_memory) {
        seed::demo(&db, &clock, &public_url).await?;
    }
    if !args.no_worker {
        tokio::spawn(background(db.clone(), clock.clone()));
    }
    jobby_http::start_background(&state);
    let feed = state.feed.clone();
    let auth = state.auth.clone();
    let operator = match metrics_listener {
        Some(listener) => {
            let bound = listener.local_addr()?;
            let state = state.clone();
            let server = actix_web::HttpServer::new(move || jobby_http::metrics_app(state.clone()))
                .disable_signals()
                .workers(1)
                .listen(listener)?
                .run();
            tracing::info!(listen = %bound, "metrics are served on the operator address only");
            println!("jobby metrics on http://{bound}/metrics");
            Some(server)
        }
        None => None,
    };
    // Signals are handled here, not by actix, so open queue streams are told to close before
    // the server stops taking requests and waits for the rest.
    let mut server = actix_web::HttpServer::new(move || jobby_http::build_app(state.clone()))
        .disable_signals()
        .shutdown_timeout(10);
    if let Some(n) = args.workers {
        server = server.workers(n);
    }
    let server = server.listen(listener)?;
    tracing::info!(listen = %bound, public_url, store = if in_memory { "memory" } else { "postgres" }, "jobby is serving");
    println!("jobby listening on http://{bound}");
    let server = server.run();
    let handle = server.handle();
    let handle_for_operator = server.handle();
    let operator_handle = operator.as_ref().map(actix_web::dev::Server::handle);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: closing queue streams, finishing requests");
        feed.close();
        handle.stop(true).await;
        if let Some(h) = operator_handle {
            h.stop(true).await;
        }
    });
    match operator {
        Some(operator) => {
            // Whichever stops first (the signal stops both) stops the other.
            let op_handle = operator.handle();
            let public_handle = handle_for_operator;
            tokio::select! {
                public = server => {
                    op_handle.stop(true).await;
                    public?;
                }
                op = operator => {
                    public_handle.stop(true).await;
                    op?;
                }
            }
        }
        None => server.await?,
    }
    // Token uses noted since the last write.
    if let Err(e) = auth.flush_uses().await {
        tracing::warn!(error = %e, "recording the last token uses failed");
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; stopping on Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

async fn migrate(store: StoreArgs) -> Fallible<()> {
    let url = store
        .database_url
        .ok_or("DATABASE_URL is required for migrate")?;
    jobby_postgres::run_migrations(&url).await?;
    println!("migrations applied");
    Ok(())
}

async fn worker(store: StoreArgs, once: bool) -> Fallible<()> {
    let db = Db::new(open_store(&store).await?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    if once {
        let p = purge(&db, &clock).await;
        let expired = sweep(&db, &queue::Rounds::default(), &clock).await;
        println!(
            "purged {} idempotency keys, {} sessions, {} outbox records and {} room tickets; expired {expired} matches",
            p.keys, p.sessions, p.outbox, p.tickets
        );
        return Ok(());
    }
    tokio::select! {
        () = background(db, clock) => {}
        () = shutdown_signal() => tracing::info!("worker stopping"),
    }
    Ok(())
}

/// Background work: expire matches whose accept window closed (every half second), run a
/// matching round for live events with seekers waiting beside available seats (every 2 s:
/// the round a change asked for may not have run, see [`queue::catch_up`]), and purge old
/// rows (every minute; see [`purge`]). Safe to run in several processes at once: each
/// expiry and round runs under its event's matching lock, and each purge is one idempotent
/// DELETE.
async fn background(db: Db, clock: Arc<dyn Clock>) {
    let mut sweep_tick = tokio::time::interval(Duration::from_millis(500));
    sweep_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rounds_tick = tokio::time::interval(Duration::from_secs(2));
    rounds_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let rounds = queue::Rounds::default();
    let mut purge_tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = sweep_tick.tick() => {
                sweep(&db, &rounds, &clock).await;
            }
            _ = rounds_tick.tick() => {
                if let Err(e) = queue::catch_up(&db, &rounds, &*clock).await {
                    tracing::warn!(error = %e, "catching up on matching rounds failed");
                }
            }
            _ = purge_tick.tick() => {
                purge(&db, &clock).await;
            }
        }
    }
}

/// One pass of the match expiry sweeper; returns how many matches expired.
async fn sweep(db: &Db, rounds: &queue::Rounds, clock: &Arc<dyn Clock>) -> usize {
    match jobby_domain::usecases::matches::expire_due(db, rounds, &**clock).await {
        Ok(0) => 0,
        Ok(n) => {
            tracing::info!(expired = n, "matches expired");
            n
        }
        Err(e) => {
            tracing::warn!(error = %e, "expiring matches failed");
            0
        }
    }
}

/// How many rows one pass of the purges removed.
#[derive(Default)]
struct Purged {
    keys: u64,
    sessions: u64,
    outbox: u64,
    tickets: u64,
}

/// One pass of the purges: idempotency keys after a day, sessions once expired, outbox
/// records after a week, room tickets a day after they expired.
async fn purge(db: &Db, clock: &Arc<dyn Clock>) -> Purged {
    let now = clock.now();
    let store = db.inner();
    let count = |what: &str, r: Result<u64, jobby_domain::ports::StoreError>| match r {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "purging {what} failed");
            0
        }
    };
    let p = Purged {
        keys: count(
            "idempotency keys",
            store
                .purge_idempotency(now - idempotency::retention())
                .await,
        ),
        sessions: count("sessions", store.purge_sessions(now).await),
        outbox: count(
            "outbox records",
            store.purge_outbox(now - outbox::retention()).await,
        ),
        tickets: count(
            "room tickets",
            store
                .purge_room_tickets(now - room::ticket_retention())
                .await,
        ),
    };
    if p.keys + p.sessions + p.outbox + p.tickets > 0 {
        tracing::info!(
            keys = p.keys,
            sessions = p.sessions,
            outbox = p.outbox,
            tickets = p.tickets,
            "old rows purged"
        );
    }
    p
}

async fn admin(cmd: AdminCommand) -> Fallible<()> {
    let clock = SystemClock;
    match cmd {
        AdminCommand::CreateUser {
            store,
            email,
            password,
            name,
            account_type,
        } => {
            require_database(&store)?;
            let db = Db::new(open_store(&store).await?);
            let input = accounts::Signup {
                email,
                password,
                name,
                account_type,
            };
            let user = accounts::signup(&db, input, clock.now())
                .await
                .map_err(describe)?;
            println!("{}", user.id);
            Ok(())
        }
        AdminCommand::SetRateLimit {
            store,
            email,
            class,
            per_minute,
            reset,
        } => {
            require_database(&store)?;
            let db = Db::new(open_store(&store).await?);
            let per_minute = if reset { None } else { per_minute };
            let user = accounts::set_rate_limit(&db, &email, &class, per_minute, SystemClock.now())
                .await
                .map_err(describe)?;
            match per_minute {
                Some(n) => println!("{}: {class} limit is now {n}/min", user.email.as_str()),
                None => println!(
                    "{}: {class} limit is back to the default",
                    user.email.as_str()
                ),
            }
            Ok(())
        }
        AdminCommand::MintToken {
            store,
            email,
            name,
            scopes,
            expires_in_days,
        } => {
            require_database(&store)?;
            let db = Db::new(open_store(&store).await?);
            let email = Email::parse(&email).map_err(|m| format!("email {m}"))?;
            let user = db
                .read(move |r| {
                    Box::pin(async move {
                        r.user_by_email(&email)
                            .await
                            .map_err(jobby_domain::Error::from)
                    })
                })
                .await
                .map_err(describe)?
                .ok_or("no account with that email")?;
            let req = tokens::MintRequest {
                name,
                scopes,
                expires_in_days,
            };
            let now = clock.now();
            let (plain, _) = db
                .transaction(move |r| {
                    Box::pin(async move { tokens::mint(r, &user, req, now).await })
                })
                .await
                .map_err(describe)?;
            println!("{}", plain.expose());
            Ok(())
        }
    }
}

fn require_database(store: &StoreArgs) -> Fallible<()> {
    if store.database_url.is_none() {
        return Err(
            "DATABASE_URL is required: an in-memory store would forget this at exit".into(),
        );
    }
    Ok(())
}

fn describe(e: jobby_domain::Error) -> Box<dyn std::error::Error + Send + Sync> {
    match e {
        jobby_domain::Error::Validation(f) => {
            f.0.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; ")
                .into()
        }
        jobby_domain::Error::NotFound => "no account with that email".into(),
        other => other.to_string().into(),
    }
}

fn openapi(check: bool) -> Fallible<()> {
    let doc = jobby_http::openapi::document();
    if check {
        let problems = jobby_http::openapi::check(&doc);
        if !problems.is_empty() {
            return Err(format!(
                "the OpenAPI document and the route table disagree:\n  {}",
                problems.join("\n  ")
            )
            .into());
        }
    }
    print!("{doc}");
    Ok(())
}
