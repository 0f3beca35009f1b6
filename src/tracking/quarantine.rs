//! The quarantine: events that failed their schema in quarantine mode, kept
//! to inspect, and to retry once the schema or the sender is fixed.

use serde::Serialize;
use serde_json::Value;

use super::event::EventInput;
use super::ingest::TrackStatus;
use super::{Tracking, TrackingError};
use crate::error::{Error, Result};

/// A quarantined event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quarantined {
    /// The quarantine entry's id, for `retry` and `discard`.
    pub id: i64,
    /// The event's id.
    pub event_id: String,
    /// When it was quarantined.
    pub received_at: i64,
    /// The error code it failed with.
    pub code: String,
    /// The field at fault.
    pub field: Option<String>,
    /// The error message.
    pub reason: String,
    /// The event as it was sent.
    pub event: Value,
}

impl Tracking<'_> {
    /// Quarantined events, oldest first.
    pub fn quarantine_list(&self, limit: Option<u32>) -> Result<Vec<Quarantined>> {
        let limit = limit.unwrap_or(100).clamp(1, 1_000);
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, event_id, received_at, code, field, reason, event FROM quarantine ORDER BY id LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            let event: String = r.get(6)?;
            Ok(Quarantined {
                id: r.get(0)?,
                event_id: r.get(1)?,
                received_at: r.get(2)?,
                code: r.get(3)?,
                field: r.get(4)?,
                reason: r.get(5)?,
                event: serde_json::from_str(&event).unwrap_or(Value::Null),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Tracks a quarantined event again, as the engine now validates. If it
    /// passes, it leaves the quarantine; if not, it stays, and the error says
    /// why.
    pub fn quarantine_retry(&self, id: i64) -> Result<TrackStatus> {
        let json: String = self
            .conn
            .query_row("SELECT event FROM quarantine WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .map_err(|_| {
                Error::from(TrackingError::NotFound {
                    what: format!("quarantined event {id}"),
                })
            })?;
        let input: EventInput = serde_json::from_str(&json).map_err(|e| {
            Error::from(crate::store::StoreError::Corrupt {
                detail: format!("quarantined event {id}: {e}"),
            })
        })?;
        let (_, status) = self.track_strict(input)?;
        self.conn
            .execute("DELETE FROM quarantine WHERE id = ?1", [id])?;
        Ok(status)
    }

    /// Deletes a quarantined event. Returns whether it was there.
    pub fn quarantine_discard(&self, id: i64) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM quarantine WHERE id = ?1", [id])?
            == 1)
    }
}
