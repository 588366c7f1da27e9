//! How much work one process takes on at once. Past its capacity a server that accepts every
//! request serves all of them slowly: each holds memory and database connections while it
//! waits for the CPU, time-outs follow, clients retry, and throughput collapses. So requests
//! queue for a place before any work is done, and those that cannot have one soon are refused
//! at once with 503 `SERVER_BUSY` and a `Retry-After`, which costs next to nothing.
//!
//! Changes come first. A read (GET, HEAD) needs a read place and a place; a change needs a
//! place only, so reads can never hold more than their share and a change always finds room
//! beside them. Reads wait briefly for a place and are shed first; changes (a join, a decline,
//! an accept: what moves the queue) wait longer. While reads are being shed, or had to wait,
//! the queue status asks agents to poll less often ([`Admission::poll_interval`]).

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
    /// How long a read waits for a place before it is shed.
    pub read_wait: Duration,
    /// How long a change waits for a place before it is shed.
    pub change_wait: Duration,
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity {
            in_flight: 512,
            reads_in_flight: 256,
            read_wait: Duration::from_millis(500),
            change_wait: Duration::from_secs(5),
        }
    }
}

/// What a request is, for admission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Read,
    Change,
}

/// A request's place, given back when it is dropped.
#[derive(Debug)]
pub struct Place {
    _read: Option<OwnedSemaphorePermit>,
    _any: OwnedSemaphorePermit,
}

/// Refused: no place within the wait. Retry after this many seconds.
#[derive(Debug, PartialEq, Eq)]
pub struct Shed {
    pub retry_after: u32,
}

/// The seconds a well-behaved agent waits between polls when the server is not busy.
pub const POLL_INTERVAL: u32 = 5;
/// The same while reads wait for a place.
pub const POLL_INTERVAL_CROWDED: u32 = 10;
/// The same while reads are shed.
pub const POLL_INTERVAL_SHEDDING: u32 = 20;
/// How long waiting or shedding counts as the server's state.
const REMEMBERED: Duration = Duration::from_secs(10);

