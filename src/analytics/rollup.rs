//! Reading the rollups that tracking keeps at ingest
//! ([`crate::tracking::rollup`]): active users, stickiness, retention and
//! summaries read them instead of the events when a query has no filters
//! and whole-hour boundaries.

use rusqlite::{params, Connection};

use super::query::{Resolved, HOUR_MS};
use super::scan::{Events, FastMap};
use super::traffic::SummaryTallies;
use crate::error::Result;
use crate::kernel::ids::{id_hash, id_hash_key, keyed_hash};

/// True when the rollup gives the same answer as the events for `q`: no
/// filters, and every boundary (range and offset) on a whole hour.
pub fn answers(q: &Resolved) -> bool {
    q.unfiltered() && q.since % HOUR_MS == 0 && q.until % HOUR_MS == 0 && q.offset_ms % HOUR_MS == 0
}

/// One (user, hour) with activity: the hour's start in ms, a user number
/// and the highest sample rate.
pub type Activity = (i64, u32, f64);

/// The rollup's rows for events already read (in time order; bots' rows
/// are skipped, as the rollup has none): one item per user and hour with the hour's start and the highest
/// rate, as [`activity`] reads them from SQLite. Rows come in time order,
/// so a user's hour is the last one seen for them or a new one: an array
/// indexed by user number tells which, with no map.
pub fn hourly(ev: &Events) -> Vec<Activity> {
    let mut last: Vec<(i64, usize)> = vec![(i64::MIN, 0); ev.strings.numbered() + 1];
    let mut out: Vec<Activity> = Vec::new();
    for row in ev.rows.iter().filter(|r| r.user != 0 && !r.bot) {
        let hour = row.ts.div_euclid(HOUR_MS);
        let u = row.user as usize;
        if u >= last.len() {
            last.resize(u + 1, (i64::MIN, 0));
        }
        match last[u] {
            (h, i) if h == hour => out[i].2 = out[i].2.max(row.rate),
            _ => {
                last[u] = (hour, out.len());
                out.push((hour * HOUR_MS, row.user, row.rate));
            }
        }
    }
    out
}

/// The activity in `[from, until)` from the rollup, with users numbered
/// from 1, given to `each` one item at a time as it is read, in hour order
/// (the primary key's: no sort).
pub fn activity(
    conn: &Connection,
    from: i64,
    until: i64,
    mut each: impl FnMut(Activity),
) -> Result<()> {
    // Users numbered by a 64-bit hash of their key, as scans number them
    // (`Interner::number`): no key is copied or compared.
    let mut users: FastMap<u64, u32> = FastMap::default();
    let mut stmt = conn.prepare_cached(
        "SELECT hour, user_key, max_rate FROM rollup_user_hours WHERE hour >= ?1 AND hour < ?2 \
         ORDER BY hour",
    )?;
    let mut rows = stmt.query(params![from.div_euclid(HOUR_MS), until.div_euclid(HOUR_MS)])?;
    while let Some(r) = rows.next()? {
        each(user_hour(r, &mut users)?);
    }
    Ok(())
}

/// One row of [`activity`]. A function of its own, not inlined into the
/// loop: in a fresh wasm instance V8 runs code in its baseline tier until a
/// function has been called or looped enough, and cannot swap the loop of
/// a call already running (no on-stack replacement), so a first query's
/// one long loop would run in the baseline tier throughout; a function
/// called per row is compiled optimised after its first calls.
#[inline(never)]
fn user_hour(r: &rusqlite::Row<'_>, users: &mut FastMap<u64, u32>) -> Result<Activity> {
    let key = r.get_ref(1)?.as_bytes().map_err(rusqlite::Error::from)?;
    let next = users.len() as u32 + 1;
    let id = *users.entry(id_hash(key)).or_insert(next);
    Ok((r.get::<_, i64>(0)? * HOUR_MS, id, r.get(2)?))
}

