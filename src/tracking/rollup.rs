//! The rollups kept up to date at ingest: one row per user (or anonymous
//! visitor) per UTC hour, in `rollup_user_hours`, and one per session, UTC
//! hour and sample rate, in `rollup_session_hours`. Tracking writes them in
//! the same transaction as the events they count, so they never disagree;
//! analytics reads them (active users, stickiness, retention, summaries)
//! when a query has no filters and whole-hour boundaries. Bots' events are
//! not in them. The functions below keep the users' rollup true when events
//! are deleted or change; the sessions' rollup is kept true by triggers on
//! the events table (schema version 14), whatever statement changes them.
//! Whatever changes an hour row deletes the row of its day in
//! `rollup_days` (schema version 18, see [`forget_days`]).

use rusqlite::{params, Connection};

use crate::error::Result;
use crate::kernel::calendar::{DAY_HOURS, HOUR_MS};
use crate::kernel::fastmap::FastMap;
use crate::kernel::useragent::DeviceClass;
use crate::tracking::Event;

/// What one ingest transaction adds, summed per (hour, user) so each pair
/// costs one write however many events it has: events, weight, highest
/// rate. Keyed by hour, then user, so an event of a pair already seen
/// looks its user up by `&str` and allocates nothing.
#[derive(Debug, Default)]
pub struct Pending {
    hours: FastMap<i64, FastMap<String, (i64, f64, f64)>>,
    /// Events per (hour, the rate's bits), then session key (`""` for
    /// none): a session's later events look it up by `&str`.
    sessions: FastMap<(i64, u64), FastMap<String, i64>>,
}

impl Pending {
    /// Counts one stored event. A bot's events are not counted: the
    /// rollups answer the queries that leave bots out (the default).
    pub fn add(&mut self, e: &Event) {
        if e.client.device.as_deref() == Some(DeviceClass::Bot.as_str()) {
            return;
        }
        let (ts, rate) = (e.ts, e.sample_rate);
        let hour = ts.div_euclid(HOUR_MS);
        let session = e.session_id.as_deref().unwrap_or_default();
        let sessions = self.sessions.entry((hour, rate.to_bits())).or_default();
        match sessions.get_mut(session) {
            Some(n) => *n += 1,
            None => {
                sessions.insert(session.to_owned(), 1);
            }
        }
        let Some(user) = e.user_id.as_deref().or(e.anonymous_id.as_deref()) else {
            return;
        };
        let users = self.hours.entry(hour).or_default();
        if !users.contains_key(user) {
            users.insert(user.to_owned(), (0, 0.0, 0.0));
        }
        let e = users.get_mut(user).expect("inserted above");
        e.0 += 1;
        e.1 += 1.0 / rate;
        e.2 = e.2.max(rate);
    }

    /// Writes the sums, inside the caller's transaction, and deletes the
    /// day rows (`rollup_days`) of the days they change.
    pub fn flush(self, tx: &Connection) -> Result<()> {
        let days = self
            .hours
            .keys()
            .chain(self.sessions.keys().map(|(hour, _)| hour))
            .map(|h| h.div_euclid(DAY_HOURS));
        forget_days(tx, days)?;
        if !self.sessions.is_empty() {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO rollup_session_hours (hour, session_key, rate, events) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (hour, session_key, rate) DO UPDATE SET \
                 events = events + excluded.events",
            )?;
            for ((hour, rate), sessions) in self.sessions {
                for (session, n) in sessions {
                    stmt.execute(params![hour, session, f64::from_bits(rate), n])?;
                }
            }
        }
        if self.hours.is_empty() {
            return Ok(());
        }
        let mut stmt = tx.prepare_cached(
            "INSERT INTO rollup_user_hours (hour, user_key, events, weight, max_rate) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (hour, user_key) DO UPDATE SET \
             events = events + excluded.events, weight = weight + excluded.weight, \
             max_rate = max(max_rate, excluded.max_rate)",
        )?;
        for (hour, users) in self.hours {
            for (user, (n, w, rate)) in users {
                stmt.execute(params![hour, user, n, w, rate])?;
            }
        }
        Ok(())
    }
}

