//! The rollups' rows of the hours queries asked for, kept in memory beside
//! the projection: the summary, active users, stickiness and retention of
//! an unfiltered whole-hour range then walk arrays instead of stepping
//! SQLite through every (user, hour) and (session, hour, rate) row and
//! hashing its key again at each query.
//!
//! What it holds: the rows of the span of hours read so far, with users
//! and sessions numbered by [`id_hash`] as [`super::rollup`] numbers them
//! (the numbering is dropped after the read), and the distinct sample
//! rates: 12 bytes per user row and 16 per session row, for at most
//! [`MAX_ROWS`] rows (64 MB). A query outside the span reads the wider span
//! again, unless the hours it adds hold no row (one probe of each rollup);
//! what is held stays until that read is done, so for a moment both are in
//! memory (at most twice the cap). A span whose rows pass the cap is not
//! read again until the engine is reopened, nor any span that contains
//! it (the last 16 such spans are remembered): those queries read the
//! rollups from SQLite as before, and what is held still answers the hours
//! it covers. A span that would fit alone but not with what is held is
//! read from SQLite too, while that is held.
//!
//! It is read by the second query that asks with the same data: the first
//! reads SQLite as before, so a first query after opening (or after a
//! change) costs no more, and a one-off report builds nothing.
//!
//! It is never stale, by the projection's rule: any `UPDATE` or `DELETE`
//! of an event (which every change of the rollups but an insert comes
//! with: erasure, anonymisation, identify, retention) or a new highest
//! event id (ingest) drops it, and the next query reads again.

use std::cell::{Cell, RefCell};

use rusqlite::{params, Connection};

use super::query::HOUR_MS;
use super::rollup::{Activity, RowCounts};
use super::scan::{DistinctWeights, FastMap, CHUNK_ROWS};
use super::traffic::SummaryTallies;
use crate::error::Result;
use crate::kernel::ids::id_hash;

/// Above this many rows (users' and sessions' together) the rollups are
/// not kept in memory.
pub const MAX_ROWS: usize = 4_000_000;

/// How many spans that held too many rows are remembered (the last ones).
const FAILED_SPANS: usize = 16;

/// A user's hour: the hour, the user's number and their highest rate (an
/// index into the rates).
#[derive(Debug, Clone, Copy)]
struct UserHour {
    hour: i32,
    user: u32,
    rate: u16,
}

/// A session's hour at one rate: the hour, the session's number (0: events
/// in no session), how many events and the rate (an index).
#[derive(Debug, Clone, Copy)]
struct SessionHour {
    hour: i32,
    session: u32,
    events: u32,
    rate: u16,
}

const _: () = assert!(std::mem::size_of::<UserHour>() == 12);
const _: () = assert!(std::mem::size_of::<SessionHour>() == 16);

/// The rows of hours `[span.0, span.1)`, each list in hour order.
#[derive(Debug)]
struct State {
    /// The projection's count of changed events when read.
    changes: u64,
    /// The highest event id when read.
    max_id: i64,
    span: (i64, i64),
    users: Vec<UserHour>,
    sessions: Vec<SessionHour>,
    rates: Vec<f64>,
    /// Users numbered, from 1.
    users_numbered: usize,
    /// Sessions numbered, from 1 (0 is no session).
    sessions_numbered: usize,
}

/// Why a read stopped: the rows do not fit the compact form or the cap.
struct NotKept;

/// What numbers the keys and rates of one read; dropped after it, so the
/// held rows cost no map (a wider span is read again whole).
#[derive(Default)]
struct Reader {
    users: FastMap<u64, u32>,
    sessions: FastMap<u64, u32>,
    rates: Rates,
    /// The rows expected (0: not known).
    sizes: RowCounts,
    /// The most rows kept.
    cap: usize,
}

/// The distinct sample rates of a read, each given a 16-bit index.
#[derive(Default)]
struct Rates {
    rates: Vec<f64>,
    index: FastMap<u64, u16>,
    last: Option<(u64, u16)>,
}

