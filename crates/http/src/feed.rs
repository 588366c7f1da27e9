//! The queue stream's fan-out. One reader per process follows the durable outbox (so changes
//! made by any process reach every process) and broadcasts each record; every open
//! `GET /queue/stream` listens, re-reads its seeker's status when a change touches it, and
//! sends the status when it differs from the last one sent.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Once};
use std::time::Duration;

use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt};
use jobby_domain::error::Error;
use jobby_domain::model::ids::{EventId, TokenId, UserId};
use jobby_domain::model::outbox::{Kind, OutboxRecord, Tail};
use jobby_domain::model::queue::{EntryState, QueueStatus};
use jobby_domain::ports::Db;
use jobby_domain::usecases::auth::Authenticator;
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until};

use crate::api::queue::QueueStatusBody;
use crate::lineups::{Entry, Lineups, MAX_AGE};

/// How the feed and its streams pace themselves.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// How often the outbox is read.
    pub poll: Duration,
    /// A comment line this often keeps proxies and clients from timing an idle stream out.
    pub heartbeat: Duration,
    /// Changes to other seekers of the same event (positions, queue length) re-read a
    /// stream's status at most this often; changes naming the seeker re-read it at once.
    pub settle: Duration,
    /// How long a hole in the outbox is waited for (see [`Tail`]).
    pub grace: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            poll: Duration::from_millis(100),
            heartbeat: Duration::from_secs(15),
            settle: Duration::from_millis(500),
            grace: Duration::from_secs(2),
        }
    }
}

/// Records held for streams that fall behind; a stream that lags further re-reads its status.
const BACKLOG: usize = 4096;
/// At start, this many positions below the head are checked for transactions still in
/// flight (see [`Tail::resume`]).
const START_WINDOW: i64 = 1000;
/// A stream that cannot start following the outbox within this is refused (503).
const LISTEN_TIMEOUT: Duration = Duration::from_secs(5);
/// Open streams per token in one process; one more is refused until one closes.
pub const STREAMS_PER_TOKEN: usize = 5;

/// What the reader broadcasts.
#[derive(Clone, Debug)]
enum Change {
    Record(Arc<OutboxRecord>),
    /// A record may have been missed (an outbox hole was given up): re-read.
    Resync,
}
/// How long a given-up outbox position is looked at again for a late commit: far beyond
/// any commit that follows its outbox write (the write is the last of its transaction).
const LATE_WATCH: Duration = Duration::from_secs(60);
/// Records read from the outbox at a time.
const BATCH: usize = 1000;
/// Tells a client to reconnect after this many milliseconds if the stream drops.
const RETRY_MS: u64 = 3000;

pub struct Feed {
    db: Db,
    /// Told of every access change, and of how far the outbox was read.
    auth: Arc<Authenticator>,
    /// Told of every change, to forget the queue entries it names.
    lineups: Arc<Lineups>,
    timing: Timing,
    tx: broadcast::Sender<Change>,
    /// True once the reader has found the outbox head: changes after it reach listeners.
    following: watch::Sender<bool>,
    closing: watch::Sender<bool>,
    start: Once,
    /// Open streams by token.
    open: std::sync::Mutex<HashMap<TokenId, usize>>,
    /// Open streams in all.
    open_total: AtomicUsize,
}

/// A place among a token's open streams, given back when the stream ends.
pub struct StreamSlot {
    feed: Arc<Feed>,
    token: TokenId,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.feed.open_total.fetch_sub(1, AtomicOrdering::Relaxed);
        let mut open = self.feed.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.token) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.token);
            }
        }
    }
}

impl Feed {
    pub fn new(
        db: Db,
        auth: Arc<Authenticator>,
        lineups: Arc<Lineups>,
        timing: Timing,
    ) -> Arc<Self> {
        Arc::new(Feed {
            db,
            auth,
            lineups,
            timing,
            tx: broadcast::channel(BACKLOG).0,
            following: watch::channel(false).0,
            closing: watch::channel(false).0,
            start: Once::new(),
            open: std::sync::Mutex::default(),
            open_total: AtomicUsize::new(0),
        })
    }

