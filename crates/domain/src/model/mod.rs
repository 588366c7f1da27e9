//! Types with their invariants, and the pure functions over them.

pub mod account;
pub mod event;
pub mod fields;
pub mod idempotency;
pub mod ids;
pub mod matches;
pub mod matching;
pub mod network;
pub mod outbox;
pub mod page;
pub mod profile;
pub mod queue;
pub mod ratelimit;
pub mod room;
pub mod scopes;
pub mod server_key;
pub mod session;
pub mod token;
