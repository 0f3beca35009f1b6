//! The users a `segment` keeps, from the packed blocks: those one of whose
//! first events (the events at the user's least time) passes the
//! segment's test. Each user's least time is read from the blocks; where
//! the test reads a field the blocks keep (the event's name, its type, or
//! a dimension from the dimensions kept beside each block,
//! [`crate::tracking::dims`]) it is answered in the same pass, and where
//! it reads another (a stored field such as `path` or `referrer`, or a
//! property) SQLite answers it for the events at the users' least times
//! alone, found by the time index: one search per distinct least time
//! instead of a read of every event.
//!
//! SQLite's scan answers the same question (`query::Query::resolve`: per
//! user, the least time and the least time of an event that passes, equal
//! when one of the first events passes), so every answer given here is the
//! one SQLite's gives.

use std::sync::Arc;

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use super::projection::{DimensionValues, MAX_UNPACKED_IDS};
use super::query::{SegmentField, SegmentTest, USER_KEY};
use super::scan::{FastMap, Interner};
use crate::error::Result;
use crate::kernel::fastmap::FastSet;
use crate::tracking::{blocks, EventType};

/// A user's first events so far: their time, and whether one passes.
#[derive(Clone, Copy)]
struct First {
    ts: i64,
    pass: bool,
}

/// What [`users`] found: the users who pass, every user's least time (by
/// the same hash) and the newest event id read, from which [`Held`] brings
/// them up to date.
pub(super) struct Found {
    /// The users one of whose first events passes.
    pub users: FastSet<u64>,
    least: FastMap<u64, i64>,
    max_id: i64,
}