impl Rates {
    fn index(&mut self, rate: f64) -> std::result::Result<u16, NotKept> {
        // Most rows have the rate of the row before.
        if let Some((bits, i)) = self.last {
            if bits == rate.to_bits() {
                return Ok(i);
            }
        }
        if let Some(&i) = self.index.get(&rate.to_bits()) {
            self.last = Some((rate.to_bits(), i));
            return Ok(i);
        }
        let i = u16::try_from(self.rates.len()).map_err(|_| NotKept)?;
        self.rates.push(rate);
        self.index.insert(rate.to_bits(), i);
        Ok(i)
    }
}

impl Reader {
    /// A reader of at most `cap` rows whose arrays and maps hold `sizes`
    /// without growing.
    fn sized(sizes: RowCounts, cap: usize) -> Self {
        let mut r = Reader {
            sizes,
            cap,
            ..Reader::default()
        };
        r.users.reserve(sizes.distinct_users.min(cap));
        r.sessions.reserve(sizes.distinct_sessions.min(cap));
        r
    }

    /// Hours `[from, until)` of both rollups, stamped with `changes` and
    /// `max_id`.
    fn read(
        mut self,
        conn: &Connection,
        span: (i64, i64),
        (changes, max_id): (u64, i64),
    ) -> Result<std::result::Result<State, NotKept>> {
        let rates = &mut self.rates;
        let users = match read_numbered(
            conn,
            "SELECT hour, user_key, max_rate FROM rollup_user_hours \
             WHERE hour >= ?1 AND hour < ?2 ORDER BY hour",
            span,
            (self.sizes.users.min(self.cap), self.cap),
            &mut self.users,
            |r| user_row(r, rates),
            |r| &mut r.user,
        )? {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(e)),
        };
        let left = self.cap - users.len();
        let sessions = match read_numbered(
            conn,
            "SELECT hour, session_key, rate, events FROM rollup_session_hours \
             WHERE hour >= ?1 AND hour < ?2 ORDER BY hour",
            span,
            (self.sizes.sessions.min(left), left),
            &mut self.sessions,
            |r| session_row(r, rates),
            |r| &mut r.session,
        )? {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(State {
            changes,
            max_id,
            span,
            users,
            sessions,
            users_numbered: self.users.len(),
            sessions_numbered: self.sessions.len(),
            rates: self.rates.rates,
        }))
    }
}

/// The rows `sql` gives for hours `span`, each made by `row` with its
/// key's hash, in an array with room for `room` rows; not kept past
/// `most` rows, or when `row` refuses one. Rows are read a chunk at a time
/// and their keys numbered in `numbers` after each chunk (`key` says where
/// the number goes): a read of SQLite's next row between two updates of a
/// map of a million keys made each evict the other's memory from the
/// cache (as [`super::rollup`]'s summary found).
fn read_numbered<R>(
    conn: &Connection,
    sql: &str,
    (from, until): (i64, i64),
    (room, most): (usize, usize),
    numbers: &mut FastMap<u64, u32>,
    mut row: impl FnMut(&rusqlite::Row<'_>) -> Result<std::result::Result<(u64, R), NotKept>>,
    key: impl Fn(&mut R) -> &mut u32,
) -> Result<std::result::Result<Vec<R>, NotKept>> {
    let mut out = Vec::with_capacity(room);
    let mut chunk = Vec::with_capacity(CHUNK_ROWS);
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params![from, until])?;
    while let Some(r) = rows.next()? {
        let Ok(item) = row(r)? else {
            return Ok(Err(NotKept));
        };
        chunk.push(item);
        if chunk.len() == CHUNK_ROWS {
            number(numbers, &mut chunk, &mut out, &key);
            if out.len() > most {
                return Ok(Err(NotKept));
            }
        }
    }
    number(numbers, &mut chunk, &mut out, &key);
    if out.len() > most {
        return Ok(Err(NotKept));
    }
    // What the doubling left spare goes back.
    out.shrink_to_fit();
    Ok(Ok(out))
}

