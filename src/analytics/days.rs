//! Whole UTC days of the two hour rollups, each kept as one compact row of
//! `rollup_days` (schema version 18), so that a summary of many days reads
//! a row per day instead of a row per user or session and hour.
//!
//! A day's row holds what a summary counts of it: the events and the events
//! in sessions per sample rate, and each user's and session's highest rate
//! that day, users and sessions told apart by a 64-bit keyed hash of their
//! key ([`keyed_hash`] under the database's own key in `meta`): about 9
//! bytes a user or session, where the hour rows hold the key itself per
//! hour (a session key is 36 or more bytes). A summary of whole hours then
//! reads the hour rows of the hours at its ends and the day rows between,
//! and reads the hour rows of a day that has no row yet, which it then
//! writes.
//!
//! It is never stale: triggers on both hour rollups delete the row of a
//! day whenever a row of one of its hours is inserted, updated or deleted
//! (ingest, late events, erasure, anonymisation, identify, retention, SQL
//! an operator runs), in the same transaction. So a day row is written only
//! from the hour rows as they are, and erasure removes every day row that
//! counted the subject (`secure_delete` zeroes it). A row is written only
//! for a day before the clock's (today's changes at every ingest), only
//! when no transaction is open, and a failure to write (a read-only file, a
//! full disk) leaves the summary as it was computed and writes nothing.

use rusqlite::{params, Connection, OptionalExtension};

use super::query::{Resolved, HOUR_MS};
use super::rollup::{Highest, RowCounts, SummaryRows};
use super::traffic::SummaryTallies;
use crate::error::Result;
use crate::kernel::calendar::DAY_HOURS;
use crate::kernel::ids::{hex, id_hash_key, keyed_hash, random_bytes};
use crate::kernel::varint::{self, Reader};

/// The first byte of a day row's data.
const FORMAT: u8 = 1;

/// Fewer whole days than this in a range are read from the hour rows alone.
const MIN_DAYS: i64 = 2;

/// The events of the session rollup's rows at one rate, and those of its
/// rows with a session; each `None` when no such row was read.
type RateEvents = (Option<u64>, Option<u64>);

/// One day of both rollups, as a summary counts it.
#[derive(Debug, Default, PartialEq)]
struct Day {
    /// The distinct sample rates, ascending.
    rates: Vec<f64>,
    /// Per rate: the events of the session rollup's rows at that rate and
    /// those of its rows with a session, each `None` when no such row was
    /// read (so the summary's tallies hold exactly the weights they would
    /// from the hour rows).
    events: Vec<RateEvents>,
    /// Each user's hash and the index of their highest rate.
    users: Vec<(u64, u32)>,
    /// Each session's hash and the index of its highest rate.
    sessions: Vec<(u64, u32)>,
    /// How many hour rows of each rollup the day has.
    user_rows: u64,
    session_rows: u64,
}

/// A day as its hour rows are read: the users' and sessions' rows as
/// they come (sorted and merged at the end: a day has a few thousand, and
/// a sort of them costs less than a map), and the events per rate.
#[derive(Default)]
struct DayBuilder {
    users: Vec<(u64, f64)>,
    sessions: Vec<(u64, f64)>,
    /// Per rate's bits: events, events in sessions.
    events: Vec<(u64, RateEvents)>,
    user_rows: u64,
    session_rows: u64,
}

impl DayBuilder {
    fn user(&mut self, hash: u64, rate: f64) {
        self.user_rows += 1;
        self.users.push((hash, rate));
    }

    fn session(&mut self, hash: Option<u64>, rate: f64, n: u64) {
        self.session_rows += 1;
        let bits = rate.to_bits();
        // Almost always one rate (unsampled data): a linear search.
        let i = match self.events.iter().position(|(b, _)| *b == bits) {
            Some(i) => i,
            None => {
                self.events.push((bits, (None, None)));
                self.events.len() - 1
            }
        };
        let e = &mut self.events[i].1;
        e.0 = Some(e.0.unwrap_or(0).saturating_add(n));
        if let Some(hash) = hash {
            e.1 = Some(e.1.unwrap_or(0).saturating_add(n));
            self.sessions.push((hash, rate));
        }
    }

