//! In-memory adapters: the embedded default (`cargo run` with no services) and the fast test
//! double. They pass the same contract suites as Postgres and Redis.

mod limiter;
mod store;

pub use limiter::MemoryRateLimiter;
pub use store::MemoryDatabase;