/// One row of the user rollup (hour, key, highest rate), with its key's
/// hash, to be numbered. A function of its own, not inlined into the loop
/// that reads, for the reason [`super::rollup`]'s `user_hour` gives: V8
/// optimises a function called per row after its first calls, but not a
/// long loop already running.
#[inline(never)]
fn user_row(
    r: &rusqlite::Row<'_>,
    rates: &mut Rates,
) -> Result<std::result::Result<(u64, UserHour), NotKept>> {
    let key = r.get_ref(1)?.as_bytes().map_err(rusqlite::Error::from)?;
    let hash = id_hash(key);
    let (Ok(hour), Ok(rate)) = (i32::try_from(r.get::<_, i64>(0)?), rates.index(r.get(2)?)) else {
        return Ok(Err(NotKept));
    };
    // Every user row has a key, so every one is numbered.
    Ok(Ok((
        hash,
        UserHour {
            hour,
            user: 1,
            rate,
        },
    )))
}

/// One row of the session rollup (hour, key, rate, events), with its key's
/// hash (0 for no session: not numbered); not inlined, as [`user_row`].
#[inline(never)]
fn session_row(
    r: &rusqlite::Row<'_>,
    rates: &mut Rates,
) -> Result<std::result::Result<(u64, SessionHour), NotKept>> {
    let key = r.get_ref(1)?.as_bytes().map_err(rusqlite::Error::from)?;
    let (hash, session) = if key.is_empty() {
        (0, 0)
    } else {
        (id_hash(key), 1)
    };
    // A count below zero counts nothing, as the rollup's reader takes it.
    let events = u32::try_from(r.get::<_, i64>(3)?.max(0));
    let (Ok(hour), Ok(rate), Ok(events)) = (
        i32::try_from(r.get::<_, i64>(0)?),
        rates.index(r.get(2)?),
        events,
    ) else {
        return Ok(Err(NotKept));
    };
    Ok(Ok((
        hash,
        SessionHour {
            hour,
            session,
            events,
            rate,
        },
    )))
}

/// Numbers the rows of `chunk` by their keys' hashes (from 1, in the order
/// met; a row whose number is 0 keeps it: no key, else it is replaced)
/// and moves them to `out`.
fn number<R>(
    numbers: &mut FastMap<u64, u32>,
    chunk: &mut Vec<(u64, R)>,
    out: &mut Vec<R>,
    key: impl Fn(&mut R) -> &mut u32,
) {
    for (hash, mut row) in chunk.drain(..) {
        let n = key(&mut row);
        if *n != 0 {
            let next = numbers.len() as u32 + 1;
            *n = *numbers.entry(hash).or_insert(next);
        }
        out.push(row);
    }
}

/// True when either rollup has a row in hours `[from, until)`: one probe
/// of each primary key.
fn any_rows(conn: &Connection, (from, until): (i64, i64)) -> Result<bool> {
    if from >= until {
        return Ok(false);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM rollup_user_hours WHERE hour >= ?1 AND hour < ?2) \
             OR EXISTS (SELECT 1 FROM rollup_session_hours WHERE hour >= ?1 AND hour < ?2)",
    )?;
    Ok(stmt.query_row(params![from, until], |r| r.get(0))?)
}

/// One engine's rollups in memory (see the module's documentation).
#[derive(Debug)]
pub struct Hours {
    state: RefCell<Option<State>>,
    /// The last [`FAILED_SPANS`] spans of hours whose rows passed the cap:
    /// not read again, nor any span that contains one.
    too_many: RefCell<Vec<(i64, i64)>>,
    /// The data (changes, highest id) a query last asked about while
    /// nothing was kept.
    asked: Cell<Option<(u64, i64)>>,
    /// [`MAX_ROWS`], or less for a test.
    cap: usize,
    /// What a read of SQLite last found for a span: the arrays and maps
    /// of a read of the same span are made that size at once, so they do
    /// not grow by doubling (each step a copy, and the old block left in
    /// the wasm heap, which never shrinks).
    counted: Cell<Option<((i64, i64), RowCounts)>>,
}

impl Default for Hours {
    fn default() -> Self {
        Self::with_cap(MAX_ROWS)
    }
}

impl Hours {
    /// Rollups in memory up to `cap` rows.
    fn with_cap(cap: usize) -> Self {
        Self {
            state: RefCell::default(),
            too_many: RefCell::default(),
            asked: Cell::new(None),
            cap,
            counted: Cell::new(None),
        }
    }

