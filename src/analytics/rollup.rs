//! The rollup kept up to date at ingest: one row per user per UTC hour
//! (`rollup_user_hours`). Active users, stickiness and retention read it
//! instead of the events when a query has no filters and whole-hour
//! boundaries.

use rusqlite::{params, Connection};

use super::query::{Resolved, HOUR_MS};
use super::scan::FastMap;
use crate::error::Result;

/// What one ingest transaction adds, summed per (hour, user) so each pair
/// costs one write however many events it has: events, weight, highest
/// rate. Keyed by hour, then user, so an event of a pair already seen
/// looks its user up by `&str` and allocates nothing.
#[derive(Debug, Default)]
pub struct Pending {
    hours: FastMap<i64, FastMap<String, (i64, f64, f64)>>,
}

impl Pending {
    /// Counts one stored event.
    pub fn add(&mut self, ts: i64, user_key: Option<&str>, rate: f64) {
        let Some(user) = user_key else { return };
        let hour = ts.div_euclid(HOUR_MS);
        let users = self.hours.entry(hour).or_default();
        if !users.contains_key(user) {
            users.insert(user.to_owned(), (0, 0.0, 0.0));
        }
        let e = users.get_mut(user).expect("inserted above");
        e.0 += 1;
        e.1 += 1.0 / rate;
        e.2 = e.2.max(rate);
    }

    /// Writes the sums, inside the caller's transaction.
    pub fn flush(self, tx: &Connection) -> Result<()> {
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

/// Moves an anonymous id's rows to the user it was identified as (part of
/// `identify`): those are exactly its events that had no user id.
pub(crate) fn move_subject(tx: &Connection, anonymous_id: &str, user_id: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO rollup_user_hours (hour, user_key, events, weight, max_rate) \
         SELECT hour, ?2, events, weight, max_rate FROM rollup_user_hours WHERE user_key = ?1 \
         ON CONFLICT (hour, user_key) DO UPDATE SET events = events + excluded.events, \
         weight = weight + excluded.weight, max_rate = max(max_rate, excluded.max_rate)",
        [anonymous_id, user_id],
    )?;
    tx.execute(
        "DELETE FROM rollup_user_hours WHERE user_key = ?1",
        [anonymous_id],
    )?;
    Ok(())
}

/// Rebuilds the rollup from the events, for after bulk deletes.
pub fn rebuild(tx: &Connection) -> Result<()> {
    tx.execute_batch(
        "DELETE FROM rollup_user_hours;
         INSERT INTO rollup_user_hours (hour, user_key, events, weight, max_rate)
         SELECT ts / 3600000, COALESCE(user_id, anonymous_id), COUNT(*), SUM(1.0 / sample_rate),
                MAX(sample_rate)
         FROM events WHERE COALESCE(user_id, anonymous_id) IS NOT NULL GROUP BY 1, 2;",
    )?;
    Ok(())
}

/// Forgets the rollup before `cutoff` (ms), after retention deleted the
/// events before it: whole hours go, and a partly deleted hour is recounted.
pub fn forget_before(tx: &Connection, cutoff: i64) -> Result<()> {
    let hour = cutoff.div_euclid(HOUR_MS);
    tx.prepare_cached("DELETE FROM rollup_user_hours WHERE hour < ?1")?
        .execute([hour])?;
    if cutoff.rem_euclid(HOUR_MS) != 0 {
        tx.prepare_cached("DELETE FROM rollup_user_hours WHERE hour = ?1")?
            .execute([hour])?;
        tx.prepare_cached(
            "INSERT INTO rollup_user_hours (hour, user_key, events, weight, max_rate) \
             SELECT ?1, COALESCE(user_id, anonymous_id), COUNT(*), SUM(1.0 / sample_rate), MAX(sample_rate) \
             FROM events WHERE ts >= ?2 AND ts < ?3 AND COALESCE(user_id, anonymous_id) IS NOT NULL \
             GROUP BY 2",
        )?
        .execute([hour, cutoff, (hour + 1) * HOUR_MS])?;
    }
    Ok(())
}

/// True when the rollup gives the same answer as the events for `q`: no
/// filters, and every boundary (range and offset) on a whole hour.
pub fn answers(q: &Resolved) -> bool {
    q.unfiltered() && q.since % HOUR_MS == 0 && q.until % HOUR_MS == 0 && q.offset_ms % HOUR_MS == 0
}

/// One (user, hour) with activity: the hour's start in ms, a user number
/// and the highest sample rate.
pub type Activity = (i64, u32, f64);

/// The activity in `[from, until)` from the rollup, with users numbered
/// from 1.
pub fn activity(conn: &Connection, from: i64, until: i64) -> Result<Vec<Activity>> {
    let mut users: FastMap<String, u32> = FastMap::default();
    let mut out = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT hour, user_key, max_rate FROM rollup_user_hours WHERE hour >= ?1 AND hour < ?2",
    )?;
    let mut rows = stmt.query(params![from.div_euclid(HOUR_MS), until.div_euclid(HOUR_MS)])?;
    while let Some(r) = rows.next()? {
        let key = r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
        let next = users.len() as u32 + 1;
        let id = match users.get(key) {
            Some(id) => *id,
            None => {
                users.insert(key.to_owned(), next);
                next
            }
        };
        out.push((r.get::<_, i64>(0)? * HOUR_MS, id, r.get(2)?));
    }
    Ok(out)
}