    fn finish(mut self) -> Day {
        let mut rates: Vec<f64> = self
            .users
            .iter()
            .chain(&self.sessions)
            .map(|(_, r)| *r)
            .chain(self.events.iter().map(|(b, _)| f64::from_bits(*b)))
            .collect();
        rates.sort_by(f64::total_cmp);
        rates.dedup_by(|a, b| a.to_bits() == b.to_bits());
        let index = |r: f64| {
            rates
                .binary_search_by(|x| x.total_cmp(&r))
                .expect("every rate is listed") as u32
        };
        let events = rates
            .iter()
            .map(|r| {
                let e = self.events.iter().find(|(b, _)| *b == r.to_bits());
                e.map(|(_, v)| *v).unwrap_or_default()
            })
            .collect();
        let users = highest(&mut self.users, index);
        let sessions = highest(&mut self.sessions, index);
        Day {
            events,
            users,
            sessions,
            user_rows: self.user_rows,
            session_rows: self.session_rows,
            rates,
        }
    }
}

/// Each key of `rows` once, with the index of its highest rate, in the
/// keys' order.
fn highest(rows: &mut [(u64, f64)], index: impl Fn(f64) -> u32) -> Vec<(u64, u32)> {
    rows.sort_unstable_by_key(|(h, _)| *h);
    let mut out: Vec<(u64, f64)> = Vec::with_capacity(rows.len());
    for &(h, r) in rows.iter() {
        match out.last_mut() {
            Some(last) if last.0 == h => last.1 = last.1.max(r),
            _ => out.push((h, r)),
        }
    }
    out.into_iter().map(|(h, r)| (h, index(r))).collect()
}

impl Day {
    /// The day's row data: [`FORMAT`], the rates, then per rate the events
    /// and events in sessions (each plus one, 0 for none), the row counts,
    /// the users and the sessions (each a count, then per item the hash in
    /// 8 bytes and the rate's index).
    fn encode(&self, fingerprint: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + 10 * (self.users.len() + self.sessions.len()));
        out.push(FORMAT);
        out.extend_from_slice(&fingerprint.to_le_bytes());
        varint::put(&mut out, self.rates.len() as u64);
        for r in &self.rates {
            out.extend_from_slice(&r.to_bits().to_le_bytes());
        }
        let some = |v: Option<u64>| v.map_or(0, |n| n.saturating_add(1));
        for (e, s) in &self.events {
            varint::put(&mut out, some(*e));
            varint::put(&mut out, some(*s));
        }
        varint::put(&mut out, self.user_rows);
        varint::put(&mut out, self.session_rows);
        for list in [&self.users, &self.sessions] {
            varint::put(&mut out, list.len() as u64);
            for (h, i) in list {
                out.extend_from_slice(&h.to_le_bytes());
                varint::put(&mut out, u64::from(*i));
            }
        }
        out
    }

    /// A day from [`Day::encode`]'s bytes under the key whose
    /// [`fingerprint`] is `fingerprint`; `None` for anything else: bytes
    /// written under another key (the key in `meta` changed), damaged,
    /// or holding what no day can (a rate outside (0, 1] or out of order,
    /// more events in sessions than events).
    fn decode(data: &[u8], fingerprint: u64) -> Option<Day> {
        let mut r = Reader::new(data);
        if r.byte()? != FORMAT || r.u64_le()? != fingerprint {
            return None;
        }
        let n = r.count()?;
        let mut rates: Vec<f64> = Vec::with_capacity(n);
        for _ in 0..n {
            let rate = f64::from_bits(r.u64_le()?);
            let ascending = rates.last().is_none_or(|last| *last < rate);
            if !(rate > 0.0 && rate <= 1.0 && ascending) {
                return None;
            }
            rates.push(rate);
        }
        let opt = |v: u64| v.checked_sub(1);
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            let (all, in_sessions) = (opt(r.varint()?), opt(r.varint()?));
            match (all, in_sessions) {
                (_, None) => {}
                (Some(all), Some(s)) if s <= all => {}
                _ => return None,
            }
            events.push((all, in_sessions));
        }
        let (user_rows, session_rows) = (r.varint()?, r.varint()?);
        let list = |r: &mut Reader<'_>| -> Option<Vec<(u64, u32)>> {
            let len = r.count()?;
            let mut out = Vec::with_capacity(len);
            for _ in 0..len {
                let h = r.u64_le()?;
                let i = u32::try_from(r.varint()?)
                    .ok()
                    .filter(|i| (*i as usize) < n)?;
                out.push((h, i));
            }
            Some(out)
        };
        let users = list(&mut r)?;
        let sessions = list(&mut r)?;
        r.is_done().then_some(Day {
            rates,
            events,
            users,
            sessions,
            user_rows,
            session_rows,
        })
    }

    /// Adds the day to what a summary counts.
    fn fold_into(&self, rows: &mut SummaryRows) {
        for (rate, (events, in_sessions)) in self.rates.iter().zip(&self.events) {
            let w = 1.0 / rate;
            if let Some(n) = events {
                rows.out.events.add_n(w, *n);
            }
            if let Some(n) = in_sessions {
                rows.out.in_sessions.add_n(w, *n);
            }
        }
        fold_keys(&self.users, &self.rates, &mut rows.users);
        fold_keys(&self.sessions, &self.rates, &mut rows.sessions);
        rows.counts.users += self.user_rows as usize;
        rows.counts.sessions += self.session_rows as usize;
    }
}