/// What a summary of `[from, until)` (whole hours) counts, from the two
/// rollups: events and events in sessions per sample rate, and each user's
/// and session's highest rate. Rows per user or session and hour, not per
/// event; users and sessions are told apart by a 64-bit hash of their key,
/// as scans number them.
pub fn summary(conn: &Connection, from: i64, until: i64) -> Result<(SummaryTallies, RowCounts)> {
    let mut rows = SummaryRows::default();
    rows.read_hours(
        conn,
        from.div_euclid(HOUR_MS),
        until.div_euclid(HOUR_MS),
        id_hash_key(),
    )?;
    Ok(rows.finish())
}

/// What a summary counts as the rollups' rows are read: the tallies of
/// events, each user's and session's highest rate by the hash of their key
/// (one map each, no list of the rows, which is what `activity` gives the
/// queries that bucket them), and how many rows were read.
#[derive(Default)]
pub(super) struct SummaryRows {
    /// Events and events in sessions (users and sessions come at the end).
    pub out: SummaryTallies,
    /// Each user's highest rate.
    pub users: Highest,
    /// Each session's highest rate (events in no session left out).
    pub sessions: Highest,
    /// Rows read (the distinct counts come at the end).
    pub counts: RowCounts,
}

impl SummaryRows {
    /// Counts the rows of both rollups at hours `[h0, h1)`, keys hashed
    /// under `key`.
    pub fn read_hours(
        &mut self,
        conn: &Connection,
        h0: i64,
        h1: i64,
        key: (u64, u64),
    ) -> Result<()> {
        if h0 >= h1 {
            return Ok(());
        }
        let mut stmt = conn.prepare_cached(
            "SELECT user_key, max_rate FROM rollup_user_hours WHERE hour >= ?1 AND hour < ?2",
        )?;
        let mut rows = stmt.query(params![h0, h1])?;
        while let Some(r) = rows.next()? {
            user_max(r, key, &mut self.users)?;
            self.counts.users += 1;
        }
        let mut stmt = conn.prepare_cached(
            "SELECT session_key, rate, events FROM rollup_session_hours WHERE hour >= ?1 AND hour < ?2",
        )?;
        let mut rows = stmt.query(params![h0, h1])?;
        while let Some(r) = rows.next()? {
            session_hour(r, key, &mut self.out, &mut self.sessions)?;
            self.counts.sessions += 1;
        }
        Ok(())
    }

    /// Counts the events of `[from, until)` (ms) as the rollups count
    /// them (bots left out, users by `user_id` or else `anonymous_id`, no
    /// session for none or `''`), keys hashed under `key`: for the ends of
    /// a range that are not whole hours.
    pub fn read_events(
        &mut self,
        conn: &Connection,
        from: i64,
        until: i64,
        key: (u64, u64),
    ) -> Result<()> {
        if from >= until {
            return Ok(());
        }
        let mut stmt = conn.prepare_cached(
            "SELECT coalesce(user_id, anonymous_id), coalesce(session_id, ''), sample_rate \
             FROM events WHERE ts >= ?1 AND ts < ?2 AND device IS NOT 'bot'",
        )?;
        let mut rows = stmt.query(params![from, until])?;
        while let Some(r) = rows.next()? {
            event_row(r, key, self)?;
        }
        Ok(())
    }

    /// The tallies, with users and sessions weighted by their highest
    /// rates, and the rows and distinct keys counted.
    pub fn finish(mut self) -> (SummaryTallies, RowCounts) {
        self.users.flush();
        self.sessions.flush();
        self.counts.distinct_users = self.users.map.len();
        self.counts.distinct_sessions = self.sessions.map.len();
        self.out.users = self.users.weights();
        self.out.sessions = self.sessions.weights();
        (self.out, self.counts)
    }
}

/// How many rows [`summary`] read from each rollup, and how many distinct
/// users and sessions they name: what a read of the same hours into memory
/// ([`super::hours`]) sizes its arrays and maps by.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct RowCounts {
    /// Rows of the user rollup.
    pub users: usize,
    /// Rows of the session rollup.
    pub sessions: usize,
    /// Distinct users among them.
    pub distinct_users: usize,
    /// Distinct sessions among them (events in no session left out).
    pub distinct_sessions: usize,
}