    /// Notes how many rows a read of SQLite found for hours `span`.
    pub(super) fn counted(&self, span: (i64, i64), counts: RowCounts) {
        self.counted.set(Some((span, counts)));
    }

    /// How many rows are held, and the span of hours they cover; `None`
    /// when none are.
    pub fn held(&self) -> Option<(usize, (i64, i64))> {
        self.state
            .borrow()
            .as_ref()
            .map(|s| (s.users.len() + s.sessions.len(), s.span))
    }

    /// Hours `[from, until)` of the rollups, given to `f`, when they are in
    /// memory or `load` says to read what is missing; `None` when they
    /// are not (or cannot be) kept. `changes` is the projection's count of
    /// changed events.
    pub(super) fn with<T>(
        &self,
        conn: &Connection,
        changes: u64,
        (from, until): (i64, i64),
        load: bool,
        f: impl FnOnce(Window<'_>) -> T,
    ) -> Result<Option<T>> {
        if from >= until {
            return Ok(None);
        }
        let max_id = crate::tracking::blocks::newest_id(conn)?;
        let mut state = self.state.borrow_mut();
        if state
            .as_ref()
            .is_some_and(|s| s.changes != changes || s.max_id != max_id)
        {
            *state = None;
        }
        let covered = state
            .as_ref()
            .is_some_and(|s| s.span.0 <= from && until <= s.span.1);
        if !covered {
            if !load {
                return Ok(None);
            }
            // Kept from the second query that asks for the same data on:
            // a first query (a dashboard's first card, a one-off report)
            // reads SQLite as it did, without building what it would use
            // once. A change of the data between two queries starts over.
            if state.is_none() && self.asked.get() != Some((changes, max_id)) {
                self.asked.set(Some((changes, max_id)));
                return Ok(None);
            }
            let span = match state.as_ref() {
                Some(s) => (from.min(s.span.0), until.max(s.span.1)),
                None => (from, until),
            };
            // A span that held too many rows is not read again, nor one
            // that contains it; what is held still answers its hours.
            if self
                .too_many
                .borrow()
                .iter()
                .any(|t| span.0 <= t.0 && t.1 <= span.1)
            {
                return Ok(None);
            }
            let widened = match state.as_mut() {
                // The hours it lacks hold no row (a retention's hours before
                // the dashboard's range, say): the span only widens.
                Some(s)
                    if !any_rows(conn, (span.0, s.span.0))?
                        && !any_rows(conn, (s.span.1, span.1))? =>
                {
                    s.span = span;
                    true
                }
                _ => false,
            };
            if !widened {
                // What is held stays until the wider read is done: a read
                // that fails or holds too many rows leaves it as it was.
                let sizes = match self.counted.get() {
                    Some((counted, sizes)) if counted == span => sizes,
                    _ => RowCounts::default(),
                };
                match Reader::sized(sizes, self.cap).read(conn, span, (changes, max_id))? {
                    Ok(s) => *state = Some(s),
                    Err(NotKept) => {
                        let mut failed = self.too_many.borrow_mut();
                        if failed.len() == FAILED_SPANS {
                            failed.remove(0);
                        }
                        failed.push(span);
                        return Ok(None);
                    }
                }
            }
        }
        let Some(s) = state.as_ref() else {
            return Ok(None);
        };
        let users = slice_of(&s.users, |r| r.hour, (from, until));
        let sessions = slice_of(&s.sessions, |r| r.hour, (from, until));
        Ok(Some(f(Window {
            users,
            sessions,
            rates: &s.rates,
            users_numbered: s.users_numbered,
            sessions_numbered: s.sessions_numbered,
        })))
    }
}

/// The rows of `rows` (in hour order) whose hour is in `[from, until)`.
fn slice_of<R>(rows: &[R], hour: impl Fn(&R) -> i32, (from, until): (i64, i64)) -> &[R] {
    let start = rows.partition_point(|r| i64::from(hour(r)) < from);
    let end = rows.partition_point(|r| i64::from(hour(r)) < until);
    &rows[start..end.max(start)]
}

/// The rollups' rows of a range of hours, in memory.
pub(super) struct Window<'a> {
    users: &'a [UserHour],
    sessions: &'a [SessionHour],
    rates: &'a [f64],
    users_numbered: usize,
    sessions_numbered: usize,
}