/// The hours (UTC, not bots) of the events that `identify` of
/// `anonymous_id` gives a user id: those with it and no user id. Read
/// before the events change, for [`recount_hours`].
pub fn anonymous_hours(tx: &Connection, anonymous_id: &str) -> Result<Vec<i64>> {
    hours_of(
        tx,
        "SELECT DISTINCT ts / 3600000 FROM events \
         WHERE anonymous_id = ?1 AND user_id IS NULL AND device IS NOT 'bot'",
        anonymous_id,
    )
}

/// The hours (UTC, not bots) of the events with user id `user_id`: those a
/// rectification renames. Read before the events change, for
/// [`recount_hours`].
pub fn user_hours(tx: &Connection, user_id: &str) -> Result<Vec<i64>> {
    hours_of(
        tx,
        "SELECT DISTINCT ts / 3600000 FROM events WHERE user_id = ?1 AND device IS NOT 'bot'",
        user_id,
    )
}

fn hours_of(tx: &Connection, sql: &str, key: &str) -> Result<Vec<i64>> {
    let mut stmt = tx.prepare_cached(sql)?;
    let hours = stmt
        .query_map([key], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(hours)
}

/// Counts the rows of `keys` at `hours` again from the events, after the
/// events of those hours were re-keyed from one key to the other
/// (`identify` gave an anonymous id's events a user id, a rectification
/// renamed a user id). Rows at other hours are untouched, as their events
/// were, so the cost follows the re-keyed events, not the keys' history.
/// Exact where moving the old key's rows was not: an id can be one
/// subject's anonymous id and another's user id, and rows keyed by it count
/// both (found by a review: `identify("alice", "bob")` moved alice's own
/// rows to bob).
pub fn recount_hours(tx: &Connection, hours: &[i64], keys: [&str; 2]) -> Result<()> {
    if keys[0] == keys[1] {
        // No event changes key.
        return Ok(());
    }
    let rows: Vec<(i64, String)> = hours
        .iter()
        .flat_map(|&h| keys.iter().map(move |k| (h, (*k).to_owned())))
        .collect();
    recount(tx, &rows)
}

/// The (hour, user key) rollup rows that count the events `filter` (SQL
/// over `events`, with `?1` bound to `ids_json`) selects: those that
/// deleting the events changes. Read before the events go, then
/// [`recount`] after: a row whose events are all gone goes, and a row
/// whose key also counts events that stay (an id that is one subject's
/// linked anonymous id and another user's user id) keeps those.
pub fn rows_of(tx: &Connection, filter: &str, ids_json: &str) -> Result<Vec<(i64, String)>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT DISTINCT ts / 3600000 - (ts % 3600000 < 0), coalesce(user_id, anonymous_id) AS k \
         FROM events WHERE ({filter}) AND device IS NOT 'bot' AND k IS NOT NULL"
    ))?;
    let rows = stmt
        .query_map([ids_json], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Deletes the day rows (`rollup_days`, schema version 18: whole days of
/// both rollups that `analytics` writes from the hour rows and reads
/// instead of them) of `days`, each once, inside the caller's transaction:
/// what writes hour rows calls it for their days, so a day row never
/// disagrees with its hours.
pub fn forget_days(tx: &Connection, days: impl Iterator<Item = i64>) -> Result<()> {
    let mut days: Vec<i64> = days.collect();
    days.sort_unstable();
    days.dedup();
    let mut stmt = tx.prepare_cached("DELETE FROM rollup_days WHERE day = ?1")?;
    for d in days {
        stmt.execute([d])?;
    }
    Ok(())
}

/// Counts the rollup rows `rows` (hour, user key) again from the events,
/// inside the caller's transaction: a row whose events are all gone goes.
pub fn recount(tx: &Connection, rows: &[(i64, String)]) -> Result<()> {
    forget_days(tx, rows.iter().map(|(h, _)| h.div_euclid(DAY_HOURS)))?;
    let mut delete =
        tx.prepare_cached("DELETE FROM rollup_user_hours WHERE hour = ?1 AND user_key = ?2")?;
    // The key's events of the hour through the user and anonymous id
    // indexes (key, then time), not every event of the hour.
    let mut insert = tx.prepare_cached(
        "INSERT INTO rollup_user_hours (hour, user_key, events, weight, max_rate) \
         SELECT ?1, ?2, COUNT(*), SUM(1.0 / sample_rate), MAX(sample_rate) FROM ( \
             SELECT sample_rate FROM events \
             WHERE user_id = ?2 AND ts >= ?3 AND ts < ?4 AND device IS NOT 'bot' \
             UNION ALL \
             SELECT sample_rate FROM events \
             WHERE anonymous_id = ?2 AND user_id IS NULL AND ts >= ?3 AND ts < ?4 \
             AND device IS NOT 'bot' \
         ) HAVING COUNT(*) > 0",
    )?;
    for (hour, key) in rows {
        delete.execute(params![hour, key])?;
        insert.execute(params![hour, key, hour * HOUR_MS, (hour + 1) * HOUR_MS])?;
    }
    Ok(())
}

/// Counts every rollup row of `key` again from the events, after some of
/// the events it counts were deleted by a column other than the key (an
/// anonymous id and a user id can be the same text).
pub fn recount_key(tx: &Connection, key: &str) -> Result<()> {
    let rows: Vec<(i64, String)> = tx
        .prepare_cached("SELECT hour, user_key FROM rollup_user_hours WHERE user_key = ?1")?
        .query_map([key], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    recount(tx, &rows)
}

/// Rebuilds the rollup from the events, for after bulk deletes.
pub fn rebuild(tx: &Connection) -> Result<()> {
    tx.execute_batch(
        "DELETE FROM rollup_days;
         DELETE FROM rollup_user_hours;
         INSERT INTO rollup_user_hours (hour, user_key, events, weight, max_rate)
         SELECT ts / 3600000, COALESCE(user_id, anonymous_id), COUNT(*), SUM(1.0 / sample_rate),
                MAX(sample_rate)
         FROM events WHERE COALESCE(user_id, anonymous_id) IS NOT NULL AND device IS NOT 'bot'
         GROUP BY 1, 2;",
    )?;
    Ok(())
}

/// Forgets the rollup before `cutoff` (ms), after retention deleted the
/// events before it: whole hours go, and a partly deleted hour is recounted.
pub fn forget_before(tx: &Connection, cutoff: i64) -> Result<()> {
    let hour = cutoff.div_euclid(HOUR_MS);
    tx.prepare_cached("DELETE FROM rollup_days WHERE day <= ?1")?
        .execute([hour.div_euclid(DAY_HOURS)])?;
    tx.prepare_cached("DELETE FROM rollup_user_hours WHERE hour < ?1")?
        .execute([hour])?;
    if cutoff.rem_euclid(HOUR_MS) != 0 {
        tx.prepare_cached("DELETE FROM rollup_user_hours WHERE hour = ?1")?
            .execute([hour])?;
        tx.prepare_cached(
            "INSERT INTO rollup_user_hours (hour, user_key, events, weight, max_rate) \
             SELECT ?1, COALESCE(user_id, anonymous_id), COUNT(*), SUM(1.0 / sample_rate), MAX(sample_rate) \
             FROM events WHERE ts >= ?2 AND ts < ?3 AND COALESCE(user_id, anonymous_id) IS NOT NULL \
             AND device IS NOT 'bot' GROUP BY 2",
        )?
        .execute([hour, cutoff, (hour + 1) * HOUR_MS])?;
    }
    Ok(())
}
