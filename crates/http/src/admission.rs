//! How much work one process takes on at once. Past its capacity a server that accepts every
//! request serves all of them slowly: each holds memory and database connections while it
//! waits for the CPU, time-outs follow, clients retry, and throughput collapses. So requests
//! queue for a place before any work is done, and those that cannot have one soon are refused
//! at once with 503 `SERVER_BUSY` and a `Retry-After`, which costs next to nothing.
//!
//! Changes come first, and among them those that move the queue along. A read (GET, HEAD)
//! needs a read place and a place; a join needs a join place and a place; any other change
//! (a decline, an accept, a leave: what frees seats; and the opening of a queue stream, how a
//! waiting seeker hears of their match) needs a place only. So reads and joins never hold
//! more than their shares, and a decline always finds room beside them: under a flood of
//! arrivals the seats keep turning over. Reads wait briefly for a place and are shed first;
//! changes wait longer. While reads are shed, or wait long for a place, the queue status asks
//! agents to poll less often ([`Admission::poll_interval`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How much a process takes on.
#[derive(Clone, Copy, Debug)]
pub struct Capacity {
    /// Requests served at once.
    pub in_flight: usize,
    /// Of those, reads.
    pub reads_in_flight: usize,
    /// Of those, joins.
    pub joins_in_flight: usize,
    /// How long a read waits for a place before it is shed.
    pub read_wait: Duration,
    /// How long a join waits for a place before it is shed.
    pub join_wait: Duration,
    /// How long any other change waits for a place before it is shed.
    pub change_wait: Duration,
}

impl Capacity {
    /// `in_flight` places: reads and joins may each hold three eighths of them, so a quarter
    /// is always left to the other changes.
    pub fn of(in_flight: usize) -> Self {
        let share = (in_flight * 3 / 8).max(1);
        Capacity {
            in_flight,
            reads_in_flight: share,
            joins_in_flight: share,
            read_wait: Duration::from_millis(500),
            // Long enough that a flood of arrivals is mostly queued, not refused: every
            // refusal comes back a second later, and those retries take the time the
            // queue needs.
            join_wait: Duration::from_secs(2),
            change_wait: Duration::from_secs(2),
        }
    }
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity::of(128)
    }
}

/// What a request is, for admission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Read,
    /// A join: it makes the queue longer, and frees nothing.
    Join,
    /// Any other change.
    Change,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Read => "read",
            Kind::Join => "join",
            Kind::Change => "change",
        }
    }
}

/// A request's place, given back when it is dropped.
#[derive(Debug)]
pub struct Place {
    _share: Option<OwnedSemaphorePermit>,
    _any: OwnedSemaphorePermit,
}

/// Refused: no place within the wait. Retry after this many seconds.
#[derive(Debug, PartialEq, Eq)]
pub struct Shed {
    pub retry_after: u32,
}

/// The seconds a well-behaved agent waits between polls when the server is not busy.
pub const POLL_INTERVAL: u32 = 5;
/// The same while reads wait a while for a place (a quarter of their wait or more).
pub const POLL_INTERVAL_CROWDED: u32 = 10;
/// The same while reads are shed.
pub const POLL_INTERVAL_SHEDDING: u32 = 20;
/// How long waiting or shedding counts as the server's state.
const REMEMBERED: Duration = Duration::from_secs(10);

pub struct Admission {
    capacity: Capacity,
    any: Arc<Semaphore>,
    reads: Arc<Semaphore>,
    joins: Arc<Semaphore>,
    epoch: Instant,
    /// Milliseconds after `epoch` (plus one) of the last read that waited long; 0 before any.
    waited_ms: AtomicU64,
    /// The same for the last read shed.
    shed_ms: AtomicU64,
    /// Requests shed, by kind (read, join, change).
    shed: [AtomicU64; 3],
}

impl Default for Admission {
    fn default() -> Self {
        Self::new(Capacity::default())
    }
}

