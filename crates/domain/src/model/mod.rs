//! Types with their invariants, and the pure functions over them.

pub mod account;
pub mod fields;
pub mod idempotency;
pub mod ids;
pub mod network;
pub mod page;
pub mod profile;
pub mod ratelimit;
pub mod scopes;
pub mod session;
pub mod token;
