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
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use rusqlite::hooks::Action;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};

use super::query::USER_KEY;
use super::scan::{self, Events, FastMap, Interner, Row, Rows, Sink};
use super::slices;
use crate::error::Result;
use crate::tracking::{blocks, dims};

/// Above this many event ids in no packed block, a window is read from
/// SQLite rather than from the blocks and the other rows.
pub(super) const MAX_UNPACKED_IDS: i64 = 50_000;

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
    /// Whether an event was inserted since the hook was installed (in a
    /// transaction that may have rolled back).
    inserted: Arc<AtomicBool>,
    /// Inserts into `events` so far (rolled back ones too), counted by the
    /// update hook: a [`Numbering`] is kept only while none comes.
    inserts: Arc<AtomicU64>,
    /// What the last window read from the packed blocks numbered, for the
    /// next one ([`Numbering`]).
    numbering: RefCell<Option<Numbering>>,
    state: RefCell<Option<State>>,
    /// Built again once because no block without types was left: not
    /// built again for that reason (rows stay untyped then only if a
    /// block's bytes disagree with its `format`, which is damage; nothing
    /// writes a block without types any more).
    rebuilt_for_types: std::cell::Cell<bool>,
    /// The rollups' rows of the hours asked for, kept true by the same
    /// count of changes.
    hours: super::hours::Hours,
    /// The users of the last segments queries read from the blocks, kept
    /// while no event changes and brought up to date by the events that
    /// come ([`super::segments::Held`]).
    segments: RefCell<Option<super::segments::Held>>,
    /// The least id inserted into `events` since the segments' users were
    /// last brought up to date (`i64::MAX`: none).
    least_inserted: Arc<AtomicI64>,
}

/// What a window read from the packed blocks numbered, kept for the next
/// window while no event is changed or deleted: the interner (users and
/// sessions by their hash, names and pages by their text) and each
/// block's numbers by its dictionary. So a query repeated over more
/// events than the projection keeps maps each block's dictionary through a
/// vector instead of hashing every user and session again (at 10M events,
/// a fifth of a session durations query; and a query after events came,
/// which only add blocks and number their own ids). A block's
/// dictionary cannot change while it is kept: an update or a delete of
/// events is counted by the update hook, and events inserted land after
/// every id there is (SQLite gives a new row the highest id plus one;
/// only a delete frees one), so they fill ranges no block holds. (A block
/// whose range a delete left incomplete is dropped by the next insert and
/// packed again with more events: its dictionary, numbered by first
/// appearance in id order, keeps its entries' order with any new one
/// after them, and one whose size or ends differ is numbered again, as
/// one that `packBlocks` packs again from the same events is not.) It is
/// kept only while it holds at most [`NUMBERING_HELD`] block entries (4
/// bytes each), [`NUMBERED_HELD`] users and sessions (about 22 bytes each
/// in the interner) and [`INTERNED_HELD`] names and pages: about 60 MB
/// more at 10M events (64 MB once a funnel read rows by name).
#[derive(Debug)]
pub(super) struct Numbering {
    changes: u64,
    strings: Interner,
    blocks: FastMap<i64, BlockNumbers>,
}

/// At most this many entries of blocks' numbers are kept between windows
/// (32 MB): about 2.2M at 10M events, 3.2M with the users of the blocks'
/// lists of rows by name.
const NUMBERING_HELD: usize = 8 << 20;

/// At most this many users and sessions numbered are kept between windows
/// (about 45 MB of the interner's map): 1.1M at 10M events.
const NUMBERED_HELD: usize = 2 << 20;

/// At most this many names and pages interned are kept between windows:
/// each window hands on a copy of them, so pages of a million distinct
/// paths would be copied whole at every query.
const INTERNED_HELD: usize = 1 << 16;

/// A block's numbers: for each entry of its dictionary of ids (users and
/// sessions) and of strings (names and pages), the interner's number, or
/// [`UNNUMBERED`] before a row kept needed it.
#[derive(Debug, Default)]
struct BlockNumbers {
    ids: Vec<u32>,
    strings: Vec<u32>,
    /// A hash of the dictionaries' ends ([`BlockNumbers::mark`]): a block
    /// rewritten by hand with other ids is numbered again.
    mark: u64,
    /// The numbers of the sessions of the block's spans, in their order
    /// ([`UNNUMBERED`] before one was met), and a hash of the spans' ends.
    spans: Vec<u32>,
    spans_mark: u64,
    /// The numbers of the users of the block's list of rows by name, in
    /// its order (entry 0, none, is 0), and the list's sum of its users.
    listed: Vec<u32>,
    listed_mark: u64,
}

/// An entry of [`BlockNumbers`] not numbered yet.
const UNNUMBERED: u32 = u32::MAX;

impl BlockNumbers {
    /// Ready for `block`: entry 0 (none) is 0, the others not numbered
    /// unless already numbered for this block.
    fn fit(&mut self, block: &blocks::Block<'_>) {
        // By the strings the block holds, decoded or not: a window that
        // reads no name nor page keeps the numbers of the windows that do.
        let strings = block.strings_held.0;
        let mark = Self::mark(block);
        let same = self.mark == mark
            && self.ids.len() == block.ids.len() + 1
            && self.strings.len() == strings + 1;
        if !same {
            self.mark = mark;
            for (v, n) in [
                (&mut self.ids, block.ids.len() + 1),
                (&mut self.strings, strings + 1),
            ] {
                v.clear();
                v.resize(n, UNNUMBERED);
                v[0] = 0;
            }
        }
    }

    /// A hash of the first and last entries of `block`'s dictionaries.
    fn mark(block: &blocks::Block<'_>) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (block.ids.first(), block.ids.last()).hash(&mut h);
        (block.strings_held.1, block.strings_held.2).hash(&mut h);
        h.finish()
    }

    /// Ready for `spans`, as [`BlockNumbers::fit`] for the block.
    fn fit_spans(&mut self, spans: &crate::tracking::spans::Spans<'_>) {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let first = spans.sessions.first().map(|x| x.id);
        let last = spans.sessions.last().map(|x| x.id);
        (first, last).hash(&mut h);
        let mark = h.finish();
        if self.spans_mark != mark || self.spans.len() != spans.sessions.len() {
            self.spans_mark = mark;
            self.spans.clear();
            self.spans.resize(spans.sessions.len(), UNNUMBERED);
        }
    }

    /// Ready for a list of rows by name of `n` users whose sum is `mark`,
    /// as [`BlockNumbers::fit`] for the block.
    fn fit_list(&mut self, n: usize, mark: u64) {
        if self.listed_mark != mark || self.listed.len() != n + 1 {
            self.listed_mark = mark;
            self.listed.clear();
            self.listed.resize(n + 1, UNNUMBERED);
            self.listed[0] = 0;
        }
    }

    fn held(&self) -> usize {
        self.ids.len() + self.strings.len() + self.spans.len() + self.listed.len()
    }
}

impl Projection {
    /// The numbering kept by the last window, if no event changed since
    /// (events inserted only add blocks: see [`Numbering`]); else a new
    /// one. Taken out: a window that fails keeps none.
    fn take_numbering(&self) -> Numbering {
        let changes = self.changes.load(Ordering::Relaxed);
        match self.numbering.borrow_mut().take() {
            Some(n) if n.changes == changes => n,
            _ => Numbering {
                changes,
                strings: Interner::new(),
                blocks: FastMap::default(),
            },
        }
    }

    /// The users of the segment `key` found by an earlier query, if no
    /// event changed since: brought up to date by the events inserted
    /// since, if any.
    pub(super) fn segment_users(
        &self,
        conn: &Connection,
        key: &str,
    ) -> Result<Option<Arc<crate::kernel::fastmap::FastSet<u64>>>> {
        let changes = self.changes.load(Ordering::Relaxed);
        let inserts = self.inserts.load(Ordering::Relaxed);
        let mut held = self.segments.borrow_mut();
        let Some(h) = held.as_mut() else {
            return Ok(None);
        };
        if h.changes != changes {
            *held = None;
            return Ok(None);
        }
        if h.inserts != inserts {
            // Every event inserted since has a greater id than those read
            // (none changed, so none was deleted to free its id).
            let least = self.least_inserted.swap(i64::MAX, Ordering::Relaxed);
            if least <= h.max_id() || !h.catch_up(conn)? {
                *held = None;
                return Ok(None);
            }
            h.inserts = inserts;
        }
        Ok(h.take(key))
    }