/// The users, by [`Interner::hash`] of their key, one of whose first
/// events passes `seg`, read from every packed block and the rows no block
/// holds. `None` where the blocks cannot answer: many ids in
/// no block, a block that does not decode, that keeps no types (or a type
/// none of the four) for a segment on the type, or whose dimensions cannot
/// serve for one on a dimension; or a value SQLite cannot evaluate. The
/// caller reads SQLite.
pub(super) fn users(conn: &Connection, seg: &SegmentTest) -> Result<Option<Found>> {
    let max_id = blocks::newest_id(conn)?;
    let mut listed: Vec<i64> = conn
        .prepare_cached("SELECT first_id FROM event_blocks")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    listed.sort_unstable();
    if max_id - listed.len() as i64 * blocks::BLOCK_EVENTS > MAX_UNPACKED_IDS {
        return Ok(None);
    }
    if let SegmentField::Dimension(_) = seg.field {
        let missing: bool = conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM event_blocks b WHERE NOT EXISTS \
                 (SELECT 1 FROM event_block_dims d WHERE d.first_id = b.first_id))",
            )?
            .query_row([], |r| r.get(0))?;
        if missing {
            return Ok(None);
        }
    }
    let (column, path) = tested_sql(seg);
    let mut dims = match &seg.field {
        SegmentField::Dimension(p) => Some(DimensionValues::test(conn, p, &seg.equals)),
        _ => None,
    };
    let mut firsts: FastMap<u64, First> = FastMap::default();
    let mut note = |h: u64, ts: i64, pass: bool| {
        let f = firsts.entry(h).or_insert(First { ts, pass });
        if ts < f.ts {
            *f = First { ts, pass };
        } else if ts == f.ts {
            f.pass |= pass;
        }
    };
    // A name's or a type's answer, by its text: `CAST(… AS TEXT)` gives the
    // text the affinity of the columns, as SQLite's scan compares them.
    let mut answers: FastMap<String, bool> = FastMap::default();
    let mut answer = |text: &str| -> Result<bool> {
        if let Some(a) = answers.get(text) {
            return Ok(*a);
        }
        let a = conn
            .prepare_cached("SELECT CAST(?1 AS TEXT) = ?2")?
            .query_row(rusqlite::params![text, &seg.equals], |r| {
                Ok(r.get_ref(0)? == ValueRef::Integer(1))
            })?;
        answers.insert(text.to_owned(), a);
        Ok(a)
    };
    // Whether the blocks answer the test (or only give the least times).
    let in_blocks = matches!(
        seg.field,
        SegmentField::Name | SegmentField::Type | SegmentField::Dimension(_)
    );
    // A test the blocks do not answer is evaluated on the first events
    // alone, wherever they are.
    let tested = if in_blocks {
        format!("{column} = ?3")
    } else {
        "0".to_owned()
    };
    let loose_sql = format!(
        "SELECT ts, {USER_KEY}, {tested} FROM events WHERE id > ?1 AND id <= ?2 ORDER BY id"
    );
    // The rows in (after, upto] no block holds; false when one cannot be
    // evaluated.
    let loose = |after: i64, upto: i64, note: &mut dyn FnMut(u64, i64, bool)| -> Result<bool> {
        let mut stmt = conn.prepare_cached(&loose_sql)?;
        let mut params: Vec<&dyn rusqlite::ToSql> = vec![&after, &upto];
        if in_blocks {
            params.push(&seg.equals);
            if let Some(p) = &path {
                params.push(p);
            }
        }
        let Ok(mut rows) = stmt.query(params.as_slice()) else {
            return Ok(false);
        };
        loop {
            let row = match rows.next() {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(true),
                Err(_) => return Ok(false),
            };
            if let Some(h) = Interner::hash(row.get_ref(1)?) {
                note(h, row.get(0)?, row.get_ref(2)? == ValueRef::Integer(1));
            }
        }
    };
    let wanted = blocks::Wanted {
        user: true,
        session: false,
        page: false,
        name: seg.field == SegmentField::Name,
    };
    let mut stmt = conn.prepare_cached("SELECT data FROM event_blocks WHERE first_id = ?1")?;
    let mut scratch = Interner::new();
    let mut read = 0i64;
    for &first in &listed {
        if first - 1 > read && !loose(read, first - 1, &mut note)? {
            return Ok(None);
        }
        read = first + blocks::BLOCK_EVENTS - 1;
        let mut it = stmt.query([first])?;
        let Some(r) = it.next()? else {
            return Ok(None);
        };
        let data = r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
        let Some(block) = blocks::decode_columns(data, wanted) else {
            return Ok(None);
        };
        let events = block.ts.len();
        // Each event's answer.
        let passes: Vec<bool> = match &seg.field {
            // Answered below, for the first events alone.
            SegmentField::Column(_) | SegmentField::Property(_) => vec![false; events],
            SegmentField::Dimension(_) => {
                let Some(d) = dims.as_mut() else {
                    return Ok(None);
                };
                match d.of_block(&mut scratch, first, events, None)? {
                    Some(v) => v.into_iter().map(|x| x == 1).collect(),
                    None => return Ok(None),
                }
            }
            SegmentField::Name => {
                // By the block's strings (names and pages), each name
                // answered once.
                let mut of_string: Vec<Option<bool>> = vec![None; block.strings.len() + 1];
                let mut v = Vec::with_capacity(events);
                for &n in &block.name {
                    let n = n as usize;
                    let a = match of_string.get(n).copied().flatten() {
                        Some(a) => a,
                        None => {
                            // A name outside the block's strings: damaged.
                            let Some(text) = n.checked_sub(1).and_then(|k| block.strings.get(k))
                            else {
                                return Ok(None);
                            };
                            let Ok(a) = answer(text) else {
                                return Ok(None);
                            };
                            of_string[n] = Some(a);
                            a
                        }
                    };
                    v.push(a);
                }
                v
            }
            SegmentField::Type => {
                let Some(kinds) = &block.kind else {
                    return Ok(None);
                };
                let mut of_code = [None; 256];
                let mut v = Vec::with_capacity(events);
                for &k in kinds {
                    let a = match of_code[k as usize] {
                        Some(a) => a,
                        None => {
                            // A type none of the four: its text is not kept.
                            let Some(t) = EventType::of_code(k) else {
                                return Ok(None);
                            };
                            let Ok(a) = answer(t.as_str()) else {
                                return Ok(None);
                            };
                            of_code[k as usize] = Some(a);
                            a
                        }
                    };
                    v.push(a);
                }
                v
            }
        };
        let hashes: Vec<u64> = block
            .ids
            .iter()
            .map(|id| crate::kernel::ids::id_hash(id))
            .collect();
        for i in 0..events {
            let u = block.user[i] as usize;
            if u == 0 {
                continue;
            }
            let Some(h) = hashes.get(u - 1) else {
                return Ok(None);
            };
            note(*h, block.ts[i], passes.get(i).copied().unwrap_or(false));
        }
    }
    if max_id > read && !loose(read, max_id, &mut note)? {
        return Ok(None);
    }
    if !in_blocks {
        let mut times: Vec<i64> = firsts.values().filter(|f| !f.pass).map(|f| f.ts).collect();
        let by_time = format!("ts, {USER_KEY}");
        let passed = passing(conn, seg, (&by_time, "ts"), &mut times, |r| {
            if let Some(h) = Interner::hash(r.get_ref(1)?) {
                let ts: i64 = r.get(0)?;
                if let Some(f) = firsts.get_mut(&h).filter(|f| f.ts == ts) {
                    f.pass = true;
                }
            }
            Ok(())
        })?;
        if !passed {
            return Ok(None);
        }
    }
    let mut least = FastMap::with_capacity_and_hasher(firsts.len(), Default::default());
    let mut users = FastSet::default();
    for (h, f) in firsts {
        least.insert(h, f.ts);
        if f.pass {
            users.insert(h);
        }
    }
    Ok(Some(Found {
        users,
        least,
        max_id,
    }))
}

