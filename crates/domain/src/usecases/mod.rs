//! One module per capability: each orchestrates ports, enforces the rules and returns typed
//! errors. Handlers parse, call one of these, and map the result.

pub mod accounts;
pub mod auth;
pub mod events;
pub mod idempotency;
pub mod matches;
pub mod profile;
pub mod queue;
pub mod token_uses;
pub mod tokens;