/// Each key's highest rate, the keys' updates gathered 65,536 at a time
/// and then applied to the map: a read of SQLite's next row between two
/// updates of a map of a million keys made each evict the other's memory
/// from the cache.
#[derive(Default)]
pub(super) struct Highest {
    map: FastMap<u64, f64>,
    chunk: Vec<(u64, f64)>,
}

impl Highest {
    /// Makes room for `n` more keys in the map.
    pub fn reserve(&mut self, n: usize) {
        self.map.reserve(n);
    }

    /// Keeps each rate of `keys` that is its key's highest yet, at once
    /// (keys already gathered, as a day row holds them: no SQLite read
    /// comes between two updates).
    pub fn add_all(&mut self, keys: impl Iterator<Item = (u64, f64)>) {
        for (key, rate) in keys {
            let e = self.map.entry(key).or_insert(rate);
            *e = e.max(rate);
        }
    }

    /// Keeps `rate` for `key` if it is the highest yet.
    pub fn add(&mut self, key: u64, rate: f64) {
        if self.chunk.capacity() == 0 {
            self.chunk.reserve_exact(super::scan::CHUNK_ROWS);
        }
        self.chunk.push((key, rate));
        if self.chunk.len() >= super::scan::CHUNK_ROWS {
            self.flush();
        }
    }

    fn flush(&mut self) {
        for (key, rate) in self.chunk.drain(..) {
            let e = self.map.entry(key).or_insert(rate);
            *e = e.max(rate);
        }
    }

    /// `1 / rate` for each key.
    fn weights<T: FromIterator<f64>>(mut self) -> T {
        self.flush();
        self.map.into_values().map(|r| 1.0 / r).collect()
    }
}

/// Counts one event for [`SummaryRows::read_events`], as its rollup rows
/// would count it; not inlined, for the reason [`user_hour`] gives.
#[inline(never)]
fn event_row(r: &rusqlite::Row<'_>, hash_key: (u64, u64), rows: &mut SummaryRows) -> Result<()> {
    let rate: f64 = r.get(2)?;
    let w = 1.0 / rate;
    rows.out.events.add(w);
    if let Some(user) = r
        .get_ref(0)?
        .as_bytes_or_null()
        .map_err(rusqlite::Error::from)?
    {
        rows.users.add(keyed_hash(hash_key, user), rate);
    }
    let session = r.get_ref(1)?.as_bytes().map_err(rusqlite::Error::from)?;
    if !session.is_empty() {
        rows.out.in_sessions.add(w);
        rows.sessions.add(keyed_hash(hash_key, session), rate);
    }
    Ok(())
}

/// Keeps one row of the user rollup's rate in `user_rate` for [`summary`];
/// not inlined, for the reason [`user_hour`] gives.
#[inline(never)]
fn user_max(r: &rusqlite::Row<'_>, hash_key: (u64, u64), user_rate: &mut Highest) -> Result<()> {
    let key = r.get_ref(0)?.as_bytes().map_err(rusqlite::Error::from)?;
    let rate: f64 = r.get(1)?;
    user_rate.add(keyed_hash(hash_key, key), rate);
    Ok(())
}

/// Counts one row of the session rollup into `out` and `session_rate`
/// for [`summary`]; not inlined, for the reason [`user_hour`] gives.
#[inline(never)]
fn session_hour(
    r: &rusqlite::Row<'_>,
    hash_key: (u64, u64),
    out: &mut SummaryTallies,
    session_rate: &mut Highest,
) -> Result<()> {
    let key = r.get_ref(0)?.as_bytes().map_err(rusqlite::Error::from)?;
    let rate: f64 = r.get(1)?;
    let n: i64 = r.get(2)?;
    let (w, n) = (1.0 / rate, u64::try_from(n).unwrap_or(0));
    out.events.add_n(w, n);
    if !key.is_empty() {
        out.in_sessions.add_n(w, n);
        session_rate.add(keyed_hash(hash_key, key), rate);
    }
    Ok(())
}