/// How many times or ids one statement looks up.
const VALUES_PER_LOOKUP: usize = 8_192;

/// The SQL expression `seg` tests (`?4` its JSON path, the second
/// value) as SQLite's scan writes it.
fn tested_sql(seg: &SegmentTest) -> (&str, Option<&str>) {
    match &seg.field {
        SegmentField::Name => ("name", None),
        SegmentField::Type => ("type", None),
        SegmentField::Column(c) => (c, None),
        SegmentField::Dimension(p) => ("json_extract(dimensions, ?4)", Some(p.as_str())),
        SegmentField::Property(p) => ("json_extract(properties, ?4)", Some(p.as_str())),
    }
}

/// Gives `pass` each event whose `key` (`ts` or `id`, both indexed) is
/// one of `values` and that passes `seg`'s test, evaluated by SQLite on
/// those events alone, a chunk of values per statement, as a row of
/// `select`. False when SQLite cannot evaluate it on one of them (the
/// caller reads SQLite, which gives its error). Sorts and dedups `values`.
fn passing(
    conn: &Connection,
    seg: &SegmentTest,
    (select, key): (&str, &str),
    values: &mut Vec<i64>,
    mut pass: impl FnMut(&rusqlite::Row<'_>) -> Result<()>,
) -> Result<bool> {
    values.sort_unstable();
    values.dedup();
    let (column, path) = tested_sql(seg);
    // `?2` is not used: `column` numbers its path `?4`, as the scan of
    // the rows in no block does.
    let sql = format!(
        "SELECT {select} FROM events \
         WHERE {key} IN (SELECT value FROM json_each(?1)) AND {column} = ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    for chunk in values.chunks(VALUES_PER_LOOKUP) {
        let list = serde_json::to_string(chunk).unwrap_or_else(|_| "[]".into());
        let mut params: Vec<&dyn rusqlite::ToSql> =
            vec![&list, &rusqlite::types::Null, &seg.equals];
        if let Some(p) = &path {
            params.push(p);
        }
        let Ok(mut rows) = stmt.query(params.as_slice()) else {
            return Ok(false);
        };
        loop {
            match rows.next() {
                Ok(Some(r)) => pass(r)?,
                Ok(None) => break,
                Err(_) => return Ok(false),
            }
        }
    }
    Ok(true)
}

/// How many segments' users an engine keeps (a dashboard that compares a
/// few segments finds each once).
const SEGMENTS_HELD: usize = 4;

/// The users of the last [`SEGMENTS_HELD`] segments, the latest first,
/// and every user's least time, as they were after the event id
/// `max_id` while no event had changed: brought up to date by the events
/// inserted since ([`Held::catch_up`]), so that a dashboard refreshed
/// while events come reads the new events, not every event again.
#[derive(Debug, Default)]
pub(super) struct Held {
    /// The projection's counts of changes and inserts then.
    pub changes: u64,
    pub inserts: u64,
    max_id: i64,
    least: FastMap<u64, i64>,
    kept: Vec<(String, SegmentTest, Arc<FastSet<u64>>)>,
}

impl Held {
    /// What `found` found at those counts, for the segment `key`, and its
    /// users.
    pub fn new(
        changes: u64,
        inserts: u64,
        key: String,
        seg: &SegmentTest,
        found: Found,
    ) -> (Self, Arc<FastSet<u64>>) {
        let users = Arc::new(found.users);
        let held = Held {
            changes,
            inserts,
            max_id: found.max_id,
            least: found.least,
            kept: vec![(key, seg.clone(), Arc::clone(&users))],
        };
        (held, users)
    }

    /// The newest event id read.
    pub fn max_id(&self) -> i64 {
        self.max_id
    }

    /// The users of the segment `key`, moved first, if held.
    pub fn take(&mut self, key: &str) -> Option<Arc<FastSet<u64>>> {
        let at = self.kept.iter().position(|k| k.0 == key)?;
        let k = self.kept.remove(at);
        let users = Arc::clone(&k.2);
        self.kept.insert(0, k);
        Some(users)
    }

    /// Keeps the users of another segment found at the same counts.
    pub fn keep(
        &mut self,
        key: String,
        seg: &SegmentTest,
        users: FastSet<u64>,
    ) -> Arc<FastSet<u64>> {
        self.kept.retain(|k| k.0 != key);
        let users = Arc::new(users);
        self.kept.insert(0, (key, seg.clone(), Arc::clone(&users)));
        self.kept.truncate(SEGMENTS_HELD);
        users
    }

    /// Reads the events after `max_id` (all that were inserted since, no
    /// event having changed: the caller knows) and moves the least time of
    /// each user they touch; then, for each segment held, a user whose
    /// least time moved leaves it, and one of those new events at its
    /// user's least time that passes puts that user in (the events there
    /// before were tested already: a user whose least time was met again
    /// keeps their answer unless a new one passes). So the cost is the new
    /// events', however many old ones share their times. False when SQLite
    /// cannot evaluate a test (nothing is held then).
    pub fn catch_up(&mut self, conn: &Connection) -> Result<bool> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT id, ts, {USER_KEY} FROM events WHERE id > ?1"
        ))?;
        let mut rows = stmt.query([self.max_id])?;
        let mut new: Vec<(i64, i64, u64)> = Vec::new();
        // The users whose least time moved (or who are new).
        let mut moved: FastSet<u64> = FastSet::default();
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            self.max_id = self.max_id.max(id);
            let Some(h) = Interner::hash(r.get_ref(2)?) else {
                continue;
            };
            let ts: i64 = r.get(1)?;
            match self.least.get_mut(&h) {
                Some(least) if ts >= *least => {}
                Some(least) => {
                    *least = ts;
                    moved.insert(h);
                }
                None => {
                    self.least.insert(h, ts);
                    moved.insert(h);
                }
            }
            new.push((id, ts, h));
        }
        // The new events at their user's least time, by id.
        let firsts: FastMap<i64, u64> = new
            .into_iter()
            .filter(|(_, ts, h)| self.least.get(h) == Some(ts))
            .map(|(id, _, h)| (id, h))
            .collect();
        if firsts.is_empty() && moved.is_empty() {
            return Ok(true);
        }
        let mut ids: Vec<i64> = firsts.keys().copied().collect();
        for k in 0..self.kept.len() {
            let mut passed = Vec::new();
            let ok = passing(conn, &self.kept[k].1, ("id", "id"), &mut ids, |r| {
                if let Some(h) = firsts.get(&r.get::<_, i64>(0)?) {
                    passed.push(*h);
                }
                Ok(())
            })?;
            if !ok {
                self.kept.clear();
                return Ok(false);
            }
            let users = Arc::make_mut(&mut self.kept[k].2);
            for h in &moved {
                users.remove(h);
            }
            users.extend(passed);
        }
        Ok(true)
    }
}

/// Whether the user key `key` is among `users` (by its hash, as
/// [`users`] keeps them).
pub(super) fn holds(users: &FastSet<u64>, key: &[u8]) -> bool {
    users.contains(&crate::kernel::ids::id_hash(key))
}
