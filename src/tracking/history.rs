//! Reading events back: `history` (newest first, by cursor) and `count`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rusqlite::types::Value as SqlValue;
use rusqlite::Row;
use serde::Serialize;
use serde_json::Value;

use super::event::{Event, EventClient, EventType};
use super::Tracking;
use crate::error::{Error, Result};

/// Whose events, and which.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    /// A user's events (including anonymous ones linked by identify).
    pub user_id: Option<String>,
    /// An anonymous visitor's events.
    pub anonymous_id: Option<String>,
    /// A session's events.
    pub session_id: Option<String>,
    /// Only these types.
    pub types: Vec<EventType>,
    /// Only these names.
    pub names: Vec<String>,
    /// Only events at or after this time (ms).
    pub since: Option<i64>,
    /// Only events before this time (ms).
    pub until: Option<i64>,
}

/// A page of history.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    /// Events, newest first.
    pub events: Vec<Event>,
    /// Pass it back for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The default and the largest page.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest page.
pub const MAX_LIMIT: u32 = 1_000;

fn encode_cursor(ts: i64, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{ts}:{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, i64)> {
    let bad = || Error::invalid("cursor", "is not a cursor this engine issued");
    if cursor.len() > 64 {
        return Err(bad());
    }
    let text = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    let mut parts = text.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(ts), Some(id), None) => Ok((
            ts.parse().map_err(|_| bad())?,
            id.parse().map_err(|_| bad())?,
        )),
        _ => Err(bad()),
    }
}

/// The WHERE clause and parameters for a filter.
fn conditions(f: &HistoryFilter) -> Result<(String, Vec<SqlValue>)> {
    conditions_for(f, false)
}

/// [`conditions`]; with `all`, no subject means every event.
fn conditions_for(f: &HistoryFilter, all: bool) -> Result<(String, Vec<SqlValue>)> {
    let subjects = [
        ("user_id", &f.user_id),
        ("anonymous_id", &f.anonymous_id),
        ("session_id", &f.session_id),
    ];
    let given: Vec<_> = subjects.iter().filter(|(_, v)| v.is_some()).collect();
    let (mut sql, mut params) = match given.as_slice() {
        [(column, Some(id))] => {
            crate::kernel::text::check(column, id, 256)?;
            (
                format!("{column} = ?1"),
                vec![SqlValue::Text(id.to_string())],
            )
        }
        [] if all => ("1".to_owned(), Vec::new()),
        _ => {
            return Err(Error::invalid(
                "filter",
                if all {
                    "give at most one of userId, anonymousId and sessionId"
                } else {
                    "give exactly one of userId, anonymousId and sessionId"
                },
            ))
        }
    };
    if !f.types.is_empty() {
        let list: Vec<&str> = f.types.iter().map(|t| t.as_str()).collect();
        params.push(SqlValue::Text(
            serde_json::to_string(&list).unwrap_or_default(),
        ));
        sql += &format!(
            " AND type IN (SELECT value FROM json_each(?{}))",
            params.len()
        );
    }
    if !f.names.is_empty() {
        params.push(SqlValue::Text(
            serde_json::to_string(&f.names).unwrap_or_default(),
        ));
        sql += &format!(
            " AND name IN (SELECT value FROM json_each(?{}))",
            params.len()
        );
    }
    if let Some(since) = f.since {
        params.push(SqlValue::Integer(since));
        sql += &format!(" AND ts >= ?{}", params.len());
    }
    if let Some(until) = f.until {
        params.push(SqlValue::Integer(until));
        sql += &format!(" AND ts < ?{}", params.len());
    }
    Ok((sql, params))
}

const COLUMNS: &str = concat!(
    "id, ",
    crate::kernel::ids::uuid_text_sql!("event_id"),
    ", ts, type, name, user_id, anonymous_id, session_id, url, path, referrer, \
     properties, dimensions, ip_masked, browser, os, device, user_agent, sample_rate, received_at"
);