    /// How often a stream may re-read its place for other seekers' changes: `settle`, and
    /// once more per thousand streams open in this process. A fair's queue moves with
    /// every match; with thousands listening, sending each of them every move would take
    /// the server's time from the changes themselves. A change to the seeker's own state is
    /// sent at once however many listen.
    fn settle(&self) -> Duration {
        let thousands = self.open_total.load(AtomicOrdering::Relaxed) / 1000;
        self.timing.settle * (1 + u32::try_from(thousands).unwrap_or(u32::MAX).min(9))
    }

    /// A place for one more stream of this token, or `None` when it has
    /// [`STREAMS_PER_TOKEN`] open here already.
    pub fn admit(self: &Arc<Self>, token: TokenId) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(token).or_insert(0);
        if *n >= STREAMS_PER_TOKEN {
            return None;
        }
        *n += 1;
        self.open_total.fetch_add(1, AtomicOrdering::Relaxed);
        Some(StreamSlot {
            feed: Arc::clone(self),
            token,
        })
    }

    /// Starts reading the outbox now rather than at the first stream, so access changes are
    /// heard from the start. Needs a Tokio runtime.
    pub fn start(self: &Arc<Self>) {
        self.start.call_once(|| {
            tokio::spawn(Arc::clone(self).follow());
        });
    }

    /// Ends every open stream with a `closing` event and stops reading. For shutdown.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Listens for changes, starting the reader on first use. Returns once changes committed
    /// from now on are sure to be heard, or fails when the outbox cannot be read.
    async fn listen(self: &Arc<Self>) -> Result<broadcast::Receiver<Change>, Error> {
        let rx = self.tx.subscribe();
        self.start();
        let mut following = self.following.subscribe();
        let mut closing = self.closing.subscribe();
        let ready = async {
            tokio::select! {
                _ = following.wait_for(|f| *f) => {}
                _ = closing.wait_for(|c| *c) => {}
            }
        };
        tokio::time::timeout(LISTEN_TIMEOUT, ready)
            .await
            .map_err(|_| {
                Error::Store(jobby_domain::ports::StoreError::Unavailable(
                    "the queue stream cannot read the outbox".into(),
                ))
            })?;
        Ok(rx)
    }

    /// Where to start: after the head, with the positions just below it that are not yet
    /// visible (transactions in flight) treated as holes.
    async fn start_tail(&self) -> Result<Tail, Error> {
        // The feed reads in (read-only) transactions: they use the whole pool, not the share
        // left to reads, so polls queueing for a connection never hold the feed back.
        self.db
            .transaction(|r| {
                Box::pin(async move {
                    let head = r.outbox_head().await?;
                    let low = head - START_WINDOW;
                    let known = r
                        .outbox_after(low, usize::try_from(START_WINDOW).unwrap_or(1000))
                        .await?;
                    Ok::<_, Error>((low, known.into_iter().map(|k| k.seq).collect::<Vec<_>>()))
                })
            })
            .await
            .map(|(low, known)| Tail::resume(low, known, self.timing.grace))
    }

    /// Forgets the cached tokens of accounts whose access changed, and the kept queue
    /// entries of everyone a change names, as soon as the change is visible (whatever holes
    /// lie below it).
    fn apply_changes(&self, records: &[OutboxRecord]) {
        for rec in records {
            if rec.event.kind == Kind::AccessChanged {
                self.auth.invalidate_users(&rec.event.users);
            }
        }
        self.lineups.changed(records);
    }

    /// Looks again at positions given up (a transaction that wrote there may still commit,
    /// and a change must not go unseen): what appeared is applied and forgotten, and
    /// positions watched for [`LATE_WATCH`] are dropped (their transaction rolled back).
    /// Answers whether the look succeeded.
    async fn check_late(&self, late: &mut Vec<(i64, std::time::Instant)>) -> bool {
        late.retain(|(_, since)| since.elapsed() < LATE_WATCH);
        if late.is_empty() {
            return true;
        }
        let seqs: Vec<i64> = late.iter().map(|(s, _)| *s).collect();
        let found = self
            .db
            .transaction(move |r| {
                Box::pin(async move { Ok::<_, Error>(r.outbox_at(&seqs).await?) })
            })
            .await;
        match found {
            Ok(records) => {
                self.apply_changes(&records);
                late.retain(|(s, _)| !records.iter().any(|r| r.seq == *s));
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading given-up outbox positions failed");
                false
            }
        }
    }

    async fn follow(self: Arc<Self>) {
        let mut closing = self.closing.subscribe();
        let mut tick = tokio::time::interval(self.timing.poll);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut tail: Option<Tail> = None;
        let mut late: Vec<(i64, std::time::Instant)> = vec![];
        loop {
            tokio::select! {
                _ = closing.wait_for(|c| *c) => return,
                _ = tick.tick() => {}
            }
            match &mut tail {
                None => match self.start_tail().await {
                    Ok(t) => {
                        tail = Some(t);
                        self.following.send_replace(true);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "queue stream: reading the outbox head failed");
                    }
                },
                Some(t) => {
                    let from = t.from();
                    let started = std::time::Instant::now();
                    let read: Result<Vec<OutboxRecord>, Error> = self
                        .db
                        .transaction(move |r| {
                            Box::pin(async move { Ok(r.outbox_after(from, BATCH).await?) })
                        })
                        .await;
                    match read {
                        Ok(batch) => {
                            let complete = batch.len() < BATCH;
                            self.apply_changes(&batch);
                            let (records, gave_up) = t.take(batch, std::time::Instant::now());
                            // No listeners is not an error: the change is simply unheard.
                            for rec in records {
                                let _ = self.tx.send(Change::Record(Arc::new(rec)));
                            }
                            if gave_up {
                                let now = std::time::Instant::now();
                                late.extend(t.drain_given_up().into_iter().map(|s| (s, now)));
                                let _ = self.tx.send(Change::Resync);
                            }
                            // Every access change committed before `started` is applied
                            // once the batch reached the head and no given-up position
                            // went unread.
                            if self.check_late(&mut late).await && complete {
                                self.auth.heard(started);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "queue stream: reading the outbox failed")
                        }
                    }
                }
            }
        }
    }
}

