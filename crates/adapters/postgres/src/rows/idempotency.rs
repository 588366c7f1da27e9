//! Idempotency keys.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;

use crate::schema::idempotency_keys;

/// An idempotency key as `claim_idempotency` reads it (under `FOR UPDATE`).
#[derive(Queryable, Selectable)]
#[diesel(table_name = idempotency_keys, check_for_backend(Pg))]
pub(crate) struct IdempotencyRow {
    pub(crate) fingerprint: Vec<u8>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) response_status: Option<i16>,
    pub(crate) response_content_type: Option<String>,
    pub(crate) response_body: Option<Vec<u8>>,
}