/// Keeps each key's highest rate; not inlined, so that a first query's
/// loop over many days runs optimised code after its first calls (see
/// `rollup::user_hour`).
#[inline(never)]
fn fold_keys(keys: &[(u64, u32)], rates: &[f64], into: &mut Highest) {
    into.add_all(keys.iter().map(|(h, i)| (*h, rates[*i as usize])));
}

/// Whether `[r.since, r.until)` holds a whole hour, which the rollups
/// answer for.
pub fn spans_an_hour(r: &Resolved) -> bool {
    first_hour(r.since) < r.until.div_euclid(HOUR_MS)
}

/// The first hour that starts at or after `ms`.
fn first_hour(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) + i64::from(ms.rem_euclid(HOUR_MS) != 0)
}

/// The summary of `[from, until)` (ms): from the day rows where a whole
/// day is inside, the hour rows for the other whole hours, and the events
/// (bots left out, as the rollups leave them) before the first whole hour
/// and after the last; the days read from hour rows get their row when
/// they are before `today` (a day number, UTC). Equal to
/// [`super::rollup::summary`] of the same hours, and to a read of the
/// events.
pub fn summary(
    conn: &Connection,
    from: i64,
    until: i64,
    today: i64,
) -> Result<(SummaryTallies, RowCounts)> {
    let (h0, h1) = (first_hour(from), until.div_euclid(HOUR_MS));
    if h0 >= h1 {
        let mut rows = SummaryRows::default();
        rows.read_events(conn, from, until, id_hash_key())?;
        return Ok(rows.finish());
    }
    // The whole days inside.
    let (d0, d1) = (
        (h0 + DAY_HOURS - 1).div_euclid(DAY_HOURS),
        h1.div_euclid(DAY_HOURS),
    );
    let key = if d1 - d0 >= MIN_DAYS {
        key(conn)?
    } else {
        None
    };
    // Day rows are read only under the key they were written with: with
    // none (too few days, or no key to be had), every key is hashed under
    // the process's key and no day row is read.
    let mut rows = SummaryRows::default();
    let edges = |rows: &mut SummaryRows, key| -> Result<()> {
        rows.read_events(conn, from, h0 * HOUR_MS, key)?;
        rows.read_events(conn, h1 * HOUR_MS, until, key)
    };
    let Some(key) = key else {
        edges(&mut rows, id_hash_key())?;
        rows.read_hours(conn, h0, h1, id_hash_key())?;
        return Ok(rows.finish());
    };
    edges(&mut rows, key)?;
    rows.read_hours(conn, h0, d0 * DAY_HOURS, key)?;
    rows.read_hours(conn, d1 * DAY_HOURS, h1, key)?;
    // The day rows there are, in day order, as written under this key.
    let fingerprint = fingerprint(key);
    let mut present: Vec<i64> = Vec::new();
    let mut held = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT day, data FROM rollup_days WHERE day >= ?1 AND day < ?2 ORDER BY day",
        )?;
        let mut read = stmt.query(params![d0, d1])?;
        while let Some(r) = read.next()? {
            let day: i64 = r.get(0)?;
            let data = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
            if let Some(d) = Day::decode(data, fingerprint) {
                held.push(d);
                present.push(day);
            }
        }
    }
    // The maps sized once for every key the rows hold (an upper bound:
    // a key of several days is counted once a day).
    rows.users.reserve(held.iter().map(|d| d.users.len()).sum());
    rows.sessions
        .reserve(held.iter().map(|d| d.sessions.len()).sum());
    for d in &held {
        d.fold_into(&mut rows);
    }
    drop(held);
    // The stretches between them (days with no row, or one this build
    // cannot read): their hour rows, one read each, so the cost follows
    // the rows there are, not the days the range names; then a row for
    // each of their days with hour rows that is before today.
    let mut made = Vec::new();
    let mut start = d0;
    for end in present.iter().copied().chain(std::iter::once(d1)) {
        if start < end {
            let built = build(conn, start, end, key)?;
            rows.users
                .reserve(built.iter().map(|(_, b)| b.users.len()).sum());
            rows.sessions
                .reserve(built.iter().map(|(_, b)| b.sessions.len()).sum());
            for (day, b) in built {
                b.fold_into(&mut rows);
                if day < today {
                    made.push((day, b.encode(fingerprint)));
                }
            }
        }
        start = end.saturating_add(1);
    }
    if !made.is_empty() {
        write(conn, &made);
    }
    Ok(rows.finish())
}

