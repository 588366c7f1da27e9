//! The outbox of domain events.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use jobby_domain::model::ids::{EventId, UserId};
use jobby_domain::model::outbox::{DomainEvent, Kind, OutboxRecord};
use jobby_domain::ports::StoreError;
use uuid::Uuid;

use super::corrupt;
use crate::schema::outbox;

#[derive(Queryable, Selectable)]
#[diesel(table_name = outbox, check_for_backend(Pg))]
pub(crate) struct OutboxRow {
    id: i64,
    kind: String,
    event_id: Option<Uuid>,
    user_ids: Vec<Uuid>,
    payload: serde_json::Value,
    created_at: DateTime<Utc>,
}

impl OutboxRow {
    pub(crate) fn into_record(self) -> Result<OutboxRecord, StoreError> {
        Ok(OutboxRecord {
            seq: self.id,
            event: DomainEvent {
                kind: Kind::parse(&self.kind).ok_or_else(|| corrupt(&self.kind))?,
                event_id: self.event_id.map(EventId::from_uuid),
                users: self.user_ids.into_iter().map(UserId::from_uuid).collect(),
                payload: self.payload,
                at: self.created_at,
            },
        })
    }
}
