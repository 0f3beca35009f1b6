//! The events kept in memory beside SQLite, in the compact form the metrics
//! walk (`scan::Row`): built by the first query that can use it, appended with
//! the events stored since at each later query, and rebuilt after any event
//! was changed or deleted. Scans of unfiltered queries (the dashboards'
//! summary, top pages, funnels, paths, session durations) then read memory
//! instead of decoding every SQLite record again.
//!
//! What it costs: 40 bytes per event (a `scan::Row`, checked at compile time),
//! the numbering of users and sessions (about 16 bytes per distinct one),
//! and spare capacity after appends (up to as much again; a first read
//! allocates exactly). Beyond [`MAX_ROWS`] events it is dropped and queries
//! read SQLite as before.
//!
//! It is never stale: SQLite's update hook counts every `UPDATE` and
//! `DELETE` on `events` (erasure, anonymisation, rectification, retention,
//! a pipeline's dedupe), and a query that sees the count moved, or fewer
//! rows than before, rebuilds. Inserts are found by id: rows above the
//! highest id read. A transaction rolled back after a delete only costs a
//! rebuild. (SQLite skips the hook for a `DELETE` without `WHERE`, its
//! truncate optimisation; the engine never issues one, and a table emptied
//! that way shows as fewer rows than read, which rebuilds too unless more
//! were added since.)

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rusqlite::hooks::Action;
use rusqlite::Connection;

use super::query::USER_KEY;
use super::scan::{Events, Interner, Row};
use crate::error::Result;

/// Above this many events the projection is not kept (160 MB of rows).
pub const MAX_ROWS: usize = 4_000_000;

const _: () = assert!(
    std::mem::size_of::<Row>() == 40,
    "a projected event is 40 bytes"
);

/// One engine's projection of its events.
#[derive(Debug, Default)]
pub struct Projection {
    /// `UPDATE`s and `DELETE`s of events so far, counted by the update hook.
    changes: Arc<AtomicU64>,
    state: RefCell<Option<State>>,
}

#[derive(Debug)]
struct State {
    /// [`Projection::changes`] when built.
    changes: u64,
    /// The highest event id read.
    max_id: i64,
    /// Every event, by time then id, with session, page and bot filled in.
    rows: Vec<Row>,
    strings: Interner,
}

impl Projection {
    /// Installs the hook that tells the projection about changed events on
    /// `conn`, the engine's connection (the only one that writes it).
    pub fn watch(&self, conn: &mut Connection) -> Result<()> {
        let changes = Arc::clone(&self.changes);
        conn.update_hook(Some(
            move |action: Action, _db: &str, table: &str, _rowid: i64| {
                if action != Action::SQLITE_INSERT && table == "events" {
                    changes.fetch_add(1, Ordering::Relaxed);
                }
            },
        ))?;
        Ok(())
    }

    /// The events in `[from, until)`, bots left out when `bots_left_out`,
    /// only names in `names` when given, with sessions and pages only when
    /// asked: what [`super::scan::scan`] reads for an unfiltered query.
    /// `None` when the projection is not kept (too many events).
    pub(super) fn events(
        &self,
        conn: &Connection,
        window: (i64, i64),
        bots_left_out: bool,
        names: Option<&[String]>,
        need: (bool, bool),
    ) -> Result<Option<Events>> {
        let mut state = self.state.borrow_mut();
        self.refresh(conn, &mut state)?;
        let Some(s) = state.as_ref() else {
            return Ok(None);
        };
        let (from, until) = window;
        let (session, page) = need;
        let start = s.rows.partition_point(|r| r.ts < from);
        let end = s.rows.partition_point(|r| r.ts < until);
        let wanted: Option<Vec<u32>> =
            names.map(|n| n.iter().filter_map(|x| s.strings.get(x)).collect());
        let mut rows = Vec::with_capacity(end.saturating_sub(start));
        for &row in &s.rows[start..end.max(start)] {
            if bots_left_out && row.bot {
                continue;
            }
            let mut r = row;
            if let Some(w) = &wanted {
                if !w.contains(&r.name) {
                    continue;
                }
            }
            if !session {
                r.session = 0;
            }
            if !page {
                r.page = 0;
            }
            rows.push(r);
        }
        Ok(Some(Events {
            rows,
            strings: s.strings.without_numbers(),
        }))
    }

    /// Brings the state up to date: rebuilt if events changed or went,
    /// appended if some were stored, dropped if there are too many.
    fn refresh(&self, conn: &Connection, state: &mut Option<State>) -> Result<()> {
        let changes = self.changes.load(Ordering::Relaxed);
        let max_id: i64 = conn
            .prepare_cached("SELECT coalesce(max(id), 0) FROM events")?
            .query_row([], |r| r.get(0))?;
        let stale = match state.as_ref() {
            Some(s) => s.changes != changes || max_id < s.max_id,
            None => true,
        };
        if stale {
            *state = None;
            let mut s = State {
                changes,
                max_id: 0,
                rows: Vec::new(),
                strings: Interner::new(),
            };
            if !read_after(conn, &mut s, max_id)? {
                return Ok(());
            }
            *state = Some(s);
        } else if let Some(s) = state.as_mut() {
            if max_id > s.max_id && !read_after(conn, s, max_id)? {
                *state = None;
            }
        }
        Ok(())
    }
}

/// Reads the events with ids in `(s.max_id, upto]` into `s`, keeping the
/// rows ordered by time then id. False if that would pass [`MAX_ROWS`].
fn read_after(conn: &Connection, s: &mut State, upto: i64) -> Result<bool> {
    let most = usize::try_from(upto - s.max_id).unwrap_or(0);
    if s.rows.len() + most > MAX_ROWS {
        return Ok(false);
    }
    if s.rows.is_empty() {
        // A first read: no spare capacity.
        s.rows.reserve_exact(most);
    }
    let sql = format!(
        "SELECT ts, {USER_KEY}, session_id, name, CASE WHEN type = 'page' THEN COALESCE(path, url) END, \
         sample_rate, device IS 'bot' FROM events WHERE id > ?1 AND id <= ?2 ORDER BY id"
    );
    let start = s.rows.len();
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut it = stmt.query([s.max_id, upto])?;
    while let Some(r) = it.next()? {
        let row = Row {
            ts: r.get(0)?,
            user: s.strings.number(r.get_ref(1)?),
            session: s.strings.number(r.get_ref(2)?),
            name: s.strings.intern(r.get_ref(3)?),
            page: s.strings.intern(r.get_ref(4)?),
            extra: 0,
            rate: r.get(5)?,
            bot: r.get(6)?,
        };
        s.rows.push(row);
    }
    s.max_id = upto;
    let (old, new) = s.rows.split_at_mut(start);
    // Stable: equal times keep id order.
    if !new.is_sorted_by_key(|r| r.ts) {
        new.sort_by_key(|r| r.ts);
    }
    let in_order = match (old.last(), new.first()) {
        (Some(last), Some(first)) => first.ts >= last.ts,
        _ => true,
    };
    if !in_order {
        // Late events: merge, the older rows first at equal times (lower ids).
        let new: Vec<Row> = s.rows.split_off(start);
        let old = std::mem::take(&mut s.rows);
        s.rows.reserve_exact(old.len() + new.len());
        let mut old = old.into_iter().peekable();
        let mut new = new.into_iter().peekable();
        while let (Some(o), Some(n)) = (old.peek(), new.peek()) {
            let next = if o.ts <= n.ts { old.next() } else { new.next() };
            s.rows.extend(next);
        }
        s.rows.extend(old);
        s.rows.extend(new);
    }
    Ok(true)
}