pub struct Admission {
    capacity: Capacity,
    any: Arc<Semaphore>,
    reads: Arc<Semaphore>,
    epoch: Instant,
    /// Milliseconds after `epoch` (plus one) of the last read that waited; 0 before any.
    waited_ms: AtomicU64,
    /// The same for the last request shed.
    shed_ms: AtomicU64,
    shed_reads: AtomicU64,
    shed_changes: AtomicU64,
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
        Admission {
            capacity: Capacity {
                in_flight,
                reads_in_flight: reads,
                ..capacity
            },
            any: Arc::new(Semaphore::new(in_flight)),
            reads: Arc::new(Semaphore::new(reads)),
            epoch: Instant::now(),
            waited_ms: AtomicU64::new(0),
            shed_ms: AtomicU64::new(0),
            shed_reads: AtomicU64::new(0),
            shed_changes: AtomicU64::new(0),
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

    /// Waits for a place for a request of this kind, or refuses it once its wait is over.
    pub async fn admit(&self, kind: Kind) -> Result<Place, Shed> {
        // Uncontended, a place is taken without waiting or reading the clock.
        if let Some(place) = self.try_admit(kind) {
            return Ok(place);
        }
        let wait = match kind {
            Kind::Read => self.capacity.read_wait,
            Kind::Change => self.capacity.change_wait,
        };
        if kind == Kind::Read {
            self.waited_ms.store(self.now_ms(), Ordering::Relaxed);
        }
        let deadline = tokio::time::Instant::now() + wait;
        let place = async {
            let read = match kind {
                Kind::Read => Some(self.reads.clone().acquire_owned().await.ok()?),
                Kind::Change => None,
            };
            let any = self.any.clone().acquire_owned().await.ok()?;
            Some(Place {
                _read: read,
                _any: any,
            })
        };
        match tokio::time::timeout_at(deadline, place).await {
            Ok(Some(place)) => Ok(place),
            _ => Err(self.shed(kind)),
        }
    }

    /// A place at once, if there is one.
    pub fn try_admit(&self, kind: Kind) -> Option<Place> {
        let read = match kind {
            Kind::Read => Some(self.reads.clone().try_acquire_owned().ok()?),
            Kind::Change => None,
        };
        let any = self.any.clone().try_acquire_owned().ok()?;
        Some(Place {
            _read: read,
            _any: any,
        })
    }

    fn shed(&self, kind: Kind) -> Shed {
        self.shed_ms.store(self.now_ms(), Ordering::Relaxed);
        match kind {
            Kind::Read => {
                self.shed_reads.fetch_add(1, Ordering::Relaxed);
                Shed {
                    retry_after: self.poll_interval(),
                }
            }
            Kind::Change => {
                self.shed_changes.fetch_add(1, Ordering::Relaxed);
                Shed { retry_after: 1 }
            }
        }
    }

    /// The seconds agents are asked to wait between status polls: [`POLL_INTERVAL`], more
    /// while reads had to wait for a place, most while reads were shed, in the last
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

    /// Requests shed so far: (reads, changes).
    pub fn shed_counts(&self) -> (u64, u64) {
        (
            self.shed_reads.load(Ordering::Relaxed),
            self.shed_changes.load(Ordering::Relaxed),
        )
    }

    /// Requests in flight now: (reads, all).
    pub fn in_flight(&self) -> (usize, usize) {
        (
            self.capacity.reads_in_flight - self.reads.available_permits(),
            self.capacity.in_flight - self.any.available_permits(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(in_flight: usize, reads: usize) -> Admission {
        Admission::new(Capacity {
            in_flight,
            reads_in_flight: reads,
            read_wait: Duration::from_millis(50),
            change_wait: Duration::from_millis(200),
        })
    }

    #[tokio::test]
    async fn reads_never_take_the_places_changes_need() {
        let a = small(3, 2);
        let r1 = a.admit(Kind::Read).await.unwrap();
        let _r2 = a.admit(Kind::Read).await.unwrap();
        assert_eq!(a.in_flight(), (2, 2));
        // The reads' share is full: the next read waits, then is shed …
        assert_eq!(
            a.admit(Kind::Read).await.unwrap_err(),
            Shed {
                retry_after: POLL_INTERVAL_SHEDDING
            }
        );
        // … while a change still finds its place.
        let c = a.admit(Kind::Change).await.unwrap();
        assert_eq!(a.in_flight(), (2, 3));
        // Every place is taken: a change waits, and is let in when one is given back.
        let (_, c2) = tokio::join!(
            async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                drop(c);
            },
            a.admit(Kind::Change)
        );
        let c2 = c2.unwrap();
        assert_eq!(a.in_flight(), (2, 3));
        assert_eq!(a.shed_counts(), (1, 0));
        drop((c2, r1));
        assert_eq!(a.in_flight(), (1, 1));
    }

    #[tokio::test]
    async fn a_change_is_shed_after_its_wait_and_told_to_retry_soon() {
        let a = small(1, 1);
        let _held = a.admit(Kind::Change).await.unwrap();
        let started = Instant::now();
        assert_eq!(
            a.admit(Kind::Change).await.unwrap_err(),
            Shed { retry_after: 1 }
        );
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(a.shed_counts(), (0, 1));
    }

    #[tokio::test]
    async fn the_poll_interval_grows_while_reads_wait_and_more_while_they_are_shed() {
        let a = small(4, 1);
        assert_eq!(a.poll_interval(), POLL_INTERVAL);
        let held = a.admit(Kind::Read).await.unwrap();
        let waiting = a.admit(Kind::Read);
        // A read that waited and got its place: crowded, not shedding.
        let (_, got) = tokio::join!(
            async {
                tokio::time::sleep(Duration::from_millis(10)).await;
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
            ..Capacity::default()
        });
        assert_eq!(a.capacity().reads_in_flight, 4);
        let z = Admission::new(Capacity {
            in_flight: 0,
            reads_in_flight: 0,
            ..Capacity::default()
        });
        assert_eq!(
            (z.capacity().in_flight, z.capacity().reads_in_flight),
            (1, 1)
        );
    }
}