impl Window<'_> {
    /// What [`super::rollup::summary`] counts from SQLite for the same
    /// hours.
    pub fn summary(&self) -> SummaryTallies {
        let mut out = SummaryTallies::default();
        let mut users = DistinctWeights::new(self.users_numbered);
        for part in self.users.chunks(PART_ROWS) {
            add_users(&mut users, part, self.rates);
        }
        out.users = users.take();
        let mut sessions = DistinctWeights::new(self.sessions_numbered);
        for part in self.sessions.chunks(PART_ROWS) {
            add_sessions(&mut out, &mut sessions, part, self.rates);
        }
        out.sessions = sessions.take();
        out
    }

    /// What [`super::rollup::activity`] gives from SQLite for the same
    /// hours, in hour order.
    pub fn activity(&self) -> impl Iterator<Item = Activity> + '_ {
        self.users.iter().map(|r| {
            (
                i64::from(r.hour) * HOUR_MS,
                r.user,
                self.rates[r.rate as usize],
            )
        })
    }
}

/// Rows walked per call of [`add_users`] and [`add_sessions`]: in a fresh
/// wasm instance V8 runs a function in its baseline tier until it has been
/// called or looped enough, and cannot swap a loop already running, so the
/// first query after opening would walk millions of rows in one baseline
/// loop; called per part, the walk is optimised after its first parts.
const PART_ROWS: usize = 4096;

/// Counts users' rows into `users` (each user's highest rate).
#[inline(never)]
fn add_users(users: &mut DistinctWeights, rows: &[UserHour], rates: &[f64]) {
    for r in rows {
        users.add(r.user, rates[r.rate as usize]);
    }
}