    /// Keeps the users of the segment `key` for the next queries in it,
    /// found by [`super::segments::users`] now.
    pub(super) fn keep_segment_users(
        &self,
        key: String,
        seg: &super::query::SegmentTest,
        found: super::segments::Found,
    ) -> Arc<crate::kernel::fastmap::FastSet<u64>> {
        let changes = self.changes.load(Ordering::Relaxed);
        let inserts = self.inserts.load(Ordering::Relaxed);
        let mut held = self.segments.borrow_mut();
        match held.as_mut() {
            Some(h) if h.changes == changes && h.inserts == inserts => {
                h.keep(key, seg, found.users)
            }
            _ => {
                self.least_inserted.store(i64::MAX, Ordering::Relaxed);
                let (h, users) = super::segments::Held::new(changes, inserts, key, seg, found);
                *held = Some(h);
                users
            }
        }
    }

    /// How many blocks the numbering kept for the next window has numbers
    /// of; `None` when none is kept. For checking.
    pub fn numbering_held(&self) -> Option<usize> {
        self.numbering.borrow().as_ref().map(|n| n.blocks.len())
    }

    /// Keeps `n` for the next window, unless it holds too much.
    fn keep_numbering(&self, n: Numbering) {
        let held: usize = n.blocks.values().map(BlockNumbers::held).sum();
        if held <= NUMBERING_HELD
            && n.strings.numbered() <= NUMBERED_HELD
            && n.strings.interned() <= INTERNED_HELD
        {
            *self.numbering.borrow_mut() = Some(n);
        }
    }
}

#[derive(Debug)]
struct State {
    /// [`Projection::changes`] when built.
    changes: u64,
    /// The highest event id read.
    max_id: i64,
    /// Every event, by time then id, with session, page and bot filled in;
    /// shared with the queries that read a window of it.
    rows: Arc<Vec<Row>>,
    /// How many of the rows are bots'.
    bots: usize,
    /// How many of the rows have no known type (from blocks packed before
    /// types were kept): a query filtered by type is then not answered.
    untyped: usize,
    strings: Interner,
}

impl State {
    fn new() -> Self {
        State {
            changes: 0,
            max_id: 0,
            rows: Arc::default(),
            bots: 0,
            untyped: 0,
            strings: Interner::new(),
        }
    }

    /// The rows, to add to: copied first only if a query still holds them
    /// (none does between queries).
    fn rows_mut(&mut self) -> &mut Vec<Row> {
        Arc::make_mut(&mut self.rows)
    }
}

impl Projection {
    /// Installs the hook that tells the projection about changed events on
    /// `conn`, the engine's connection (the only one that writes it).
    pub fn watch(&self, conn: &mut Connection) -> Result<()> {
        let changes = Arc::clone(&self.changes);
        let inserted = Arc::clone(&self.inserted);
        let inserts = Arc::clone(&self.inserts);
        let least_inserted = Arc::clone(&self.least_inserted);
        conn.update_hook(Some(
            move |action: Action, _db: &str, table: &str, rowid: i64| {
                if table == "events" {
                    if action == Action::SQLITE_INSERT {
                        inserted.store(true, Ordering::Relaxed);
                        inserts.fetch_add(1, Ordering::Relaxed);
                        least_inserted.fetch_min(rowid, Ordering::Relaxed);
                    } else {
                        changes.fetch_add(1, Ordering::Relaxed);
                    }
                }
            },
        ))?;
        Ok(())
    }

    /// Whether events were stored on the connection since [`Self::watch`]
    /// (or one was, in a transaction that then rolled back).
    pub fn events_inserted(&self) -> bool {
        self.inserted.load(Ordering::Relaxed)
    }