fn frame(event: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

fn status_json(s: QueueStatus) -> String {
    serde_json::to_string(&QueueStatusBody::from(s)).unwrap_or_else(|_| "{}".into())
}

/// One open stream: what it last sent and when it next re-reads.
struct Listener {
    db: Db,
    lineups: Arc<Lineups>,
    user: UserId,
    timing: Timing,
    rx: broadcast::Receiver<Change>,
    closing: watch::Receiver<bool>,
    /// Whether the caller may still listen (their token is not revoked or expired); asked
    /// at every heartbeat.
    allowed: Allowed,
    /// Held while the stream is open.
    slot: StreamSlot,
    heartbeat: tokio::time::Interval,
    /// The event the seeker was last seen queued in.
    event: Option<EventId>,
    /// The seeker's entry as last read, while no change naming them has been heard since:
    /// other seekers' changes then move only their place, which the lineup tells without
    /// reading the entry again.
    entry: Option<Entry>,
    last_sent: String,
    last_read: Instant,
    /// The next read.
    due: Option<Instant>,
    /// A read at or after this instant is still owed: it sees a lineup younger than the
    /// latest change to the seeker's event (see `lineups::MAX_AGE`).
    fresh_after: Option<Instant>,
    done: bool,
}

/// Asks whether the stream's caller may still listen.
pub type Allowed =
    Box<dyn Fn() -> futures_util::future::BoxFuture<'static, bool> + Send + Sync + 'static>;

impl Listener {
    fn schedule(&mut self, at: Instant) {
        self.due = Some(self.due.map_or(at, |d| d.min(at)));
    }

    /// A change to the seeker's event (not naming them): their place or the queue length
    /// may have moved. Read once the lineups have caught up with it, and no more often
    /// than `settle`.
    fn owe_fresh_read(&mut self) {
        let fresh = Instant::now() + MAX_AGE + Duration::from_millis(10);
        self.fresh_after = Some(self.fresh_after.map_or(fresh, |f| f.max(fresh)));
        self.schedule((self.last_read + self.slot.feed.settle()).max(fresh));
    }

    /// Waits for the next thing to send: a changed status, a heartbeat, or the closing event.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if self.done {
                return None;
            }
            if *self.closing.borrow_and_update() {
                self.done = true;
                return Some(frame("closing", r#"{"reason":"shutdown"}"#));
            }
            let due = self.due;
            tokio::select! {
                biased;
                changed = self.closing.changed() => {
                    if changed.is_err() {
                        // The feed is gone: nothing more will be heard.
                        self.closing = watch::channel(true).1;
                    }
                }
                got = self.rx.recv() => match got {
                    Ok(Change::Record(rec)) => {
                        if rec.event.users.contains(&self.user) {
                            // Their own state comes from their entry, always current.
                            self.entry = None;
                            self.schedule(Instant::now());
                        }
                        if rec.touches(self.user, self.event) {
                            self.owe_fresh_read();
                        }
                    }
                    // Missed some changes: whichever they were, read the status again.
                    Ok(Change::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.entry = None;
                        self.schedule(Instant::now());
                        self.owe_fresh_read();
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        self.done = true;
                        return None;
                    }
                },
                () = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    self.due = None;
                    self.last_read = Instant::now();
                    match self.fresh_after {
                        Some(f) if f > self.last_read => self.schedule(f),
                        _ => self.fresh_after = None,
                    }
                    let read = match self.entry {
                        // Only their place can have moved.
                        Some(entry) if entry.0.state == EntryState::Waiting => self
                            .lineups
                            .place(&self.db, &entry)
                            .await
                            .map(|s| (s, Some(entry))),
                        _ => self.lineups.status_and_entry(&self.db, self.user).await,
                    };
                    match read {
                        Ok((s, entry)) => {
                            self.entry = entry;
                            self.event = s.event_id;
                            let json = status_json(s);
                            if json != self.last_sent {
                                self.last_sent.clone_from(&json);
                                return Some(frame("status", &json));
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "queue stream: reading a status failed; retrying");
                            self.schedule(Instant::now() + self.timing.settle);
                        }
                    }
                }
                _ = self.heartbeat.tick() => {
                    if !(self.allowed)().await {
                        self.done = true;
                        return Some(frame("closing", r#"{"reason":"unauthorized"}"#));
                    }
                    return Some(Bytes::from_static(b": heartbeat\n\n"));
                }
            }
        }
    }
}

/// Opens a stream of `user`'s queue status: the current status at once, then a fresh one
/// on every change that alters it, a heartbeat comment while nothing changes, and a
/// `closing` event when the server shuts down or, at a heartbeat, when `allowed` says the
/// caller may no longer listen. Fails if the outbox or the first status cannot be read.
pub async fn status_stream(
    feed: &Arc<Feed>,
    db: Db,
    lineups: Arc<Lineups>,
    user: UserId,
    allowed: Allowed,
    slot: StreamSlot,
) -> Result<impl Stream<Item = Result<Bytes, Infallible>> + 'static, Error> {
    let rx = feed.listen().await?;
    let (first, entry) = lineups.status_and_entry(&db, user).await?;
    let event = first.event_id;
    let last_sent = status_json(first);
    let opening = Bytes::from(format!(
        "retry: {RETRY_MS}\nevent: status\ndata: {last_sent}\n\n"
    ));
    let timing = feed.timing;
    let mut heartbeat = interval_at(Instant::now() + timing.heartbeat, timing.heartbeat);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let listener = Listener {
        db,
        lineups,
        user,
        timing,
        rx,
        closing: feed.closing.subscribe(),
        allowed,
        slot,
        heartbeat,
        event,
        entry,
        last_sent,
        last_read: Instant::now(),
        due: None,
        fresh_after: None,
        done: false,
    };
    let rest = futures_util::stream::unfold(listener, |mut l| async move {
        l.next().await.map(|b| (Ok(b), l))
    });
    Ok(futures_util::stream::once(async move { Ok(opening) })
        .chain(rest)
        .boxed())
}