/// Counts sessions' rows: events and events in sessions by weight into
/// `out`, each session's highest rate into `sessions`.
#[inline(never)]
fn add_sessions(
    out: &mut SummaryTallies,
    sessions: &mut DistinctWeights,
    rows: &[SessionHour],
    rates: &[f64],
) {
    for r in rows {
        let rate = rates[r.rate as usize];
        let w = 1.0 / rate;
        out.events.add_n(w, u64::from(r.events));
        if r.session != 0 {
            out.in_sessions.add_n(w, u64::from(r.events));
            sessions.add(r.session, rate);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two rollups and an events table, empty.
    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE events (id INTEGER PRIMARY KEY);
             CREATE TABLE rollup_user_hours (hour INTEGER NOT NULL, user_key TEXT NOT NULL,
                 events INTEGER NOT NULL, weight REAL NOT NULL, max_rate REAL NOT NULL,
                 PRIMARY KEY (hour, user_key)) WITHOUT ROWID;
             CREATE TABLE rollup_session_hours (hour INTEGER NOT NULL, session_key TEXT NOT NULL,
                 rate REAL NOT NULL, events INTEGER NOT NULL,
                 PRIMARY KEY (hour, session_key, rate)) WITHOUT ROWID;",
        )
        .unwrap();
        conn
    }

    fn user(conn: &Connection, hour: i64, key: &str, rate: f64) {
        conn.execute(
            "INSERT INTO rollup_user_hours VALUES (?1, ?2, 1, 1.0 / ?3, ?3)",
            params![hour, key, rate],
        )
        .unwrap();
    }

    fn session(conn: &Connection, hour: i64, key: &str, rate: f64, events: i64) {
        conn.execute(
            "INSERT INTO rollup_session_hours VALUES (?1, ?2, ?3, ?4)",
            params![hour, key, rate, events],
        )
        .unwrap();
    }

    /// The summary of hours `span` from memory (`None`: not held), with
    /// the events, users and sessions it counts.
    fn summary(h: &Hours, conn: &Connection, span: (i64, i64)) -> Option<(f64, f64, f64)> {
        h.with(conn, 0, span, true, |w| {
            let t = w.summary();
            (t.events.value(), t.users.value(), t.sessions.value())
        })
        .unwrap()
    }

    #[test]
    fn the_second_ask_reads_and_later_ones_answer_from_memory() {
        let conn = db();
        user(&conn, 10, "ann", 1.0);
        user(&conn, 11, "ann", 0.5);
        user(&conn, 11, "bob", 1.0);
        session(&conn, 10, "s1", 1.0, 3);
        session(&conn, 11, "s1", 0.5, 2);
        session(&conn, 11, "", 1.0, 4);
        let h = Hours::default();
        assert_eq!(
            summary(&h, &conn, (0, 24)),
            None,
            "the first ask reads SQLite"
        );
        assert_eq!(h.held(), None);
        // 3 + 2 × 2 + 4 events; ann (1.0 at best) and bob; s1 at 1.0.
        assert_eq!(summary(&h, &conn, (0, 24)), Some((11.0, 2.0, 1.0)));
        assert_eq!(h.held(), Some((6, (0, 24))));
        assert_eq!(summary(&h, &conn, (11, 12)), Some((8.0, 3.0, 2.0)));
        // Not asked to load, nothing held for another span: not answered.
        assert_eq!(
            h.with(&conn, 0, (30, 40), false, |_| ()).unwrap(),
            None,
            "not loaded"
        );
        // Another count of changes, or another highest id: dropped.
        assert_eq!(h.with(&conn, 1, (0, 24), false, |_| ()).unwrap(), None);
        assert_eq!(h.held(), None);
    }

    #[test]
    fn a_wider_span_is_read_again_unless_its_new_hours_are_empty() {
        let conn = db();
        user(&conn, 10, "ann", 1.0);
        session(&conn, 10, "s1", 1.0, 1);
        let h = Hours::default();
        summary(&h, &conn, (10, 11));
        assert_eq!(summary(&h, &conn, (10, 11)), Some((1.0, 1.0, 1.0)));
        // Rows changed behind its back (no event changed: white-box), so
        // a read again shows.
        conn.execute("UPDATE rollup_session_hours SET events = 5", [])
            .unwrap();
        // Hours 0..10 and 11..20 hold no row: the span only widens.
        assert_eq!(summary(&h, &conn, (0, 20)), Some((1.0, 1.0, 1.0)));
        assert_eq!(h.held(), Some((2, (0, 20))));
        // A row before the span: the wider span is read again, whole.
        user(&conn, -3, "bob", 1.0);
        assert_eq!(summary(&h, &conn, (-5, 20)), Some((5.0, 2.0, 1.0)));
        assert_eq!(h.held(), Some((3, (-5, 20))));
        // A row after it, in a session's hour only.
        session(&conn, 30, "s2", 1.0, 2);
        assert_eq!(summary(&h, &conn, (0, 31)), Some((7.0, 1.0, 2.0)));
        assert_eq!(h.held(), Some((4, (-5, 31))));
    }

    #[test]
    fn rows_past_the_cap_or_the_compact_form_are_not_kept() {
        let conn = db();
        for hour in 0..3 {
            user(&conn, hour, "ann", 1.0);
            session(&conn, hour, "s", 1.0, 1);
        }
        let h = Hours::with_cap(5);
        summary(&h, &conn, (0, 3));
        assert_eq!(summary(&h, &conn, (0, 3)), None, "6 rows, 5 kept at most");
        assert_eq!(h.held(), None);
        // A span inside it is read; one that contains it is not tried
        // again, and leaves what is held.
        assert_eq!(summary(&h, &conn, (0, 1)), Some((1.0, 1.0, 1.0)));
        assert_eq!(summary(&h, &conn, (0, 3)), None);
        assert_eq!(summary(&h, &conn, (-5, 10)), None);
        assert_eq!(h.held(), Some((2, (0, 1))));
        assert_eq!(summary(&h, &conn, (0, 1)), Some((1.0, 1.0, 1.0)));
        // A wider read that holds too many rows leaves what is held too.
        let h = Hours::with_cap(4);
        summary(&h, &conn, (1, 3));
        assert_eq!(summary(&h, &conn, (1, 3)), Some((2.0, 1.0, 1.0)));
        assert_eq!(summary(&h, &conn, (0, 3)), None, "6 rows, 4 kept at most");
        assert_eq!(h.held(), Some((4, (1, 3))));
        assert_eq!(summary(&h, &conn, (2, 3)), Some((1.0, 1.0, 1.0)));
        let h = Hours::with_cap(6);
        summary(&h, &conn, (0, 3));
        assert_eq!(summary(&h, &conn, (0, 3)), Some((3.0, 1.0, 1.0)));

        // An hour past 32 bits, a count past 32 bits, more rates than 16
        // bits number: the rows stay in SQLite.
        for bad in [
            "INSERT INTO rollup_user_hours VALUES (4294967296, 'x', 1, 1, 1)",
            "INSERT INTO rollup_session_hours VALUES (5, 'x', 1, 4294967296)",
        ] {
            let conn = db();
            conn.execute(bad, []).unwrap();
            let h = Hours::default();
            summary(&h, &conn, (0, i64::MAX));
            assert_eq!(summary(&h, &conn, (0, i64::MAX)), None, "{bad}");
        }
        let conn = db();
        conn.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 65537)
             INSERT INTO rollup_session_hours SELECT 1, 's' || i, 1.0 / i, 1 FROM n;",
        )
        .unwrap();
        let h = Hours::default();
        summary(&h, &conn, (0, 2));
        assert_eq!(summary(&h, &conn, (0, 2)), None, "65,537 rates");
        // A count below zero counts nothing, as the rollup's reader does.
        let conn = db();
        session(&conn, 1, "s", 1.0, -4);
        let h = Hours::default();
        summary(&h, &conn, (0, 2));
        assert_eq!(summary(&h, &conn, (0, 2)), Some((0.0, 0.0, 1.0)));
    }

    /// Two spans that each hold too many rows, neither containing the
    /// other (this week and last week, say): both are remembered, so
    /// asking for them in turn does not read up to the cap at each query
    /// (found by a review, when only the last was). The rollup table is
    /// dropped before the third ask: a read would show as an error.
    #[test]
    fn spans_that_held_too_many_rows_are_not_read_again_after_others() {
        let conn = db();
        for hour in (0..3).chain(10..13) {
            user(&conn, hour, "ann", 1.0);
            session(&conn, hour, "s", 1.0, 1);
        }
        let h = Hours::with_cap(5);
        summary(&h, &conn, (0, 3));
        assert_eq!(summary(&h, &conn, (0, 3)), None, "6 rows, 5 kept at most");
        assert_eq!(summary(&h, &conn, (10, 13)), None, "6 rows, 5 kept at most");
        conn.execute_batch("DROP TABLE rollup_user_hours").unwrap();
        for span in [(0, 3), (10, 13), (0, 13)] {
            let again = h.with(&conn, 0, span, true, |_| ());
            assert!(matches!(again, Ok(None)), "{span:?} read again: {again:?}");
        }
    }

    /// A read of a span that a read of SQLite counted makes its arrays
    /// that size at once; another span's read grows them as it goes.
    #[test]
    fn a_counted_span_is_read_into_arrays_of_its_size() {
        let conn = db();
        for hour in 0..50 {
            user(&conn, hour, &format!("u{hour}"), 1.0);
            session(&conn, hour, &format!("s{hour}"), 1.0, 1);
        }
        let counts = RowCounts {
            users: 50,
            sessions: 50,
            distinct_users: 50,
            distinct_sessions: 50,
        };
        let h = Hours::default();
        h.counted((0, 50), counts);
        summary(&h, &conn, (0, 50));
        assert_eq!(summary(&h, &conn, (0, 50)), Some((50.0, 50.0, 50.0)));
        let state = h.state.borrow();
        let s = state.as_ref().unwrap();
        assert_eq!((s.users.capacity(), s.sessions.capacity()), (50, 50));
        // Counts that are wrong (too low) cost growth, not answers.
        let h = Hours::default();
        h.counted((0, 50), RowCounts { users: 3, ..counts });
        summary(&h, &conn, (0, 50));
        assert_eq!(summary(&h, &conn, (0, 50)), Some((50.0, 50.0, 50.0)));
    }
}