/// Most days built at once by [`write_missing`], so that its memory is a
/// week's keys whatever the number of days.
const WRITE_DAYS: i64 = 7;

/// Writes the day row of every day before `today` (a day number, UTC) that
/// has hour rows and no day row, so that the next summary after a restart
/// reads them instead of the hour rows; returns how many it wrote. What
/// the first summary over those days would write, done when an engine
/// that stored events closes. Nothing is written inside an open
/// transaction or without a key; a failed write writes none (the rows are
/// a copy, and a summary writes them later).
pub fn write_missing(conn: &Connection, today: i64) -> Result<usize> {
    if !conn.is_autocommit() {
        return Ok(0);
    }
    let mut present: Vec<i64> = conn
        .prepare_cached("SELECT day FROM rollup_days WHERE day < ?1")?
        .query_map([today], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    present.sort_unstable();
    // The gaps between the rows there are: with every day's row present,
    // two seeks, whatever the number of days.
    let mut missing = Vec::new();
    let mut from = i64::MIN;
    for until in present.iter().copied().chain(std::iter::once(today)) {
        if from < until {
            missing.extend(days_with_hours(conn, "rollup_user_hours", from, until)?);
            missing.extend(days_with_hours(conn, "rollup_session_hours", from, until)?);
        }
        from = until.saturating_add(1);
    }
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(0);
    }
    let Some(key) = key(conn)? else {
        return Ok(0);
    };
    let fingerprint = fingerprint(key);
    let mut written = 0;
    // Runs of consecutive missing days, at most a week each.
    let mut i = 0;
    while i < missing.len() {
        let start = missing[i];
        let mut end = start + 1;
        while i + 1 < missing.len() && missing[i + 1] == end && end - start < WRITE_DAYS {
            end += 1;
            i += 1;
        }
        i += 1;
        let made: Vec<(i64, Vec<u8>)> = build(conn, start, end, key)?
            .into_iter()
            .map(|(day, b)| (day, b.encode(fingerprint)))
            .collect();
        if write(conn, &made) {
            written += made.len();
        }
    }
    Ok(written)
}

/// The days of `[d0, d1)` with rows in `table` (an hour rollup), in order:
/// one seek on its primary key per day found, not a read of its rows.
fn days_with_hours(conn: &Connection, table: &str, d0: i64, d1: i64) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT hour FROM {table} WHERE hour >= ?1 AND hour < ?2 ORDER BY hour LIMIT 1"
    ))?;
    let until = d1.saturating_mul(DAY_HOURS);
    let (mut from, mut days) = (d0.saturating_mul(DAY_HOURS), Vec::new());
    while let Some(hour) = stmt
        .query_row(params![from, until], |r| r.get::<_, i64>(0))
        .optional()?
    {
        let day = hour.div_euclid(DAY_HOURS);
        days.push(day);
        from = day.saturating_add(1).saturating_mul(DAY_HOURS);
    }
    Ok(days)
}