fn event(row: &Row<'_>) -> rusqlite::Result<(i64, Event)> {
    let json = |i: usize| -> rusqlite::Result<Option<Value>> {
        let text: Option<String> = row.get(i)?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    };
    Ok((
        row.get(0)?,
        Event {
            event_id: row.get(1)?,
            ts: row.get(2)?,
            event_type: row.get(3)?,
            name: row.get(4)?,
            user_id: row.get(5)?,
            anonymous_id: row.get(6)?,
            session_id: row.get(7)?,
            url: row.get(8)?,
            path: row.get(9)?,
            referrer: row.get(10)?,
            properties: json(11)?.unwrap_or(Value::Object(Default::default())),
            dimensions: json(12)?,
            client: EventClient {
                ip: row.get(13)?,
                browser: row.get(14)?,
                os: row.get(15)?,
                device: row.get(16)?,
            },
            user_agent: row.get(17)?,
            sample_rate: row.get(18)?,
            received_at: row.get(19)?,
        },
    ))
}

impl Tracking<'_> {
    /// The stored events of an anonymous id not linked to a user, oldest
    /// first: what a pipeline partition moves to the user's partition at an
    /// `identify`.
    pub fn events_of_anonymous(&self, anonymous_id: &str) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM events WHERE anonymous_id = ?1 AND user_id IS NULL ORDER BY id"
        ))?;
        let rows = stmt.query_map([anonymous_id], event)?;
        rows.map(|r| r.map(|(_, e)| e).map_err(Into::into))
            .collect()
    }

    /// The stored events of a user, oldest first: what a pipeline partition
    /// moves to the user's partition after a rectification renamed them.
    pub fn events_of_user(&self, user_id: &str) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM events WHERE user_id = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([user_id], event)?;
        rows.map(|r| r.map(|(_, e)| e).map_err(Into::into))
            .collect()
    }

    /// Events matching `filter`, newest first, `limit` (default 100, at most
    /// 1000) at a time. The cursor marks a place in the order (time, then
    /// insertion), so events inserted between pages never shift a page.
    pub fn history(
        &self,
        filter: &HistoryFilter,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<HistoryPage> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid("limit", format!("must be 1 to {MAX_LIMIT}")));
        }
        let (mut sql, mut params) = conditions(filter)?;
        if let Some(cursor) = cursor {
            let (ts, id) = decode_cursor(cursor)?;
            params.push(SqlValue::Integer(ts));
            params.push(SqlValue::Integer(id));
            sql += &format!(" AND (ts, id) < (?{}, ?{})", params.len() - 1, params.len());
        }
        params.push(SqlValue::Integer(i64::from(limit) + 1));
        let query = format!(
            "SELECT {COLUMNS} FROM events WHERE {sql} ORDER BY ts DESC, id DESC LIMIT ?{}",
            params.len()
        );
        let mut stmt = self.conn.prepare_cached(&query)?;
        let mut rows: Vec<(i64, Event)> = stmt
            .query_map(rusqlite::params_from_iter(params), event)?
            .collect::<Result<_, _>>()?;
        let next_cursor = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|(id, e)| encode_cursor(e.ts, *id))
        } else {
            None
        };
        Ok(HistoryPage {
            events: rows.into_iter().map(|(_, e)| e).collect(),
            next_cursor,
        })
    }

    /// How many events match `filter`: a subject's (at most one of
    /// `userId`, `anonymousId` and `sessionId`), or with none, every event;
    /// by `names`, `types` and a time range if given.
    pub fn count(&self, filter: &HistoryFilter) -> Result<u64> {
        let (sql, params) = conditions_for(filter, true)?;
        let n: i64 = self
            .conn
            .prepare_cached(&format!("SELECT count(*) FROM events WHERE {sql}"))?
            .query_row(rusqlite::params_from_iter(params), |r| r.get(0))?;
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn cursors_round_trip_and_forgeries_are_refused() {
        assert_eq!(decode_cursor(&encode_cursor(17, 4)).unwrap(), (17, 4));
        for bad in [
            "",
            "!!",
            "djE6MTc",
            &URL_SAFE_NO_PAD.encode("v2:1:2"),
            &URL_SAFE_NO_PAD.encode("v1:x:2"),
            &"A".repeat(100),
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
