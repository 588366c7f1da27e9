//! The queue stream's fan-out. One reader per process follows the durable outbox (so changes
//! made by any process reach every process) and broadcasts each record; every open
//! `GET /queue/stream` listens, re-reads its seeker's status when a change touches it, and
//! sends the status when it differs from the last one sent.

use std::convert::Infallible;
use std::sync::{Arc, Once};
use std::time::Duration;

use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt};
use jobby_domain::error::Error;
use jobby_domain::model::ids::{EventId, UserId};
use jobby_domain::model::outbox::{OutboxRecord, Tail};
use jobby_domain::model::queue::QueueStatus;
use jobby_domain::ports::Db;
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until};

use crate::api::queue::QueueStatusBody;
use crate::lineups::{Lineups, MAX_AGE};

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
/// Records read from the outbox at a time.
const BATCH: usize = 1000;
/// Tells a client to reconnect after this many milliseconds if the stream drops.
const RETRY_MS: u64 = 3000;

pub struct Feed {
    db: Db,
    timing: Timing,
    tx: broadcast::Sender<Arc<OutboxRecord>>,
    /// True once the reader has found the outbox head: changes after it reach listeners.
    following: watch::Sender<bool>,
    closing: watch::Sender<bool>,
    start: Once,
}

impl Feed {
    pub fn new(db: Db, timing: Timing) -> Arc<Self> {
        Arc::new(Feed {
            db,
            timing,
            tx: broadcast::channel(BACKLOG).0,
            following: watch::channel(false).0,
            closing: watch::channel(false).0,
            start: Once::new(),
        })
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// Ends every open stream with a `closing` event and stops reading. For shutdown.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    pub fn is_closed(&self) -> bool {
        *self.closing.borrow()
    }

    /// Listens for changes, starting the reader on first use. Returns once changes committed
    /// from now on are sure to be heard.
    async fn listen(self: &Arc<Self>) -> broadcast::Receiver<Arc<OutboxRecord>> {
        let rx = self.tx.subscribe();
        self.start.call_once(|| {
            tokio::spawn(Arc::clone(self).follow());
        });
        let mut following = self.following.subscribe();
        let mut closing = self.closing.subscribe();
        tokio::select! {
            _ = following.wait_for(|f| *f) => {}
            _ = closing.wait_for(|c| *c) => {}
        }
        rx
    }

    async fn follow(self: Arc<Self>) {
        let mut closing = self.closing.subscribe();
        let mut tick = tokio::time::interval(self.timing.poll);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut tail: Option<Tail> = None;
        loop {
            tokio::select! {
                _ = closing.wait_for(|c| *c) => return,
                _ = tick.tick() => {}
            }
            match &mut tail {
                None => match self
                    .db
                    .read(|r| Box::pin(async move { Ok::<_, Error>(r.outbox_head().await?) }))
                    .await
                {
                    Ok(head) => {
                        tail = Some(Tail::after(head, self.timing.grace));
                        self.following.send_replace(true);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "queue stream: reading the outbox head failed");
                    }
                },
                Some(t) => {
                    let from = t.from();
                    let read: Result<Vec<OutboxRecord>, Error> = self
                        .db
                        .read(move |r| {
                            Box::pin(async move { Ok(r.outbox_after(from, BATCH).await?) })
                        })
                        .await;
                    match read {
                        Ok(batch) => {
                            for rec in t.take(batch, std::time::Instant::now()) {
                                // No listeners is not an error: the record is simply unheard.
                                let _ = self.tx.send(Arc::new(rec));
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

async fn read_status(lineups: &Lineups, db: &Db, user: UserId) -> Result<QueueStatus, Error> {
    lineups.status(db, user).await
}

/// One open stream: what it last sent and when it next re-reads.
struct Listener {
    db: Db,
    lineups: Arc<Lineups>,
    user: UserId,
    timing: Timing,
    rx: broadcast::Receiver<Arc<OutboxRecord>>,
    closing: watch::Receiver<bool>,
    heartbeat: tokio::time::Interval,
    /// The event the seeker was last seen queued in.
    event: Option<EventId>,
    last_sent: String,
    last_read: Instant,
    due: Option<Instant>,
    done: bool,
}

impl Listener {
    fn schedule(&mut self, at: Instant) {
        self.due = Some(self.due.map_or(at, |d| d.min(at)));
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
                    Ok(rec) => {
                        if rec.event.users.contains(&self.user) {
                            self.schedule(Instant::now());
                        } else if rec.touches(self.user, self.event) {
                            // Late enough that the lineup read then is younger than this
                            // change (see `lineups::MAX_AGE`).
                            let fresh = Instant::now() + MAX_AGE + Duration::from_millis(10);
                            self.schedule((self.last_read + self.timing.settle).max(fresh));
                        }
                    }
                    // Missed some changes: whichever they were, read the status again.
                    Err(broadcast::error::RecvError::Lagged(_)) => self.schedule(Instant::now()),
                    Err(broadcast::error::RecvError::Closed) => {
                        self.done = true;
                        return None;
                    }
                },
                () = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    self.due = None;
                    self.last_read = Instant::now();
                    match read_status(&self.lineups, &self.db, self.user).await {
                        Ok(s) => {
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
                _ = self.heartbeat.tick() => return Some(Bytes::from_static(b": heartbeat\n\n")),
            }
        }
    }
}

/// Opens a stream of `user`'s queue status: the current status at once, then a fresh one
/// on every change that alters it, a heartbeat comment while nothing changes, and a
/// `closing` event when the server shuts down. Fails only if the first status cannot be
/// read.
pub async fn status_stream(
    feed: &Arc<Feed>,
    db: Db,
    lineups: Arc<Lineups>,
    user: UserId,
) -> Result<impl Stream<Item = Result<Bytes, Infallible>> + 'static, Error> {
    let rx = feed.listen().await;
    let first = read_status(&lineups, &db, user).await?;
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
        heartbeat,
        event,
        last_sent,
        last_read: Instant::now(),
        due: None,
        done: false,
    };
    let rest = futures_util::stream::unfold(listener, |mut l| async move {
        l.next().await.map(|b| (Ok(b), l))
    });
    Ok(futures_util::stream::once(async move { Ok(opening) })
        .chain(rest)
        .boxed())
}