    /// Hours `[span.0, span.1)` of the rollups from memory, given to `f`
    /// ([`super::hours`]): read from SQLite first if they are not held
    /// and `load` says so; `None` when they are not (or cannot be) kept.
    pub(super) fn hours<T>(
        &self,
        conn: &Connection,
        span: (i64, i64),
        load: bool,
        f: impl FnOnce(super::hours::Window<'_>) -> T,
    ) -> Result<Option<T>> {
        let changes = self.changes.load(Ordering::Relaxed);
        self.hours.with(conn, changes, span, load, f)
    }

    /// Tells the rollups in memory how many rows a read of SQLite found for
    /// hours `span` (see [`super::hours::Hours::counted`]).
    pub(super) fn hours_counted(&self, span: (i64, i64), counts: super::rollup::RowCounts) {
        self.hours.counted(span, counts);
    }

    /// How many rows of the rollups are held in memory, and the span of
    /// hours they cover ([`super::hours`]); `None` when none are.
    pub fn hours_held(&self) -> Option<(usize, (i64, i64))> {
        self.hours.held()
    }

    /// How many of the built projection's rows have no known type (from
    /// blocks packed before types were kept); `None` when it is not built.
    pub fn untyped_rows(&self) -> Option<usize> {
        self.state.borrow().as_ref().map(|s| s.untyped)
    }

    /// True when the projection is built and no event was changed or
    /// deleted since: reading it costs no rebuild (events stored since are
    /// read and added).
    pub(super) fn is_current(&self) -> bool {
        let changes = self.changes.load(Ordering::Relaxed);
        self.state
            .borrow()
            .as_ref()
            .is_some_and(|s| s.changes == changes)
    }

    /// The events in `[from, until)` that `keep` keeps, with sessions and
    /// pages only when asked: what [`super::scan::scan`] reads for a query
    /// unfiltered or filtered by name or type alone. `None` when the
    /// projection is not kept (too many events), or a type is asked for
    /// and some events' types are not known.
    pub(super) fn events(
        &self,
        conn: &Connection,
        window: (i64, i64),
        keep: Keep<'_>,
        need: (bool, bool),
    ) -> Result<Option<Events>> {
        // Dimensions and segments are not kept here: nothing to build for
        // such a query.
        if keep.extra.is_some() || keep.test.is_some() || keep.users.is_some() {
            return Ok(None);
        }
        let mut state = self.state.borrow_mut();
        self.refresh(conn, &mut state)?;
        let typed = keep.kind.is_some() || keep.typed;
        if typed && state.as_ref().is_some_and(|s| s.untyped > 0) {
            // Rows from blocks without types. Once none of those blocks is
            // left (packed again by `pack_blocks`, or by ingest one at a
            // time, since this state was built), it is built again, once,
            // with types; until then a type is not answered from here.
            if self.rebuilt_for_types.get() || blocks::any_older(conn)? {
                return Ok(None);
            }
            self.rebuilt_for_types.set(true);
            *state = None;
            self.refresh(conn, &mut state)?;
            if state.as_ref().is_none_or(|s| s.untyped > 0) {
                return Ok(None);
            }
        }
        let Some(s) = state.as_ref() else {
            return Ok(None);
        };
        let Keep {
            bots_left_out,
            names,
            kind,
            typed: _,
            extra: _,
            test: _,
            users: _,
        } = keep;
        let (from, until) = window;
        let (session, page) = need;
        let start = s.rows.partition_point(|r| r.ts < from);
        let end = s.rows.partition_point(|r| r.ts < until).max(start);
        let bots = bots_left_out && s.bots > 0 && s.rows[start..end].iter().any(|r| r.bot);
        if names.is_none() && kind.is_none() && !bots {
            // Nothing to leave out: the window itself, not a copy.
            return Ok(Some(Events {
                rows: Rows::Shared(Arc::clone(&s.rows), start..end),
                strings: s.strings.without_numbers(),
            }));
        }
        // The names kept, as a table by string id.
        let wanted: Option<Vec<bool>> = names.map(|n| {
            let mut w = vec![false; s.strings.interned()];
            for id in n.iter().filter_map(|x| s.strings.get(x)) {
                w[id as usize] = true;
            }
            w
        });
        // Room for the window when only bots are left out; kept names may
        // be few, so their rows grow as they come.
        let room = if names.is_none() && kind.is_none() {
            end.saturating_sub(start)
        } else {
            0
        };
        let mut rows = Vec::with_capacity(room);
        for &row in &s.rows[start..end] {
            if (bots_left_out && row.bot) || kind.is_some_and(|k| k != row.kind) {
                continue;
            }
            let mut r = row;
            if let Some(w) = &wanted {
                if !w.get(r.name as usize).copied().unwrap_or(false) {
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
            rows: Rows::Owned(rows),
            strings: s.strings.without_numbers(),
        }))
    }

    /// Brings the state up to date: rebuilt if events changed or went,
    /// appended if some were stored, dropped if there are too many.
    fn refresh(&self, conn: &Connection, state: &mut Option<State>) -> Result<()> {
        let changes = self.changes.load(Ordering::Relaxed);
        let max_id = blocks::newest_id(conn)?;
        let stale = match state.as_ref() {
            Some(s) => s.changes != changes || max_id < s.max_id,
            None => true,
        };
        if stale {
            *state = None;
            let mut s = State {
                changes,
                ..State::new()
            };
            if !load(conn, &mut s, max_id)? {
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

/// The events in `window` as [`Projection::events`] gives them, for an
/// engine with too many events to keep them all in memory: read from the
/// packed blocks that overlap the window, and from the rows of the ids no
/// block holds; memory for the window's events only. In time order when
/// `sorted`, else in id order. `None` if a block of the window does not
/// decode (the caller reads SQLite). `need` says which of sessions, pages
/// and users are read (each 0 when not).
///
/// With a `sink`, the rows go to it a chunk at a time and the rows
/// returned are the last ones, not yet given; on `None` the caller drops
/// what the sink was given before it reads SQLite. Unsorted, chunks go as
/// they are read. Sorted, the window is read in time slices of about
/// [`slices::SLICE_ROWS`] rows ([`slices::next_cut`], from the blocks' times
/// and counts), each sorted and handed on before the next is read: memory
/// for one slice, at the cost of decoding a block once for each slice its
/// times overlap. Blocks of events stored in time order overlap one or
/// two; a block of events stored out of order (late events, an import of
/// history in any order) can overlap every slice, so such a window costs a
/// decoding of its blocks per slice.
pub(super) fn window_from_blocks(
    conn: &Connection,
    projection: Option<&Projection>,
    window: (i64, i64),
    keep: Keep<'_>,
    need: Columns,
    sorted: bool,
    mut sink: Option<Sink<'_>>,
) -> Result<Option<Events>> {
    let (from, until) = window;
    let Keep {
        bots_left_out,
        names,
        kind,
        typed,
        extra: dimension,
        test,
        users,
    } = keep;
    // The window's blocks by the time index (no packed bytes: sorting
    // those in SQL would copy them all first), then each by its key.
    let mut window_blocks: Vec<WindowBlock> = conn
        .prepare_cached(
            "SELECT first_id, events, min_ts, max_ts FROM event_blocks \
             WHERE max_ts >= ?1 AND min_ts < ?2",
        )?
        .query_map([from, until], |r| {
            Ok(WindowBlock {
                first: r.get(0)?,
                // Clamped to a block's size: a damaged count must not
                // size an allocation or a slice.
                events: r.get::<_, i64>(1)?.clamp(0, blocks::BLOCK_EVENTS),
                min_ts: r.get(2)?,
                max_ts: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    window_blocks.sort_unstable_by_key(|b| b.first);
    // A narrow window whose dimensions are asked for or tested: SQLite's
    // time index reads its few rows, where each block would be decoded
    // whole (a segment's users, found from every block, stay here).
    if (dimension.is_some() || test.is_some()) && users.is_none() {
        let all: Vec<slices::Spread> = window_blocks
            .iter()
            .map(|b| slices::Spread {
                min: b.min_ts,
                max: b.max_ts,
                events: b.events,
            })
            .collect();
        if slices::estimate(window, &all) < NARROW_ROWS {
            return Ok(None);
        }
    }
    let max_id = blocks::newest_id(conn)?;
    let mut s = State::new();
    let covered: Vec<i64> = {
        let mut stmt = conn.prepare_cached("SELECT first_id FROM event_blocks")?;
        let ids = stmt
            .query_map([], |r| r.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        let mut ids = ids;
        ids.sort_unstable();
        ids
    };
    // Many ids in no block (a database not yet packed, or many blocks
    // dropped): reading them by id would scan past the time index, so the
    // caller's scan of SQLite serves better.
    let uncovered_ids = max_id - covered.len() as i64 * blocks::BLOCK_EVENTS;
    if uncovered_ids > MAX_UNPACKED_IDS {
        return Ok(None);
    }
    // A dimension asked of (or tested on) a window where some block keeps no dimensions
    // (a file not yet migrated, or an event's dimensions changed since):
    // SQLite answers, before any block is read for nothing.
    if dimension.is_some() || test.is_some() {
        let missing: bool = conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM event_blocks b WHERE b.max_ts >= ?1 AND b.min_ts < ?2 \
                 AND NOT EXISTS (SELECT 1 FROM event_block_dims d WHERE d.first_id = b.first_id))",
            )?
            .query_row([from, until], |r| r.get(0))?;
        if missing {
            return Ok(None);
        }
    }
    // The numbering the last window left, when nothing changed since
    // (taken out: a window that fails part way keeps none).
    let mut numbering = projection.map(Projection::take_numbering);
    if let Some(n) = numbering.as_mut() {
        s.strings = std::mem::replace(&mut n.strings, Interner::new());
    }
    let mut scratch = BlockNumbers::default();
    // Rows read from SQLite get what a block's rows get in `push_block`:
    // the slice, bots and names kept, the columns not asked for at 0.
    let tidy = |s: &mut State, start: usize, (from, until): (i64, i64)| {
        let wanted: Option<Vec<u32>> =
            names.map(|n| n.iter().filter_map(|x| s.strings.get(x)).collect());
        let rows = s.rows_mut();
        let mut kept = start;
        for i in start..rows.len() {
            let mut r = rows[i];
            if r.ts < from
                || r.ts >= until
                || (bots_left_out && r.bot)
                || kind.is_some_and(|k| k != r.kind)
                || wanted.as_ref().is_some_and(|w| !w.contains(&r.name))
            {
                continue;
            }
            if !need.session {
                r.session = 0;
            }
            if !need.page {
                r.page = 0;
            }
            if !need.user {
                r.user = 0;
            }
            if !need.name {
                r.name = 0;
            }
            rows[kept] = r;
            kept += 1;
        }
        rows.truncate(kept);
    };
    // The ids in (after, upto] no block holds with times in `slice`, read
    // from rows; with a dimension asked, its value for each row kept
    // (false when one cannot be read: SQLite answers the window).
    let uncovered = |s: &mut State,
                     dims: &mut WindowDimensions<'_>,
                     after: i64,
                     upto: i64,
                     slice: (i64, i64)|
     -> Result<bool> {
        let mut at = after;
        let start = covered.partition_point(|f| *f <= after);
        let rows_before = s.rows.len();
        let mut texts = (dims.values.is_some() || dims.test.is_some()).then(Vec::new);
        for &f in &covered[start..] {
            if f > upto {
                break;
            }
            if f - 1 > at {
                read_ids(conn, s, at, f - 1, Some(slice), texts.as_mut(), users)?;
            }
            at = f + blocks::BLOCK_EVENTS - 1;
        }
        if upto > at {
            read_ids(conn, s, at, upto, Some(slice), texts.as_mut(), users)?;
        }
        if let (Some(t), Some(texts)) = (dims.test.as_mut(), texts.as_ref()) {
            if !t.keep_rows(s, rows_before, texts)? {
                return Ok(false);
            }
        }
        tidy(s, rows_before, slice);
        match (dims.values.as_mut(), texts) {
            (Some(v), Some(texts)) => v.of_rows(s, rows_before, &texts),
            (None, Some(_)) => {
                // Places in texts, read for the test alone.
                for r in &mut s.rows_mut()[rows_before..] {
                    r.extra = 0;
                }
                Ok(true)
            }
            _ => Ok(true),
        }
    };
    // A dimension's value per event, of each block and of the rows no
    // block holds.
    let mut dims = WindowDimensions {
        values: dimension.map(|(sql, path)| DimensionValues::new(conn, sql, path)),
        test: test.map(|(path, equals)| DimensionValues::test(conn, path, equals)),
    };
    let held_whole = sink.is_none();
    let in_slices = sorted && !held_whole;
    let spread: Vec<slices::Spread> = window_blocks
        .iter()
        .filter(|_| in_slices)
        .map(|b| slices::Spread {
            min: b.min_ts,
            max: b.max_ts,
            events: b.events,
        })
        .collect();
    let slice_rows = sink.as_ref().map_or(slices::SLICE_ROWS, |k| k.slice) as f64;
    // Room for the rows at once, when the window is held whole with every
    // name: the rows of the blocks wholly inside it, of the blocks that
    // straddle an edge when they are few (a window over blocks in time
    // order has at most two), and of the ids no block holds. So a window
    // neither grows nor keeps much spare capacity. A narrow window over
    // blocks of late events, each spanning a long time, straddles most
    // blocks and keeps few of their rows: it grows as rows come instead.
    // Read in slices, room for one slice's goal. A reservation that fails
    // is only a missed hint.
    if held_whole && names.is_none() && kind.is_none() && test.is_none() && users.is_none() {
        let inside = |b: &&WindowBlock| b.min_ts >= from && b.max_ts < until;
        let rows_of = |b: &WindowBlock| usize::try_from(b.events).unwrap_or(0);
        let all: usize = window_blocks.iter().map(rows_of).sum();
        let inside: usize = window_blocks.iter().filter(inside).map(rows_of).sum();
        let edges = all - inside;
        let edges = if edges <= inside / 8 + 2 * blocks::BLOCK_EVENTS as usize {
            edges
        } else {
            0
        };
        let loose = usize::try_from(uncovered_ids.clamp(0, MAX_UNPACKED_IDS)).unwrap_or(0);
        let _ = s.rows_mut().try_reserve_exact(inside + edges + loose);
    }
    let mut stmt = conn.prepare_cached("SELECT data FROM event_blocks WHERE first_id = ?1")?;
    // Spans stand for a block's rows where the metric reads no more of them,
    // no names or type are asked (they keep rows), and the window is not
    // sorted (their rows are not the block's).
    let by_spans = need.spans
        && !sorted
        && names.is_none()
        && kind.is_none()
        && !typed
        && dimension.is_none()
        && test.is_none()
        && users.is_none();
    let mut spans_stmt =
        conn.prepare_cached("SELECT data FROM event_block_spans WHERE first_id = ?1")?;
    // Rows by name stand for a block's rows of the names kept where the
    // metric reads no more of them, no type is asked, and the window is not
    // sorted (they come name by name, put back in id order per block).
    let by_names = names.filter(|_| {
        need.by_names
            && !sorted
            && kind.is_none()
            && !typed
            && dimension.is_none()
            && test.is_none()
            && users.is_none()
    });
    let mut names_stmt = match by_names {
        Some(n) => Some(conn.prepare_cached(&format!(
            "SELECT name, data FROM event_block_names WHERE first_id = ?1 AND name IN ('{}'{})",
            crate::tracking::names::LIST,
            ", ?".repeat(n.len())
        ))?),
        None => None,
    };
    let (mut named_scratch, mut named_out) = (Vec::new(), Vec::new());
    // The events of the blocks read by name so far, and of those names:
    // names that hold most of a block's events cost more read by name
    // (their rows, then put in order) than the block read whole, so past
    // [`NAMED_SHARE`] the window's next blocks are read whole.
    let (mut named_of, mut named_held) = (0i64, 0i64);
    // Only the columns the metric reads are decoded (`push_block` reads
    // no other).
    let wanted = blocks::Wanted {
        // A segment reads them to keep rows.
        user: need.user || users.is_some(),
        session: need.session,
        page: need.page,
        // A names pushdown reads them to keep rows.
        name: need.name || names.is_some(),
    };
    // A names or type pushdown keeps few, so the next slices span more
    // events (at most 16 times as many); a slice that holds too many rows
    // is read again narrower (see [`slices::Pace`], as `scan::scan`
    // does). With a pushdown, a few blocks spread over the window give the
    // first guess (unless it fits one slice anyway).
    let mut pace = slices::Pace::default();
    let fits = slices::estimate(window, &spread) <= slice_rows;
    let mut sampled = false;
    // (A sample leaves the dimension's test out: the first slices are
    // then narrower than they need be, until the rows read set the pace.)
    let pushdown = names.is_some() || kind.is_some() || test.is_some() || users.is_some();
    if in_slices && pushdown && !fits && !window_blocks.is_empty() {
        sampled = true;
        let n = window_blocks.len();
        // Even positions from the first block to the last (the newest).
        let mut picks: Vec<usize> = (0..SAMPLE_BLOCKS)
            .map(|j| j * n.saturating_sub(1) / (SAMPLE_BLOCKS - 1))
            .collect();
        picks.dedup();
        let (mut kept, mut estimated) = (0f64, 0f64);
        for w in picks.into_iter().map(|i| &window_blocks[i]) {
            let mut it = stmt.query([w.first])?;
            let Some(r) = it.next()? else { continue };
            let data = r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
            let Some(block) = blocks::decode(data) else {
                continue;
            };
            let named = names.map(|n| named_in(&block, n));
            for i in 0..block.ts.len() {
                if block.ts[i] >= from && block.ts[i] < until {
                    estimated += 1.0;
                    let bot = bots_left_out && block.bot[i];
                    let name = named.as_ref().is_none_or(|k| k[block.name[i] as usize]);
                    let typed = kind.is_none_or(|k| block.kind.as_ref().is_some_and(|v| v[i] == k));
                    kept += f64::from(u8::from(!bot && name && typed));
                }
            }
        }
        pace.read(kept, estimated);
    }
    let mut a = from;
    'slices: loop {
        let b = if in_slices {
            // A guess from the sample alone makes a slice at most 4 times
            // as wide; one from slices read, 16 times.
            let widest = if sampled && a == from { 4.0 } else { 16.0 };
            let goal = pace.goal(slice_rows, (1.0 / widest, 16.0));
            slices::next_cut((a, until), &spread, goal)
        } else {
            until
        };
        let slice = (a, b);
        let most = slices::Pace::most(slice_rows as usize, slice).filter(|_| in_slices);
        // Room for the slice's rows as estimated, so that its array does
        // not double past them (it keeps its room from slice to slice).
        if in_slices && !pushdown {
            let want = (slices::estimate(slice, &spread).min(2.0 * slice_rows) * 1.05) as usize;
            let rows = s.rows_mut();
            if want > rows.capacity() {
                let _ = rows.try_reserve_exact(want - rows.len());
            }
        }
        let mut read = 0i64;
        for w in window_blocks
            .iter()
            .filter(|w| w.max_ts >= a && w.min_ts < b)
        {
            let first = w.first;
            // A block wholly inside the window, by its spans when it has
            // them and they stand for the rows kept (bots left out, or
            // none in it).
            if by_spans && w.min_ts >= a && w.max_ts < b {
                let mut it = spans_stmt.query([first])?;
                // Spans of this block (they say which), whose times are
                // within the block's listed ones: else it is read whole.
                let spans = match it.next()? {
                    Some(r) => {
                        let data = r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
                        crate::tracking::spans::decode(first, data).filter(|x| {
                            (bots_left_out || !x.bots)
                                && x.sessions
                                    .iter()
                                    .all(|s| s.first >= w.min_ts && s.last <= w.max_ts)
                        })
                    }
                    None => None,
                };
                if let Some(spans) = spans {
                    if !uncovered(&mut s, &mut dims, read, first - 1, slice)? {
                        return Ok(None);
                    }
                    let numbers = match numbering.as_mut() {
                        Some(n) => n.blocks.entry(first).or_default(),
                        None => {
                            scratch.spans.clear();
                            &mut scratch
                        }
                    };
                    numbers.fit_spans(&spans);
                    push_spans(&mut s, &spans, w.min_ts, &mut numbers.spans);
                    read = first + blocks::BLOCK_EVENTS - 1;
                    if let Some(k) = sink.as_mut().filter(|k| s.rows.len() >= k.rows) {
                        (k.take)(&s.rows, &s.strings);
                        s.rows_mut().clear();
                    }
                    continue;
                }
            }
            // A block wholly inside the window, by its rows of the names
            // kept when it has them (and they agree with it).
            if let (Some(names), Some(q)) = (by_names, names_stmt.as_mut()) {
                let worth = named_held as f64 <= NAMED_SHARE * named_of as f64;
                if worth && w.min_ts >= a && w.max_ts < b {
                    let mut fetched: Vec<(String, Vec<u8>)> = Vec::new();
                    let mut it = q.query(rusqlite::params_from_iter(
                        std::iter::once(&first as &dyn rusqlite::ToSql)
                            .chain(names.iter().map(|n| n as &dyn rusqlite::ToSql)),
                    ))?;
                    while let Some(r) = it.next()? {
                        fetched.push((r.get(0)?, r.get(1)?));
                    }
                    drop(it);
                    let numbers = match numbering.as_mut() {
                        Some(n) => n.blocks.entry(first).or_default(),
                        None => {
                            scratch.listed.clear();
                            &mut scratch
                        }
                    };
                    let times = (w.min_ts, w.max_ts);
                    let how = (need, bots_left_out);
                    let room = (&mut named_scratch, &mut named_out);
                    let got = named_rows(&mut s, first, &fetched, names, times, how, numbers, room);
                    if let Some(bots) = got {
                        // The ids before it that no block holds first.
                        if !uncovered(&mut s, &mut dims, read, first - 1, slice)? {
                            return Ok(None);
                        }
                        s.bots += bots;
                        s.rows_mut().extend_from_slice(&named_out);
                        named_of += w.events;
                        named_held += named_scratch.len() as i64;
                        read = first + blocks::BLOCK_EVENTS - 1;
                        if let Some(k) = sink.as_mut().filter(|k| s.rows.len() >= k.rows) {
                            (k.take)(&s.rows, &s.strings);
                            s.rows_mut().clear();
                        }
                        continue;
                    }
                }
            }
            // A block wholly inside the slice by its listed times: which of
            // its events pass the dimension's test (by the count listed,
            // checked against the block's once read). A block none of whose
            // events passes is not read.
            let inside = w.min_ts >= a && w.max_ts < b;
            let passes = match dims.test.as_mut().filter(|_| inside) {
                Some(t) => {
                    let listed = usize::try_from(w.events).unwrap_or(0);
                    match t.of_block(&mut s.strings, first, listed, None)? {
                        Some(x) => Some(x),
                        None => return Ok(None),
                    }
                }
                None => None,
            };
            if passes.as_ref().is_some_and(|p| !p.contains(&1)) {
                if !uncovered(&mut s, &mut dims, read, first - 1, slice)? {
                    return Ok(None);
                }
                read = first + blocks::BLOCK_EVENTS - 1;
                continue;
            }
            let mut it = stmt.query([first])?;
            // A block listed a moment ago is there (one connection
            // writes); if not, read SQLite rather than count its ids as
            // read.
            let Some(r) = it.next()? else {
                return Ok(None);
            };
            let data = r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
            let Some(block) = blocks::decode_columns(data, wanted) else {
                return Ok(None);
            };
            // Slices pick blocks by their listed times: a block whose
            // times say otherwise would lose rows, so SQLite answers.
            if in_slices && block.ts.iter().any(|t| *t < w.min_ts || *t > w.max_ts) {
                return Ok(None);
            }
            // The types read of a block that keeps none: SQLite answers.
            if typed && block.kind.is_none() {
                return Ok(None);
            }
            if !uncovered(&mut s, &mut dims, read, first - 1, slice)? {
                return Ok(None);
            }
            // Its events' values of the dimension asked for, and for a
            // block across the slice's edge which pass the test: evaluated
            // for the texts of the events in the slice only.
            let in_slice = |i: usize| block.ts[i] >= a && block.ts[i] < b;
            let read_in: Option<&dyn Fn(usize) -> bool> =
                if inside { None } else { Some(&in_slice) };
            let extra = match dims.values.as_mut() {
                Some(v) => match v.of_block(&mut s.strings, first, block.ts.len(), read_in)? {
                    Some(x) => x,
                    None => return Ok(None),
                },
                None => Vec::new(),
            };
            let passes = match (passes, dims.test.as_mut()) {
                (Some(p), _) => Some(p),
                (None, Some(t)) => {
                    match t.of_block(&mut s.strings, first, block.ts.len(), read_in)? {
                        Some(x) => Some(x),
                        None => return Ok(None),
                    }
                }
                (None, None) => None,
            };
            // Tests of another number of events than the block holds (its
            // listed count damaged): SQLite answers.
            if passes.as_ref().is_some_and(|p| p.len() != block.ts.len()) {
                return Ok(None);
            }
            // Which of its ids are the segment's users (by the block's
            // numbering; 0, none, is not).
            let members: Option<Vec<bool>> = users.map(|u| {
                std::iter::once(false)
                    .chain(block.ids.iter().map(|id| super::segments::holds(u, id)))
                    .collect()
            });
            // The names asked for, by the block's numbering (a pushdown).
            let named = names.map(|n| named_in(&block, n));
            // A type asked of a block that keeps none: SQLite answers.
            let kinds = match (kind, &block.kind) {
                (Some(_), None) => return Ok(None),
                (Some(k), Some(v)) => Some((k, v)),
                (None, _) => None,
            };
            let keep = |i: usize| {
                let ts = block.ts[i];
                ts >= a
                    && ts < b
                    && !(bots_left_out && block.bot[i])
                    && named.as_ref().is_none_or(|k| k[block.name[i] as usize])
                    && kinds.is_none_or(|(k, v)| v[i] == k)
                    && passes.as_ref().is_none_or(|p| p[i] == 1)
                    && members
                        .as_ref()
                        .is_none_or(|m| m.get(block.user[i] as usize).copied().unwrap_or(false))
            };
            // Room for the rows kept, not the block's: a narrow window or
            // a names pushdown keeps few. (A fold reuses one chunk's or
            // one slice's room.)
            if held_whole {
                let kept = (0..block.ts.len()).filter(|i| keep(*i)).count();
                s.rows_mut().reserve(kept);
            }
            let numbers = match numbering.as_mut() {
                Some(n) => n.blocks.entry(first).or_default(),
                None => {
                    scratch.ids.clear();
                    scratch.strings.clear();
                    &mut scratch
                }
            };
            // Tests small enough to be inlined in the loop over the block's
            // rows where no type is asked: times and bots, and the names
            // first when a names pushdown keeps few rows.
            match (&named, kinds, passes.is_some() || members.is_some()) {
                (None, None, false) => {
                    let in_window = |i: usize| {
                        let ts = block.ts[i];
                        ts >= a && ts < b && !(bots_left_out && block.bot[i])
                    };
                    push_block(&mut s, &block, need, in_window, numbers, &extra);
                }
                (Some(named), None, false) => {
                    let named_in_window = |i: usize| {
                        let ts = block.ts[i];
                        named[block.name[i] as usize]
                            && ts >= a
                            && ts < b
                            && !(bots_left_out && block.bot[i])
                    };
                    push_block(&mut s, &block, need, named_in_window, numbers, &extra);
                }
                _ => push_block(&mut s, &block, need, keep, numbers, &extra),
            }
            read = first + blocks::BLOCK_EVENTS - 1;
            if most.is_some_and(|m| s.rows.len() > m) {
                s.rows_mut().clear();
                pace.overflowed();
                continue 'slices;
            }
            // Unsorted, the rows read so far go on once there are enough.
            if let Some(k) = sink.as_mut().filter(|k| !sorted && s.rows.len() >= k.rows) {
                (k.take)(&s.rows, &s.strings);
                s.rows_mut().clear();
            }
        }
        if !uncovered(&mut s, &mut dims, read, max_id, slice)? {
            return Ok(None);
        }
        match sink.as_mut().filter(|_| in_slices) {
            // In slices, the slice goes on in time order before the next
            // is read: gathered a chunk at a time, so it is never copied
            // whole.
            Some(k) => {
                pace.read(s.rows.len() as f64, slices::estimate(slice, &spread));
                scan::hand_on_in_time_order(&s.rows, &s.strings, k);
                s.rows_mut().clear();
            }
            None if sorted => order_new(&mut s, 0),
            None => {}
        }
        if b >= until {
            break;
        }
        a = b;
    }
    drop(stmt);
    // Every row was kept or dropped as it was read.
    let rows = std::mem::take(s.rows_mut());
    let strings = s.strings.without_numbers();
    if let (Some(p), Some(mut n)) = (projection, numbering) {
        n.strings = s.strings;
        p.keep_numbering(n);
    }
    Ok(Some(Events {
        rows: Rows::Owned(rows),
        strings,
    }))
}

/// How many texts a block's dimensions may hold that a window has not
/// met before: each costs a statement of its own, so past that (a
/// dimension of nearly a value per event) SQLite's scan of the events,
/// which reads each row's value as it goes, answers the window.
const MAX_NEW_TEXTS: usize = dims::MANY_TEXTS;

/// How many distinct texts a window keeps with their values, and how many
/// bytes of them: past either, those met so far are forgotten (evaluated
/// again if met again), so memory for the texts stays bounded whatever
/// the dimension holds.
const MAX_MET_TEXTS: usize = 1 << 16;
const MAX_MET_BYTES: usize = 16 << 20;

/// Below this many events estimated in a window (from its blocks' times
/// and counts), a window whose dimensions are asked for or tested is read
/// from SQLite: its time index reads those few rows, where the blocks
/// would be decoded whole.
const NARROW_ROWS: f64 = 2_048.0;

/// A dimension's value for each event of the blocks a window reads, from
/// their dimensions ([`crate::tracking::dims`]): each distinct text
/// evaluated once by SQLite with the expression the events' rows are read
/// with ([`scan::dimension_sql`]), so the values are the same. Or, for the
/// `dimension` filter, whether each event passes it: 1 where
/// [`super::query::DIMENSION_TEST_SQL`] holds, else 0.
pub(super) struct DimensionValues<'c> {
    conn: &'c Connection,
    /// The statement that evaluates a text (`?1`) at the path (`?2`),
    /// against the value (`?3`) for a test.
    sql: String,
    /// The dimension's JSON path.
    path: &'c str,
    /// The value a test compares with; `None` for a dimension's value.
    equals: Option<&'c rusqlite::types::Value>,
    /// Each text met so far, and its value's interned number (a test's
    /// answer, 1 or 0).
    met: FastMap<Vec<u8>, u32>,
    /// The bytes of the texts in `met`.
    met_bytes: usize,
    /// The value of an event without dimensions, once met.
    none: Option<u32>,
}

impl<'c> DimensionValues<'c> {
    fn new(conn: &'c Connection, sql: &'static str, path: &'c str) -> Self {
        Self {
            conn,
            sql: format!("SELECT {}", scan::dimension_sql(sql, "?1", "?2")),
            path,
            equals: None,
            met: FastMap::default(),
            met_bytes: 0,
            none: None,
        }
    }

    /// Whether each event passes the `dimension` filter at `path` that
    /// keeps `equals`.
    pub(super) fn test(
        conn: &'c Connection,
        path: &'c str,
        equals: &'c rusqlite::types::Value,
    ) -> Self {
        let sql = scan::dimension_sql(super::query::DIMENSION_TEST_SQL, "?1", "?2");
        Self {
            sql: format!("SELECT {}", sql.replace("?V", "?3")),
            equals: Some(equals),
            ..Self::new(conn, scan::DIMENSION_SQL, path)
        }
    }

    /// The value of the dimension for text `t` (`None`: no dimensions).
    fn value(&mut self, strings: &mut Interner, t: Option<&[u8]>) -> Result<u32> {
        let known = match t {
            Some(t) => self.met.get(t).copied(),
            None => self.none,
        };
        if let Some(n) = known {
            return Ok(n);
        }
        let text = rusqlite::types::ToSqlOutput::Borrowed(t.map_or(ValueRef::Null, ValueRef::Text));
        let mut stmt = self.conn.prepare_cached(&self.sql)?;
        let n = match self.equals {
            None => stmt.query_row(rusqlite::params![text, self.path], |r| {
                Ok(strings.intern(r.get_ref(0)?))
            })?,
            Some(v) => stmt.query_row(rusqlite::params![text, self.path, v], |r| {
                Ok(u32::from(r.get_ref(0)? == ValueRef::Integer(1)))
            })?,
        };
        match t {
            Some(t) => {
                if self.met.len() >= MAX_MET_TEXTS || self.met_bytes + t.len() > MAX_MET_BYTES {
                    self.met = FastMap::default();
                    self.met_bytes = 0;
                }
                self.met_bytes += t.len();
                self.met.insert(t.to_vec(), n);
            }
            None => self.none = Some(n),
        }
        Ok(n)
    }

    /// The values of the `events` events of the block that starts at
    /// `first`, in id order. `None` when its dimensions are missing (not
    /// yet written), unreadable, of another block or another number of
    /// events, marked as holding too many texts, hold more than
    /// [`MAX_NEW_TEXTS`] not met yet (or the window would keep more than
    /// [`MAX_MET_TEXTS`]), or hold a text SQLite cannot read as JSON: the
    /// window is then read from SQLite, as it was before blocks kept
    /// dimensions (which reads each value only of the rows it keeps).
    pub(super) fn of_block(
        &mut self,
        strings: &mut Interner,
        first: i64,
        events: usize,
        read: Option<&dyn Fn(usize) -> bool>,
    ) -> Result<Option<Vec<u32>>> {
        let data: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT data FROM event_block_dims WHERE first_id = ?1")?
            .query_row([first], |r| r.get(0))
            .optional()?;
        let Some(d) = data
            .as_deref()
            .and_then(|d| dims::decode(first, d))
            .filter(|d| d.events == events && !d.many)
        else {
            return Ok(None);
        };
        // The texts the events read hold (by number; 0, none): only these
        // are evaluated, so that a text no event of the window holds never
        // sends it to SQLite (whose scan reads only the window's rows).
        let mut used = vec![read.is_none(); d.texts.len() + 1];
        if let Some(read) = read {
            for i in (0..events).filter(|i| read(*i)) {
                if let Some(u) = used.get_mut(d.of(i) as usize) {
                    *u = true;
                }
            }
        }
        let new = d
            .texts
            .iter()
            .zip(&used[1..])
            .filter(|(t, u)| **u && !self.met.contains_key(**t))
            .count();
        if new > MAX_NEW_TEXTS {
            return Ok(None);
        }
        let mut by_number = vec![0u32; d.texts.len() + 1];
        for (k, n) in by_number.iter_mut().enumerate() {
            if !used[k] {
                continue;
            }
            let text = k.checked_sub(1).map(|k| d.texts[k]);
            match self.value(strings, text) {
                Ok(v) => *n = v,
                Err(_) => return Ok(None),
            }
        }
        Ok(Some(
            (0..events)
                .map(|i| by_number.get(d.of(i) as usize).copied().unwrap_or(0))
                .collect(),
        ))
    }

    /// Puts in each of `s`'s rows from `start` on ([`read_ids`]'s, kept)
    /// its value, from its `dimensions` text in `texts` (its
    /// [`Row::extra`] less 1): evaluated only for the rows kept, as
    /// SQLite's scan does. False when a text cannot be evaluated.
    fn of_rows(&mut self, s: &mut State, start: usize, texts: &[Option<Vec<u8>>]) -> Result<bool> {
        for i in start..s.rows.len() {
            let place = s.rows[i].extra as usize;
            let text = place.checked_sub(1).and_then(|p| texts.get(p));
            let Some(text) = text else {
                return Ok(false);
            };
            let Ok(value) = self.value(&mut s.strings, text.as_deref()) else {
                return Ok(false);
            };
            s.rows_mut()[i].extra = value;
        }
        Ok(true)
    }

    /// Keeps of `s`'s rows from `start` on ([`read_ids`]'s, each
    /// [`Row::extra`] its place in `texts`, from 1) those that pass this
    /// test, leaving their places as they are. Evaluated for every row
    /// (SQLite's scan may test the dimension before the other filters):
    /// false when a text cannot be evaluated.
    fn keep_rows(
        &mut self,
        s: &mut State,
        start: usize,
        texts: &[Option<Vec<u8>>],
    ) -> Result<bool> {
        let mut kept = start;
        for i in start..s.rows.len() {
            let row = s.rows[i];
            let text = (row.extra as usize)
                .checked_sub(1)
                .and_then(|p| texts.get(p));
            let Some(text) = text else {
                return Ok(false);
            };
            let Ok(pass) = self.value(&mut s.strings, text.as_deref()) else {
                return Ok(false);
            };
            if pass == 1 {
                s.rows_mut()[kept] = row;
                kept += 1;
            }
        }
        s.rows_mut().truncate(kept);
        Ok(true)
    }
}

/// What a window reads of the blocks' dimensions: a dimension's values
/// (a breakdown) and the `dimension` filter's test.
struct WindowDimensions<'c> {
    values: Option<DimensionValues<'c>>,
    test: Option<DimensionValues<'c>>,
}

/// The share of the events of the blocks read by name so far that the
/// names asked may hold before a window reads its next blocks whole.
const NAMED_SHARE: f64 = 0.5;

/// Which of `block`'s strings are among `names`, by the block's numbering
/// (entry 0, no string, is not).
fn named_in(block: &blocks::Block<'_>, names: &[String]) -> Vec<bool> {
    std::iter::once(false)
        .chain(block.strings.iter().map(|t| names.iter().any(|x| x == t)))
        .collect()
}

/// How many blocks a window read in slices with a names pushdown samples
/// first, to guess how many of its events the names keep.
const SAMPLE_BLOCKS: usize = 8;

/// A packed block of a window, as listed from the time index.
struct WindowBlock {
    first: i64,
    events: i64,
    min_ts: i64,
    max_ts: i64,
}

/// Reads the events with ids in `(s.max_id, upto]` into `s`, keeping the
/// rows ordered by time then id. False if that would pass [`MAX_ROWS`].
fn read_after(conn: &Connection, s: &mut State, upto: i64) -> Result<bool> {
    let most = usize::try_from(upto - s.max_id).unwrap_or(0);
    if s.rows.len() + most > MAX_ROWS {
        return Ok(false);
    }
    let start = s.rows.len();
    read_ids(conn, s, s.max_id, upto, None, None, None)?;
    s.max_id = upto;
    order_new(s, start);
    Ok(true)
}

/// Loads every event with an id up to `upto` into an empty `s`: from the
/// packed blocks ([`blocks`]) where there is one, from the events' rows
/// for the ids no block holds (the newest, and any a change dropped).
/// False if that would pass [`MAX_ROWS`].
fn load(conn: &Connection, s: &mut State, upto: i64) -> Result<bool> {
    let most = usize::try_from(upto).unwrap_or(0);
    if most > MAX_ROWS {
        return Ok(false);
    }
    // A first read: no spare capacity.
    s.rows_mut().reserve_exact(most);
    let mut read = 0i64;
    blocks::read(conn, |first, block| {
        let last = first + blocks::BLOCK_EVENTS - 1;
        if first <= read || last > upto {
            return Ok(());
        }
        if first - 1 > read {
            read_ids(conn, s, read, first - 1, None, None, None)?;
        }
        push_block(
            s,
            &block,
            Columns::ALL,
            |_| true,
            &mut BlockNumbers::default(),
            &[],
        );
        read = last;
        Ok(())
    })?;
    if upto > read {
        read_ids(conn, s, read, upto, None, None, None)?;
    }
    s.max_id = upto;
    order_new(s, 0);
    Ok(true)
}

/// Which of a row's sessions, pages, users and names a window reads; the
/// others are left at 0, and not numbered.
#[derive(Debug, Clone, Copy)]
pub(super) struct Columns {
    /// Sessions.
    pub session: bool,
    /// Pages.
    pub page: bool,
    /// Users.
    pub user: bool,
    /// Names.
    pub name: bool,
    /// The metric reads, of each session, only its first and last time and
    /// highest rate (and of all rows, whether any is sampled): a block
    /// wholly inside an unsorted window may give its spans instead, two rows
    /// a session ([`crate::tracking::spans`]).
    pub spans: bool,
    /// The metric reads of each row only its time, user, name, rate and
    /// bot flag: with names kept, a block wholly inside an unsorted window
    /// may give its rows of those names from its rows by name
    /// ([`crate::tracking::names`]; each row's session, page and type at 0).
    pub by_names: bool,
}

/// Which events a window keeps: the filters the projection and the packed
/// blocks answer.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Keep<'a> {
    /// Bots' events are left out.
    pub bots_left_out: bool,
    /// Only these names, when given.
    pub names: Option<&'a [String]>,
    /// Only events of this type code
    /// ([`crate::tracking::EventType::code`]), when given.
    pub kind: Option<u8>,
    /// The metric reads each row's type code: a window is answered only
    /// where every event's type is known (no block of the first format).
    pub typed: bool,
    /// Each row's [`Row::extra`] is the value of the dimension at this
    /// JSON path, read with this SQL template ([`scan::DIMENSION_SQL`] or
    /// [`scan::BOOL_DIMENSION_SQL`]): from the blocks' dimensions
    /// ([`crate::tracking::dims`]), which the projection does not keep.
    pub extra: Option<(&'static str, &'a str)>,
    /// Only events whose dimension at this JSON path equals this value
    /// ([`super::query::DIMENSION_TEST_SQL`]): from the blocks'
    /// dimensions, which the projection does not keep.
    pub test: Option<(&'a str, &'a rusqlite::types::Value)>,
    /// Only events of these users (by [`Interner::hash`] of their key: a
    /// segment's, [`super::segments::users`]), which the projection does
    /// not keep.
    pub users: Option<&'a crate::kernel::fastmap::FastSet<u64>>,
}

impl Columns {
    /// Every column: the whole projection.
    const ALL: Columns = Columns {
        session: true,
        page: true,
        user: true,
        name: true,
        spans: false,
        by_names: false,
    };
}

/// Appends two rows per session of a block's spans (its first time and
/// its last, at its highest rate; one when they are the same), and, when
/// some event of the block is sampled, a row of no session at the lowest
/// rate (at `ts`), so that a metric reading only those sees what the
/// block's rows would show it.
/// The sessions are numbered as rows number them, once per block while
/// nothing changes (`numbers`, the block's kept numbers of its spans).
fn push_spans(
    s: &mut State,
    spans: &crate::tracking::spans::Spans<'_>,
    ts: i64,
    numbers: &mut [u32],
) {
    let rows = Arc::make_mut(&mut s.rows);
    let row = |ts: i64, session: u32, rate: f64| Row {
        ts,
        user: 0,
        session,
        name: 0,
        page: 0,
        extra: 0,
        rate,
        bot: false,
        kind: 0,
    };
    if let Some(rate) = spans.lowest_rate.filter(|r| *r < 1.0) {
        rows.push(row(ts, 0, rate));
    }
    for (span, n) in spans.sessions.iter().zip(numbers) {
        if *n == UNNUMBERED {
            *n = s.strings.number(ValueRef::Text(span.id));
        }
        let session = *n;
        rows.push(row(span.first, session, span.rate));
        if span.last != span.first {
            rows.push(row(span.last, session, span.rate));
        }
    }
}

/// A block's rows of `names` from its rows by name as fetched (`(name,
/// bytes)`, the list among them), into `out` in the block's id order,
/// bots' left out when `bots_left_out`; users and names numbered as
/// [`push_block`] numbers them (the list's users once per block while
/// nothing changes: `numbers`), sessions, pages and types at 0. Only when
/// they agree with the block that starts at `first` and has times within
/// `times`: a list of that block, a row for each name kept it lists and
/// for no other, each of that block and of users the list holds, with
/// times within the block's and places that no other name's takes.
/// Returns how many of them are bots'; `None` otherwise (the block is then
/// read whole). `scratch` is room for the rows name by name, each name's in
/// id order, put in id order from there into `out`.
#[allow(clippy::too_many_arguments)]
fn named_rows(
    s: &mut State,
    first: i64,
    fetched: &[(String, Vec<u8>)],
    names: &[String],
    (lo, hi): (i64, i64),
    (need, bots_left_out): (Columns, bool),
    numbers: &mut BlockNumbers,
    (scratch, out): (&mut Vec<(u16, Row)>, &mut Vec<Row>),
) -> Option<usize> {
    use crate::tracking::names;
    scratch.clear();
    out.clear();
    let (_, list) = fetched.iter().find(|(n, _)| n == names::LIST)?;
    let list = names::decode_list(first, list)?;
    let expected = names
        .iter()
        .filter(|n| list.names.contains(&n.as_str()))
        .count();
    let of_list = (list.users(), list.users_sum());
    numbers.fit_list(of_list.0, of_list.1);
    let users = &mut numbers.listed;
    // Where each name's rows start in `scratch`, and end; the places
    // taken so far; the bots' events met.
    let mut runs: Vec<(usize, usize)> = Vec::with_capacity(expected);
    let mut taken = [0u64; blocks::BLOCK_EVENTS as usize / 64];
    let mut bots = 0usize;
    // The users' keys, decoded when a user not numbered yet is met
    // (`None` inside when they are not each once, sorted).
    let mut keys: Option<Option<names::Keys>> = None;
    for (name, data) in fetched.iter().filter(|(n, _)| n != names::LIST) {
        // Listed, with the sum of these bytes.
        let at = list.names.iter().position(|n| *n == name.as_str())?;
        if list.sums[at] != names::sum(data) {
            return None;
        }
        let name = if need.name {
            s.strings.intern_str(name)
        } else {
            0
        };
        let start = scratch.len();
        let mut agrees = true;
        let read = names::each(first, data, of_list, |e| {
            let bit = 1u64 << (e.pos % 64);
            let word = &mut taken[usize::from(e.pos / 64)];
            agrees &= e.ts >= lo && e.ts <= hi && *word & bit == 0;
            *word |= bit;
            if bots_left_out && e.bot {
                return;
            }
            let user = if need.user {
                let u = &mut users[e.user as usize];
                if *u == UNNUMBERED {
                    match keys.get_or_insert_with(|| list.keys()) {
                        Some(keys) => {
                            *u = s
                                .strings
                                .number(ValueRef::Text(keys.get(e.user as usize - 1)));
                        }
                        None => agrees = false,
                    }
                }
                *u
            } else {
                0
            };
            bots += usize::from(e.bot);
            let row = Row {
                ts: e.ts,
                user,
                session: 0,
                name,
                page: 0,
                extra: 0,
                rate: e.rate,
                bot: e.bot,
                kind: 0,
            };
            scratch.push((e.pos, row));
        });
        if read.is_none() || !agrees {
            return None;
        }
        runs.push((start, scratch.len()));
    }
    if runs.len() != expected {
        return None;
    }
    out.reserve(scratch.len());
    if runs.len() <= 2 {
        // Merged by place: the next row is the lower place at the head of
        // the two names' runs.
        loop {
            let mut best: Option<usize> = None;
            for (k, (at, end)) in runs.iter().enumerate() {
                if at < end && best.is_none_or(|b| scratch[*at].0 < scratch[runs[b].0].0) {
                    best = Some(k);
                }
            }
            let Some(k) = best else { break };
            out.push(scratch[runs[k].0].1);
            runs[k].0 += 1;
        }
    } else {
        // More names: each row put at its place (places are taken once),
        // then the places read in order.
        let mut at = [u32::MAX; blocks::BLOCK_EVENTS as usize];
        for (i, (pos, _)) in scratch.iter().enumerate() {
            at[usize::from(*pos)] = i as u32;
        }
        out.extend(
            at.iter()
                .filter(|i| **i != u32::MAX)
                .map(|i| scratch[*i as usize].1),
        );
    }
    Some(bots)
}

/// Appends the rows of `block` whose index `keep` accepts to `s.rows`,
/// numbering the block's strings into `s.strings` as they are first met.
/// Sessions, pages, users and names only when `need` asks for them (else
/// 0, and not numbered: a window read for a metric that ignores them).
/// Each row's [`Row::extra`] is its event's in `extra` (0 when empty).
fn push_block(
    s: &mut State,
    block: &blocks::Block<'_>,
    need: Columns,
    mut keep: impl FnMut(usize) -> bool,
    numbers: &mut BlockNumbers,
    extra: &[u32],
) {
    let rows = Arc::make_mut(&mut s.rows);
    numbers.fit(block);
    let BlockNumbers { ids, strings, .. } = numbers;
    for i in 0..block.ts.len() {
        if !keep(i) {
            continue;
        }
        let mut id = |x: u32| -> u32 {
            let n = &mut ids[x as usize];
            if *n == UNNUMBERED {
                *n = s.strings.number(ValueRef::Text(block.ids[x as usize - 1]));
            }
            *n
        };
        let user = if need.user { id(block.user[i]) } else { 0 };
        let session = if need.session {
            id(block.session[i])
        } else {
            0
        };
        let mut text = |x: u32| -> u32 {
            let n = &mut strings[x as usize];
            if *n == UNNUMBERED {
                *n = s.strings.intern_str(&block.strings[x as usize - 1]);
            }
            *n
        };
        let name = if need.name { text(block.name[i]) } else { 0 };
        let page = if need.page { text(block.page[i]) } else { 0 };
        s.bots += usize::from(block.bot[i]);
        let kind = match &block.kind {
            Some(k) => k[i],
            None => {
                s.untyped += 1;
                0
            }
        };
        rows.push(Row {
            ts: block.ts[i],
            user,
            session,
            name,
            page,
            extra: extra.get(i).copied().unwrap_or(0),
            rate: block.rate[i],
            bot: block.bot[i],
            kind,
        });
    }
}

/// Appends the events with ids in `(after, upto]` to `s.rows`, in id
/// order; only those with times in `window` when given.
/// With `texts`, each row's `dimensions` text is pushed there and its
/// [`Row::extra`] is its place there, from 1 (for
/// [`DimensionValues::of_rows`]).
fn read_ids(
    conn: &Connection,
    s: &mut State,
    after: i64,
    upto: i64,
    window: Option<(i64, i64)>,
    mut texts: Option<&mut Vec<Option<Vec<u8>>>>,
    users: Option<&crate::kernel::fastmap::FastSet<u64>>,
) -> Result<()> {
    let times = if window.is_some() {
        " AND +ts >= ?3 AND +ts < ?4"
    } else {
        ""
    };
    let extra = if texts.is_some() {
        "dimensions"
    } else {
        "NULL"
    };
    let sql = format!(
        "SELECT ts, {USER_KEY}, session_id, name, CASE WHEN type = 'page' THEN COALESCE(path, url) END, \
         sample_rate, device IS 'bot', {}, {extra} FROM events WHERE id > ?1 AND id <= ?2{times} ORDER BY id",
        blocks::TYPE_CODE_SQL
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut it = match window {
        Some((from, until)) => stmt.query([after, upto, from, until])?,
        None => stmt.query([after, upto])?,
    };
    let rows = Arc::make_mut(&mut s.rows);
    while let Some(r) = it.next()? {
        // Only the segment's users, when one is asked.
        if let Some(u) = users {
            let member = match r.get_ref(1)? {
                ValueRef::Text(key) => super::segments::holds(u, key),
                _ => false,
            };
            if !member {
                continue;
            }
        }
        let bot: bool = r.get(6)?;
        s.bots += usize::from(bot);
        let extra = match texts.as_mut() {
            Some(t) => {
                t.push(match r.get_ref(8)? {
                    ValueRef::Text(x) => Some(x.to_vec()),
                    _ => None,
                });
                t.len() as u32
            }
            None => 0,
        };
        rows.push(Row {
            ts: r.get(0)?,
            user: s.strings.number(r.get_ref(1)?),
            session: s.strings.number(r.get_ref(2)?),
            name: s.strings.intern(r.get_ref(3)?),
            page: s.strings.intern(r.get_ref(4)?),
            extra,
            rate: r.get(5)?,
            bot,
            kind: r.get(7)?,
        });
    }
    Ok(())
}

/// Puts the rows from `start` on (read in id order) in time order, and
/// merges them with the rows before `start` if they go back in time.
fn order_new(s: &mut State, start: usize) {
    let rows = s.rows_mut();
    let (old, new) = rows.split_at_mut(start);
    // Stable: equal times keep id order.
    super::scan::sort_by_time(new);
    let in_order = match (old.last(), new.first()) {
        (Some(last), Some(first)) => first.ts >= last.ts,
        _ => true,
    };
    if !in_order {
        // Late events: merge, the older rows first at equal times (lower ids).
        let new: Vec<Row> = rows.split_off(start);
        let old = std::mem::take(rows);
        rows.reserve_exact(old.len() + new.len());
        let mut old = old.into_iter().peekable();
        let mut new = new.into_iter().peekable();
        while let (Some(o), Some(n)) = (old.peek(), new.peek()) {
            let next = if o.ts <= n.ts { old.next() } else { new.next() };
            rows.extend(next);
        }
        rows.extend(old);
        rows.extend(new);
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// A window that decodes neither names nor pages (`sessionDurations`)
    /// keeps the numbers a window that read them gave a block's strings,
    /// for the next such window; a block holding other strings is numbered
    /// afresh.
    #[test]
    fn a_window_without_strings_keeps_the_numbers_of_strings() {
        let rows = [
            (1, "u1", "s1", "page_view", Some("/a")),
            (2, "u2", "s1", "buy", None),
        ];
        let bytes = blocks::packed_for_test(&rows);
        let all = blocks::decode(&bytes).unwrap();
        let mut n = BlockNumbers::default();
        n.fit(&all);
        assert_eq!(n.strings, vec![0, UNNUMBERED, UNNUMBERED, UNNUMBERED]);
        // Numbered by a window that read them.
        (n.ids[1], n.strings[1], n.strings[3]) = (5, 7, 9);
        let bare = blocks::Wanted {
            user: false,
            session: true,
            page: false,
            name: false,
        };
        let without = blocks::decode_columns(&bytes, bare).unwrap();
        assert!(without.strings.is_empty());
        n.fit(&without);
        assert_eq!((n.ids[1], n.strings[1], n.strings[3]), (5, 7, 9));
        n.fit(&all);
        assert_eq!((n.ids[1], n.strings[1], n.strings[3]), (5, 7, 9));
        // The same ids, other strings: a block rewritten, numbered again.
        let other = blocks::packed_for_test(&[
            (1, "u1", "s1", "signup", Some("/a")),
            (2, "u2", "s1", "buy", None),
        ]);
        n.fit(&blocks::decode_columns(&other, bare).unwrap());
        assert_eq!(n.strings[1], UNNUMBERED);
        assert_eq!(n.ids[1], UNNUMBERED);
    }
}