impl Admission {
    pub fn new(capacity: Capacity) -> Self {
        let in_flight = capacity.in_flight.max(1);
        let reads = capacity.reads_in_flight.clamp(1, in_flight);
        let joins = capacity.joins_in_flight.clamp(1, in_flight);
        Admission {
            capacity: Capacity {
                in_flight,
                reads_in_flight: reads,
                joins_in_flight: joins,
                ..capacity
            },
            any: Arc::new(Semaphore::new(in_flight)),
            reads: Arc::new(Semaphore::new(reads)),
            joins: Arc::new(Semaphore::new(joins)),
            epoch: Instant::now(),
            waited_ms: AtomicU64::new(0),
            shed_ms: AtomicU64::new(0),
            shed: Default::default(),
        }
    }

    pub fn capacity(&self) -> Capacity {
        self.capacity
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    fn recent(&self, at: &AtomicU64) -> bool {
        let at = at.load(Ordering::Relaxed);
        at != 0
            && self.now_ms().saturating_sub(at)
                < u64::try_from(REMEMBERED.as_millis()).unwrap_or(u64::MAX)
    }

    /// The share a kind is held to, if any.
    fn share(&self, kind: Kind) -> Option<&Arc<Semaphore>> {
        match kind {
            Kind::Read => Some(&self.reads),
            Kind::Join => Some(&self.joins),
            Kind::Change => None,
        }
    }

    /// Waits for a place for a request of this kind, or refuses it once its wait is over.
    pub async fn admit(&self, kind: Kind) -> Result<Place, Shed> {
        // Uncontended, a place is taken without waiting or reading the clock.
        if let Some(place) = self.try_admit(kind) {
            return Ok(place);
        }
        let wait = match kind {
            Kind::Read => self.capacity.read_wait,
            Kind::Join => self.capacity.join_wait,
            Kind::Change => self.capacity.change_wait,
        };
        let asked = tokio::time::Instant::now();
        let place = async {
            let share = match self.share(kind) {
                Some(s) => Some(s.clone().acquire_owned().await.ok()?),
                None => None,
            };
            let any = self.any.clone().acquire_owned().await.ok()?;
            Some(Place {
                _share: share,
                _any: any,
            })
        };
        match tokio::time::timeout_at(asked + wait, place).await {
            Ok(Some(place)) => {
                if kind == Kind::Read && asked.elapsed() >= wait / 4 {
                    self.waited_ms.store(self.now_ms(), Ordering::Relaxed);
                }
                Ok(place)
            }
            _ => Err(self.shed(kind)),
        }
    }

    /// A place at once, if there is one.
    pub fn try_admit(&self, kind: Kind) -> Option<Place> {
        let share = match self.share(kind) {
            Some(s) => Some(s.clone().try_acquire_owned().ok()?),
            None => None,
        };
        let any = self.any.clone().try_acquire_owned().ok()?;
        Some(Place {
            _share: share,
            _any: any,
        })
    }

    fn shed(&self, kind: Kind) -> Shed {
        self.shed[kind as usize].fetch_add(1, Ordering::Relaxed);
        match kind {
            Kind::Read => {
                self.shed_ms.store(self.now_ms(), Ordering::Relaxed);
                Shed {
                    retry_after: POLL_INTERVAL,
                }
            }
            Kind::Join | Kind::Change => Shed { retry_after: 1 },
        }
    }

    /// The seconds agents are asked to wait between status polls: [`POLL_INTERVAL`], more
    /// while reads waited long for a place, most while reads were shed, in the last
    /// [`REMEMBERED`].
    pub fn poll_interval(&self) -> u32 {
        if self.recent(&self.shed_ms) {
            POLL_INTERVAL_SHEDDING
        } else if self.recent(&self.waited_ms) {
            POLL_INTERVAL_CROWDED
        } else {
            POLL_INTERVAL
        }
    }

    /// Requests shed so far: reads, joins, other changes.
    pub fn shed_counts(&self) -> [u64; 3] {
        self.shed.each_ref().map(|n| n.load(Ordering::Relaxed))
    }

    /// Requests in flight now: (reads, joins, all).
    pub fn in_flight(&self) -> (usize, usize, usize) {
        (
            self.capacity.reads_in_flight - self.reads.available_permits(),
            self.capacity.joins_in_flight - self.joins.available_permits(),
            self.capacity.in_flight - self.any.available_permits(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(in_flight: usize, reads: usize, joins: usize) -> Admission {
        Admission::new(Capacity {
            in_flight,
            reads_in_flight: reads,
            joins_in_flight: joins,
            read_wait: Duration::from_millis(50),
            join_wait: Duration::from_millis(50),
            change_wait: Duration::from_millis(200),
        })
    }

    #[tokio::test]
    async fn reads_and_joins_never_take_the_places_other_changes_need() {
        let a = small(5, 2, 2);
        let r1 = a.admit(Kind::Read).await.unwrap();
        let _r2 = a.admit(Kind::Read).await.unwrap();
        let _j1 = a.admit(Kind::Join).await.unwrap();
        let _j2 = a.admit(Kind::Join).await.unwrap();
        assert_eq!(a.in_flight(), (2, 2, 4));
        // The reads' share is full: the next read waits, then is shed; so is a join …
        assert_eq!(
            a.admit(Kind::Read).await.unwrap_err(),
            Shed {
                retry_after: POLL_INTERVAL
            }
        );
        assert_eq!(
            a.admit(Kind::Join).await.unwrap_err(),
            Shed { retry_after: 1 }
        );
        // … while a decline still finds its place.
        let c = a.admit(Kind::Change).await.unwrap();
        assert_eq!(a.in_flight(), (2, 2, 5));
        // Every place is taken: a change waits, and is let in when one is given back.
        let (_, c2) = tokio::join!(
            async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                drop(c);
            },
            a.admit(Kind::Change)
        );
        let c2 = c2.unwrap();
        assert_eq!(a.in_flight(), (2, 2, 5));
        assert_eq!(a.shed_counts(), [1, 1, 0]);
        drop((c2, r1));
        assert_eq!(a.in_flight(), (1, 2, 3));
    }

    #[tokio::test]
    async fn a_change_is_shed_after_its_wait_and_told_to_retry_soon() {
        let a = small(1, 1, 1);
        let _held = a.admit(Kind::Change).await.unwrap();
        let started = Instant::now();
        assert_eq!(
            a.admit(Kind::Change).await.unwrap_err(),
            Shed { retry_after: 1 }
        );
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(a.shed_counts(), [0, 0, 1]);
    }

    #[tokio::test]
    async fn the_poll_interval_grows_while_reads_wait_and_more_while_they_are_shed() {
        let a = small(4, 1, 1);
        assert_eq!(a.poll_interval(), POLL_INTERVAL);
        // Joins shed say nothing of reads.
        let _join = a.admit(Kind::Join).await.unwrap();
        assert!(a.admit(Kind::Join).await.is_err());
        assert_eq!(a.poll_interval(), POLL_INTERVAL);
        let held = a.admit(Kind::Read).await.unwrap();
        let waiting = a.admit(Kind::Read);
        // A read that waited a while and got its place: crowded, not shedding.
        let (_, got) = tokio::join!(
            async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                drop(held);
            },
            waiting
        );
        let second = got.unwrap();
        assert_eq!(a.poll_interval(), POLL_INTERVAL_CROWDED);
        assert!(a.admit(Kind::Read).await.is_err());
        assert_eq!(a.poll_interval(), POLL_INTERVAL_SHEDDING);
        drop(second);
    }

    #[test]
    fn shares_are_kept_within_the_whole() {
        let a = Admission::new(Capacity {
            in_flight: 4,
            reads_in_flight: 10,
            joins_in_flight: 10,
            ..Capacity::default()
        });
        assert_eq!(
            (a.capacity().reads_in_flight, a.capacity().joins_in_flight),
            (4, 4)
        );
        let z = Admission::new(Capacity::of(0));
        assert_eq!(
            (
                z.capacity().in_flight,
                z.capacity().reads_in_flight,
                z.capacity().joins_in_flight
            ),
            (1, 1, 1)
        );
        let d = Capacity::default();
        assert_eq!(
            (d.in_flight, d.reads_in_flight, d.joins_in_flight),
            (128, 48, 48)
        );
    }
}