/// The days of `[d0, d1)` that have hour rows, from them, in day order;
/// keys hashed under `key`.
fn build(conn: &Connection, d0: i64, d1: i64, key: (u64, u64)) -> Result<Vec<(i64, Day)>> {
    let (h0, h1) = (d0.saturating_mul(DAY_HOURS), d1.saturating_mul(DAY_HOURS));
    // Rows come in hour order (each rollup's key): a day's builder is the
    // last one or a new one for the users; the sessions look theirs up.
    let mut days: Vec<(i64, DayBuilder)> = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT hour, user_key, max_rate FROM rollup_user_hours WHERE hour >= ?1 AND hour < ?2 \
         ORDER BY hour",
    )?;
    let mut read = stmt.query(params![h0, h1])?;
    while let Some(r) = read.next()? {
        let day = r.get::<_, i64>(0)?.div_euclid(DAY_HOURS);
        user_row(r, key, builder(&mut days, day))?;
    }
    let mut stmt = conn.prepare_cached(
        "SELECT hour, session_key, rate, events FROM rollup_session_hours \
         WHERE hour >= ?1 AND hour < ?2 ORDER BY hour",
    )?;
    let mut read = stmt.query(params![h0, h1])?;
    while let Some(r) = read.next()? {
        let day = r.get::<_, i64>(0)?.div_euclid(DAY_HOURS);
        session_row(r, key, builder(&mut days, day))?;
    }
    Ok(days.into_iter().map(|(d, b)| (d, b.finish())).collect())
}

/// The builder of `day` in `days` (in day order), made if it has none.
fn builder(days: &mut Vec<(i64, DayBuilder)>, day: i64) -> &mut DayBuilder {
    let i = match days.last() {
        Some((d, _)) if *d == day => days.len() - 1,
        _ => match days.binary_search_by_key(&day, |(d, _)| *d) {
            Ok(i) => i,
            Err(i) => {
                days.insert(i, (day, DayBuilder::default()));
                i
            }
        },
    };
    &mut days[i].1
}

/// What a day row carries of the key its hashes were made under, so that
/// rows made under another key are not read.
fn fingerprint(key: (u64, u64)) -> u64 {
    keyed_hash(key, b"usertrail rollup_days")
}

/// One row of the user rollup into its day; not inlined (see
/// [`fold_keys`]).
#[inline(never)]
fn user_row(r: &rusqlite::Row<'_>, key: (u64, u64), day: &mut DayBuilder) -> Result<()> {
    let user = r.get_ref(1)?.as_bytes().map_err(rusqlite::Error::from)?;
    day.user(keyed_hash(key, user), r.get(2)?);
    Ok(())
}

/// One row of the session rollup into its day; not inlined (see
/// [`fold_keys`]).
#[inline(never)]
fn session_row(r: &rusqlite::Row<'_>, key: (u64, u64), day: &mut DayBuilder) -> Result<()> {
    let session = r.get_ref(1)?.as_bytes().map_err(rusqlite::Error::from)?;
    let n: i64 = r.get(3)?;
    let hash = (!session.is_empty()).then(|| keyed_hash(key, session));
    day.session(hash, r.get(2)?, u64::try_from(n).unwrap_or(0));
    Ok(())
}

/// Writes the day rows `made`, in one transaction when none is open;
/// a failure writes none and is not the summary's (the rows are a copy).
/// True when they were written.
fn write(conn: &Connection, made: &[(i64, Vec<u8>)]) -> bool {
    if !conn.is_autocommit() {
        return false;
    }
    let run = || -> Result<()> {
        conn.execute_batch("BEGIN")?;
        let mut stmt =
            conn.prepare_cached("INSERT OR REPLACE INTO rollup_days (day, data) VALUES (?1, ?2)")?;
        for (day, data) in made {
            stmt.execute(params![day, data])?;
        }
        conn.execute_batch("COMMIT")?;
        Ok(())
    };
    let done = run();
    if done.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    done.is_ok()
}

