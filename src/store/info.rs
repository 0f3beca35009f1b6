//! What a database holds, for operators: its size on the medium and the rows
//! of each table an app fills.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Store;
use crate::error::Result;

/// The tables [`Store::info`] counts, in the order it reports them.
pub const COUNTED_TABLES: [&str; 21] = [
    "events",
    "event_blocks",
    "event_block_spans",
    "event_block_names",
    "event_block_dims",
    "identities",
    "sessions",
    "prefs",
    "pref_history",
    "consents",
    "consent_ledger",
    "audit_log",
    "quarantine",
    "outbox",
    "experiments",
    "experiment_assignments",
    "rights_tombstones",
    "pipeline_tombstones",
    "rollup_user_hours",
    "rollup_session_hours",
    "rollup_days",
];

/// A database's size and row counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreInfo {
    /// SQLite's page size, in bytes.
    pub page_size: u64,
    /// Pages in the database.
    pub page_count: u64,
    /// Pages free for reuse (what `vacuum` would give back).
    pub free_pages: u64,
    /// `page_size * page_count`: the database's size, in bytes.
    pub bytes: u64,
    /// Rows per table (see [`COUNTED_TABLES`]).
    pub tables: BTreeMap<String, u64>,
    /// The oldest and newest event's time (ms), if any.
    pub events_from: Option<i64>,
    /// The newest event's time (ms), if any.
    pub events_to: Option<i64>,
}

impl Store {
    /// The database's size and the rows of each table in [`COUNTED_TABLES`].
    pub fn info(&self) -> Result<StoreInfo> {
        let conn = self.conn();
        let pragma = |name: &str| -> Result<u64> {
            let v: i64 = conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))?;
            Ok(v.max(0) as u64)
        };
        let page_size = pragma("page_size")?;
        let page_count = pragma("page_count")?;
        let free_pages = pragma("freelist_count")?;
        let mut tables = BTreeMap::new();
        for table in COUNTED_TABLES {
            let n: i64 =
                conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
            tables.insert(table.to_owned(), n.max(0) as u64);
        }
        let (events_from, events_to): (Option<i64>, Option<i64>) =
            conn.query_row("SELECT min(ts), max(ts) FROM events", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        Ok(StoreInfo {
            page_size,
            page_count,
            free_pages,
            bytes: page_size.saturating_mul(page_count),
            tables,
            events_from,
            events_to,
        })
    }
}