/// The database's key for the day rows' hashes, made on first use (`meta`
/// key `rollup.day_key`, 32 hex digits), and made again when what is there
/// is not one (written by hand): the rows made under the old key are then
/// not read, and are written again. `None` when there is none and none
/// can be written now (a transaction is open, or the file is read only):
/// the summary then reads hour rows only.
fn key(conn: &Connection) -> Result<Option<(u64, u64)>> {
    let read = |conn: &Connection| -> Result<Option<(u64, u64)>> {
        let text: Option<String> = conn
            .prepare_cached("SELECT value FROM meta WHERE key = 'rollup.day_key'")?
            .query_row([], |r| r.get(0))
            .optional()?;
        Ok(text.and_then(|k| parse_key(&k)))
    };
    if let Some(k) = read(conn)? {
        return Ok(Some(k));
    }
    if !conn.is_autocommit() {
        return Ok(None);
    }
    let made = hex(&random_bytes::<16>());
    let written = conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('rollup.day_key', ?1)",
        [&made],
    );
    if written.is_err() {
        return Ok(None);
    }
    read(conn)
}

/// A day key as `meta` holds it: 32 hex digits.
fn parse_key(text: &str) -> Option<(u64, u64)> {
    if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let k = u128::from_str_radix(text, 16).ok()?;
    Some((k as u64, (k >> 64) as u64))
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn day() -> Day {
        let mut b = DayBuilder::default();
        b.user(7, 1.0);
        b.user(7, 0.5);
        b.user(9, 0.25);
        b.session(Some(3), 0.5, 4);
        b.session(Some(3), 1.0, 2);
        b.session(None, 0.25, 5);
        b.session(Some(4), 1.0, 0);
        b.finish()
    }

    #[test]
    fn a_day_reads_back_as_it_was_written() {
        let d = day();
        assert_eq!(d.rates, vec![0.25, 0.5, 1.0]);
        assert_eq!(
            d.events,
            vec![(Some(5), None), (Some(4), Some(4)), (Some(2), Some(2))]
        );
        assert_eq!((d.user_rows, d.session_rows), (3, 4));
        assert_eq!(Day::decode(&d.encode(7), 7), Some(d));
    }

    #[test]
    fn damaged_day_data_is_not_read() {
        let data = day().encode(7);
        assert!(Day::decode(&data, 7).is_some());
        assert_eq!(Day::decode(&data, 8), None, "written under another key");
        for cut in 0..data.len() {
            assert_eq!(Day::decode(&data[..cut], 7), None, "cut at {cut}");
        }
        let mut longer = data.clone();
        longer.push(0);
        assert_eq!(Day::decode(&longer, 7), None);
        let mut other = data.clone();
        other[0] = FORMAT + 1;
        assert_eq!(Day::decode(&other, 7), None);
        // A rate index past the rates.
        let mut b = DayBuilder::default();
        b.user(1, 1.0);
        let mut one = b.finish().encode(7);
        // The user's rate index, just before the sessions' count.
        let at = one.len() - 2;
        one[at] = 9;
        assert_eq!(Day::decode(&one, 7), None);
        // Rates no day can hold, or out of order (0.75 before 0.5); the
        // first rate's 8 bytes follow the format, the fingerprint and the
        // count.
        for bad in [0.0, -1.0, 1.5, f64::NAN, f64::INFINITY, 0.75] {
            let mut d = data.clone();
            d[10..18].copy_from_slice(&bad.to_bits().to_le_bytes());
            assert_eq!(Day::decode(&d, 7), None, "rate {bad}");
        }
        // More events in sessions than events.
        let mut b = DayBuilder::default();
        b.session(Some(1), 1.0, 3);
        let good = b.finish().encode(7);
        assert!(Day::decode(&good, 7).is_some());
        let mut d = good.clone();
        // The rate's events (3 + 1), then those in sessions (3 + 1).
        let at = 1 + 8 + 1 + 8;
        assert_eq!((d[at], d[at + 1]), (4, 4));
        d[at] = 2;
        assert_eq!(Day::decode(&d, 7), None);
    }
}
