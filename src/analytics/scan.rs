//! Reading the events of a query into a compact, time-ordered form that the
//! metrics walk in Rust. Strings are interned to numbers once, so grouping
//! by user, session, name or path costs an integer compare.

use std::ops::{Deref, Range};
use std::sync::Arc;

use rusqlite::params_from_iter;
use rusqlite::types::{Value as SqlValue, ValueRef};

use super::query::{Resolved, USER_KEY};
use super::slices;
use crate::error::Result;
use crate::kernel::stats::Total;
use crate::kernel::tally::Tally;
use crate::tracking::blocks;

pub use crate::kernel::fastmap::{FastMap, FastSet};

/// Interned strings; id 0 is "none".
///
/// Users and sessions, of which there are many, are numbered by a 64-bit
/// hash of their id instead ([`Interner::number`]): no string is kept or
/// compared, which halves the cost of a scan. Two ids would have to share
/// a 64-bit hash to be counted as one.
#[derive(Debug, Default)]
pub struct Interner {
    ids: FastMap<String, u32>,
    strings: Vec<String>,
    numbers: FastMap<u64, u32>,
    /// How many numbers were given, kept by [`Interner::without_numbers`].
    numbered: usize,
}

impl Interner {
    /// An empty interner, with id 0 for "none".
    pub(super) fn new() -> Self {
        Self {
            ids: FastMap::default(),
            strings: vec![String::new()],
            numbers: FastMap::default(),
            numbered: 0,
        }
    }

    pub(super) fn intern(&mut self, v: ValueRef<'_>) -> u32 {
        match v {
            ValueRef::Text(t) => match std::str::from_utf8(t) {
                Ok(s) => self.intern_str(s),
                Err(_) => self.intern_str(&String::from_utf8_lossy(t)),
            },
            ValueRef::Integer(i) => self.intern_str(&i.to_string()),
            ValueRef::Real(r) => self.intern_str(&r.to_string()),
            _ => 0,
        }
    }

    /// A number (from 1) for a text value that is never printed, by its
    /// 64-bit hash; 0 for NULL.
    pub(super) fn number(&mut self, v: ValueRef<'_>) -> u32 {
        self.number_hash(Self::hash(v))
    }

    /// The 64-bit hash [`Interner::number`] numbers a text value by; `None`
    /// for NULL.
    pub(super) fn hash(v: ValueRef<'_>) -> Option<u64> {
        match v {
            ValueRef::Text(t) => Some(crate::kernel::ids::id_hash(t)),
            // The id columns are TEXT in a STRICT table: nothing else occurs.
            _ => None,
        }
    }

    /// The number of a value by its [`Interner::hash`]: as
    /// [`Interner::number`] gives it.
    pub(super) fn number_hash(&mut self, h: Option<u64>) -> u32 {
        let Some(h) = h else { return 0 };
        let next = self.numbers.len() as u32 + 1;
        *self.numbers.entry(h).or_insert(next)
    }

    /// The id of `s`, adding it if new.
    pub fn intern_str(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.to_owned());
        self.ids.insert(s.to_owned(), id);
        id
    }

    /// A copy with the strings, for rows already read: the numbering of
    /// users and sessions is not needed once they are numbered.
    pub(super) fn without_numbers(&self) -> Self {
        Self {
            ids: self.ids.clone(),
            strings: self.strings.clone(),
            numbers: FastMap::default(),
            numbered: self.numbered(),
        }
    }

    /// How many users and sessions were numbered: every number a row holds
    /// is at most this.
    pub fn numbered(&self) -> usize {
        self.numbers.len().max(self.numbered)
    }

    /// How many strings are interned: every id is below this.
    pub fn interned(&self) -> usize {
        self.strings.len()
    }

    /// The id of `s`, if any event had it.
    pub fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    /// The string of an id (empty for 0).
    pub fn str(&self, id: u32) -> &str {
        &self.strings[id as usize]
    }
}

/// One event, as the metrics see it.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// When, in ms.
    pub ts: i64,
    /// The user key ([`USER_KEY`]); 0 when the event has neither id.
    pub user: u32,
    /// The session; 0 when none.
    pub session: u32,
    /// The event name.
    pub name: u32,
    /// The page (path, or URL when there is no path); 0 when neither.
    pub page: u32,
    /// The grouping value asked for (a dimension as JSON text); 0 when none.
    pub extra: u32,
    /// The sample rate the event was kept at.
    pub rate: f64,
    /// Whether the event is a bot's: read by the in-memory projection,
    /// which holds every event (a scan's filter leaves bots out itself).
    /// Fits in the row's padding.
    pub bot: bool,
    /// The event's type code ([`crate::tracking::EventType::code`]), read
    /// by the in-memory projection and from the packed blocks: 0 where it
    /// is not read (a scan's filter keeps types itself) or not known (a
    /// block packed before types were kept). Fits in the padding too.
    pub kind: u8,
}

impl Row {
    /// What the event counts for: `1 / rate`.
    pub fn weight(&self) -> f64 {
        1.0 / self.rate
    }

    /// True for a page view (an event of type `page` with a path or URL).
    pub fn is_page(&self) -> bool {
        self.page != 0
    }
}

/// The rows of a query: read for it, or a window of the in-memory
/// projection's rows, shared rather than copied (a copy of a million rows
/// cost a query more than its metric did).
#[derive(Debug)]
pub enum Rows {
    /// Rows read for this query.
    Owned(Vec<Row>),
    /// `rows[range]`, which the projection keeps.
    Shared(Arc<Vec<Row>>, Range<usize>),
}

impl Deref for Rows {
    type Target = [Row];

    fn deref(&self) -> &[Row] {
        match self {
            Rows::Owned(rows) => rows,
            Rows::Shared(rows, range) => &rows[range.clone()],
        }
    }
}

impl<'a> IntoIterator for &'a Rows {
    type Item = &'a Row;
    type IntoIter = std::slice::Iter<'a, Row>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The events of a query, oldest first, with their strings.
///
/// Shared rows keep the sessions and pages that the query did not ask for;
/// a metric reads only what it asked for ([`Need`]).
#[derive(Debug)]
pub struct Events {
    /// The rows, by time then insertion order; in insertion (id) order
    /// instead for a window read with [`Need::any_order`] from the table
    /// or the packed blocks.
    pub rows: Rows,
    /// The strings the rows refer to.
    pub strings: Interner,
}

impl Events {
    /// The weights of the rows `keep` accepts, counted in a [`Tally`]: its
    /// value does not depend on the rows' order, and tallies of disjoint
    /// parts (partitions) merge to the whole's to the last bit.
    #[cfg(test)]
    pub fn tally_where(&self, keep: impl Fn(&Row) -> bool) -> Tally {
        self.rows
            .iter()
            .filter(|r| keep(r))
            .map(|r| r.weight())
            .collect()
    }

    /// The weights of the distinct keys (users or sessions) that `key`
    /// gives, each `1 / its highest rate`, key 0 left out, counted in a
    /// [`Tally`] by [`DistinctWeights`] (an array indexed by key).
    #[cfg(test)]
    pub fn distinct_tally(&self, key: impl Fn(&Row) -> u32) -> Tally {
        DistinctWeights::new(self.strings.numbered())
            .tally(self.rows.iter().map(|r| (key(r), r.rate)))
    }
}

/// Totals of distinct keys' weights (each `1 / its highest rate`, key 0
/// left out), group after group, in one array indexed by key that is
/// cleared after each group: what `max_rate_weights(..).values().total()`
/// gives, without a map per group.
#[derive(Debug)]
pub struct DistinctWeights {
    max: Vec<f64>,
    touched: Vec<u32>,
}

impl DistinctWeights {
    /// For keys numbered up to `numbered` (more grow the array).
    pub fn new(numbered: usize) -> Self {
        Self {
            max: vec![0.0; numbered + 1],
            touched: Vec::new(),
        }
    }

    /// The total weight of the distinct keys among `items` (key, rate).
    pub fn total(&mut self, items: impl Iterator<Item = (u32, f64)>) -> f64 {
        self.gather(items);
        let all_one = self.touched.iter().all(|k| self.max[*k as usize] == 1.0);
        let total = if all_one {
            self.touched.len() as f64
        } else {
            self.touched
                .iter()
                .map(|k| 1.0 / self.max[*k as usize])
                .total()
        };
        self.clear();
        total
    }

    /// The weights of the distinct keys among `items` (key, rate), each
    /// `1 / its highest rate`, counted in a [`Tally`].
    pub fn tally(&mut self, items: impl Iterator<Item = (u32, f64)>) -> Tally {
        self.gather(items);
        let tally = self
            .touched
            .iter()
            .map(|k| 1.0 / self.max[*k as usize])
            .collect();
        self.clear();
        tally
    }

    /// Each key's highest rate, in `max`, the keys in `touched`.
    fn gather(&mut self, items: impl Iterator<Item = (u32, f64)>) {
        for (k, rate) in items {
            self.add(k, rate);
        }
    }

    /// Counts `key` at `rate` (key 0 left out), for [`DistinctWeights::take`]
    /// to total: a group gathered a chunk of rows at a time.
    pub fn add(&mut self, key: u32, rate: f64) {
        if key == 0 {
            return;
        }
        let i = key as usize;
        if i >= self.max.len() {
            self.max.resize(i + 1, 0.0);
        }
        if self.max[i] == 0.0 {
            self.touched.push(key);
        }
        if rate > self.max[i] {
            self.max[i] = rate;
        }
    }

    /// The weights of the keys added since the last group, as
    /// [`DistinctWeights::tally`] counts them; starts the next group.
    pub fn take(&mut self) -> Tally {
        self.tally(std::iter::empty())
    }

    fn clear(&mut self) {
        for k in self.touched.drain(..) {
            self.max[k as usize] = 0.0;
        }
    }
}

/// The distinct keys of a group (users of an event name, say), each with
/// its highest rate, gathered row after row in memory that grows with the
/// distinct keys rather than the rows: the rows are appended, and reduced
/// to one per key whenever they have doubled since the last time, through
/// a [`DistinctWeights`] the groups share (an array indexed by key: no
/// sort, no map).
///
/// A group with many distinct keys (a bitset of every key numbered so far
/// no larger than its list) keeps the keys met at rate 1, the highest
/// there is, as bits: a row at rate 1 (every row of unsampled data) then
/// sets a bit instead of being appended and compacted again.
#[derive(Debug, Default)]
pub struct DistinctRates {
    items: Vec<(u32, f64)>,
    compacted: usize,
    /// The keys met at rate 1, once the group is large; `items` then holds
    /// keys met at lower rates only, and a key in both counts as 1.
    ones: Option<Vec<u64>>,
}

/// Fewest distinct keys before a group keeps its keys at rate 1 as bits.
const BITS_FROM: usize = 4096;

impl DistinctRates {
    /// Counts `key` at `rate` (key 0, no key, is left out); `scratch` is
    /// empty between calls, as [`DistinctWeights::take`] leaves it.
    pub fn add(&mut self, key: u32, rate: f64, scratch: &mut DistinctWeights) {
        if key == 0 {
            return;
        }
        if let (Some(ones), true) = (self.ones.as_mut(), rate == 1.0) {
            let word = key as usize / 64;
            if word >= ones.len() {
                ones.resize(word + 1, 0);
            }
            ones[word] |= 1 << (key % 64);
            return;
        }
        self.items.push((key, rate));
        if self.items.len() >= (2 * self.compacted).max(1024) {
            self.compact(scratch);
        }
    }

    /// One item per key, with its highest rate (keys among the bits left
    /// out); the bits begin once the keys are many. Not inlined: it runs
    /// now and then, and [`DistinctRates::add`] stays small.
    #[inline(never)]
    fn compact(&mut self, scratch: &mut DistinctWeights) {
        let ones = &self.ones;
        let has = |k: u32| {
            ones.as_ref().is_some_and(|bits| {
                bits.get(k as usize / 64)
                    .is_some_and(|w| w & (1 << (k % 64)) != 0)
            })
        };
        scratch.gather(self.items.drain(..).filter(|(k, _)| !has(*k)));
        let keys = scratch.touched.len();
        if self.ones.is_none() && keys >= BITS_FROM && keys * 128 >= scratch.max.len() {
            let mut bits = vec![0u64; scratch.max.len().div_ceil(64)];
            for &k in &scratch.touched {
                if scratch.max[k as usize] == 1.0 {
                    bits[k as usize / 64] |= 1 << (k % 64);
                } else {
                    self.items.push((k, scratch.max[k as usize]));
                }
            }
            self.ones = Some(bits);
        } else {
            self.items.extend(
                scratch
                    .touched
                    .iter()
                    .map(|k| (*k, scratch.max[*k as usize])),
            );
        }
        scratch.clear();
        self.compacted = self.items.len();
    }

    /// How many keys the bits hold.
    fn ones(&self) -> u64 {
        self.ones.as_ref().map_or(0, |bits| {
            bits.iter().map(|w| u64::from(w.count_ones())).sum()
        })
    }

    /// The total weight of the keys, as [`DistinctWeights::total`] gives
    /// it for the rows added: the keys at rate 1 first, as
    /// [`crate::kernel::stats::Total`] adds the smallest first, so the
    /// bits change no bit of the answer.
    pub fn total(mut self, scratch: &mut DistinctWeights) -> f64 {
        self.compact(scratch);
        let ones = self.ones();
        if ones == 0 {
            return scratch.total(self.items.into_iter());
        }
        let mut rest: Vec<f64> = self.items.iter().map(|(_, rate)| 1.0 / rate).collect();
        if rest.iter().any(|v| v.fract() != 0.0) {
            rest.sort_by(f64::total_cmp);
        }
        rest.iter().fold(ones as f64, |a, b| a + b)
    }

    /// The keys' weights, each `1 / its highest rate`, in a [`Tally`].
    pub fn tally(mut self, scratch: &mut DistinctWeights) -> Tally {
        self.compact(scratch);
        let mut tally: Tally = self.items.iter().map(|(_, rate)| 1.0 / rate).collect();
        let ones = self.ones();
        if ones > 0 {
            tally.add_n(1.0, ones);
        }
        tally
    }
}

/// Values by a string's interned number ([`Interner`] numbers strings
/// densely from 1 as it meets them): an array, so counting a row into its
/// group costs an index, not a hash (a map per row was a tenth of a
/// breakdown's time at 10M events).
#[derive(Debug)]
pub struct ByNumber<T> {
    slots: Vec<Option<T>>,
}

impl<T> Default for ByNumber<T> {
    fn default() -> Self {
        Self { slots: Vec::new() }
    }
}

impl<T: Default> ByNumber<T> {
    /// The value of `key`, made by `T::default()` when first met.
    #[inline]
    pub fn entry(&mut self, key: u32) -> &mut T {
        let k = key as usize;
        if k >= self.slots.len() {
            self.slots.resize_with(k + 1, || None);
        }
        self.slots[k].get_or_insert_with(T::default)
    }
}

impl<T> ByNumber<T> {
    /// The keys met, with their values, in key order.
    pub fn into_entries(self) -> impl Iterator<Item = (u32, T)> {
        self.slots
            .into_iter()
            .enumerate()
            .filter_map(|(k, v)| Some((k as u32, v?)))
    }
}

/// Where the rows of a window go, a chunk at a time, each chunk with the
/// strings read so far (a number keeps its meaning from chunk to chunk):
/// in the order read for a metric whose answer does not depend on it
/// ([`Need::any_order`]), so a window read from SQLite or the packed
/// blocks holds one chunk in memory, not every row; else in time order,
/// a time slice of the blocks' window held at a time (see
/// [`super::projection::window_from_blocks`]).
pub struct Sink<'s> {
    /// How many rows to hold before handing them on.
    pub rows: usize,
    /// In time order, about how many rows a time slice of a window read
    /// from the packed blocks holds ([`super::slices::SLICE_ROWS`]).
    pub slice: usize,
    /// What takes them.
    pub take: &'s mut dyn FnMut(&[Row], &Interner),
}

/// How many rows a window read for a [`Sink`] holds before handing them on
/// (2.6 MB of rows).
pub const CHUNK_ROWS: usize = 65_536;

/// Keeps the highest `rate` seen for `key`.
pub(super) fn most<K: std::hash::Hash + Eq>(map: &mut FastMap<K, f64>, key: K, rate: f64) {
    let e = map.entry(key).or_insert(rate);
    if rate > *e {
        *e = rate;
    }
}

/// Keeps the highest `rate` seen for `key` in an array indexed by keys
/// numbered densely ([`Interner::number`]); 0 for a key not seen yet.
#[inline]
pub(super) fn most_by_number(rates: &mut Vec<f64>, key: u32, rate: f64) {
    let k = key as usize;
    if k >= rates.len() {
        rates.resize(k + 1, 0.0);
    }
    rates[k] = rates[k].max(rate);
}

/// 1 / max rate per key, skipping key 0.
pub fn max_rate_weights(items: impl Iterator<Item = (u32, f64)>) -> FastMap<u32, f64> {
    let mut max: FastMap<u32, f64> = FastMap::default();
    for (k, rate) in items.filter(|(k, _)| *k != 0) {
        most(&mut max, k, rate);
    }
    max.values_mut().for_each(|r| *r = 1.0 / *r);
    max
}

/// What a metric needs beyond time, user and name.
#[derive(Debug, Clone, Default)]
pub struct Need {
    /// Sessions.
    pub session: bool,
    /// Pages and the page-view flag.
    pub page: bool,
    /// A SQL expression to fill [`Row::extra`], and the parameter its `?P`
    /// stands for.
    pub extra: Option<(String, Option<SqlValue>)>,
    /// Only these names (a pushdown for metrics that ignore other events).
    pub names: Option<Vec<String>>,
    /// Read from this time instead of the query's `since`.
    pub from: Option<i64>,
    /// The metric does not depend on the rows' order (sums added by
    /// [`Total`], distinct counts): a window read from SQLite or from the
    /// packed blocks is not sorted by time, which spares a sort and its
    /// copy of the window. A window the projection shares is in time order
    /// anyway.
    pub any_order: bool,
    /// The metric reads no user: a window read from the packed blocks
    /// leaves [`Row::user`] at 0 instead of numbering every user key.
    pub no_users: bool,
    /// The metric reads no name (beyond [`Need::names`] and the query's
    /// names, which keep rows): a window read from the packed blocks leaves
    /// [`Row::name`] at 0 instead of decoding the names.
    pub no_names: bool,
    /// The metric reads, of each session, only its first and last time and
    /// highest rate, and of all rows only whether any is sampled (with
    /// [`Need::any_order`]): a packed block wholly inside the window may
    /// give two rows per session from its spans instead of its rows
    /// ([`crate::tracking::spans`]).
    pub spans: bool,
    /// The metric reads of each row only its time, user, name, rate and
    /// bot flag (with [`Need::any_order`] and names kept): a packed block
    /// wholly inside the window may give its rows of those names from its
    /// rows by name instead ([`crate::tracking::names`]).
    pub by_names: bool,
    /// The metric reads each row's type code ([`Row::kind`]): SQLite's
    /// scan reads it, and the projection and the packed blocks answer only
    /// a window whose events' types they all know (none of a block of the
    /// first format). A row of a type none of the four is 0.
    pub kinds: bool,
}

/// The SQL for a row's [`Row::extra`] holding a dimension's value, as
/// JSON text (`null` when absent): `dimensions` is the events' column and
/// `?P` stands for the dimension's JSON path.
pub const DIMENSION_SQL: &str = "json_quote(json_extract(dimensions, ?P))";

/// [`DIMENSION_SQL`] for a `bool` dimension: `true` or `false`, which
/// `json_extract` alone gives as 1 or 0. A 1 or 0 stored there (a lenient
/// ingest lets numbers through) is `true` or `false` too, as a dimension
/// filter's `true` matches them both.
pub const BOOL_DIMENSION_SQL: &str = "CASE json_extract(dimensions, ?P) WHEN 1 THEN 'true' \
     WHEN 0 THEN 'false' ELSE json_quote(json_extract(dimensions, ?P)) END";

/// `template` ([`DIMENSION_SQL`] or [`BOOL_DIMENSION_SQL`]) for the JSON
/// text `json` and the path `path` (both SQL expressions).
pub fn dimension_sql(template: &str, json: &str, path: &str) -> String {
    template.replace("dimensions", json).replace("?P", path)
}

impl Need {
    /// The SQL template ([`DIMENSION_SQL`] or [`BOOL_DIMENSION_SQL`]) and
    /// the JSON path of the dimension whose value [`Need::extra`] reads,
    /// when that is what it reads.
    pub fn dimension(&self) -> Option<(&'static str, &str)> {
        match &self.extra {
            Some((sql, Some(SqlValue::Text(path)))) => [DIMENSION_SQL, BOOL_DIMENSION_SQL]
                .into_iter()
                .find(|t| t == sql)
                .map(|t| (t, path.as_str())),
            _ => None,
        }
    }
}

/// Reads the events `q` selects, oldest first (a wide range with
/// [`Need::any_order`]: in id order). With a `sink`, the rows go to it a
/// chunk at a time as they are read, and the rows returned are the last
/// ones, not yet given: in any order with [`Need::any_order`]; else in
/// time order, a narrow range as read through the time index, a wide one
/// held and sorted a time slice at a time when it holds more events than
/// [`Sink::slice`] (each slice handed on before the next is read), and
/// held whole and sorted otherwise.
pub fn scan(
    conn: &rusqlite::Connection,
    q: &Resolved,
    need: &Need,
    sink: Option<Sink<'_>>,
) -> Result<Events> {
    let from = need.from.unwrap_or(q.since);
    let mut params: Vec<SqlValue> = vec![SqlValue::Integer(from), SqlValue::Integer(q.until)];
    params.extend(q.params.iter().cloned());
    let mut conds = q.where_sql();
    if let Some(names) = &need.names {
        let marks: Vec<String> = names
            .iter()
            .map(|n| {
                params.push(SqlValue::Text(n.clone()));
                format!("?{}", params.len())
            })
            .collect();
        conds.push_str(&format!(" AND name IN ({})", marks.join(", ")));
    }
    let extra = match &need.extra {
        Some((expr, Some(param))) => {
            params.push(param.clone());
            expr.replace("?P", &format!("?{}", params.len()))
        }
        Some((expr, None)) => expr.clone(),
        None => "NULL".into(),
    };
    let session = if need.session { "session_id" } else { "NULL" };
    let page = if need.page {
        "CASE WHEN type = 'page' THEN COALESCE(path, url) END"
    } else {
        "NULL"
    };
    // A wide range reads the table in order and sorts here: much faster
    // than a lookup per row through the time index. A narrow one (realtime)
    // uses the index.
    // (Below one slice's rows, when slices are asked for smaller than
    // that: a window of more is not read through the index whole.)
    let span = event_span(conn)?;
    let estimate = estimate_rows(span, from, q.until);
    let index_most = sink.as_ref().map_or(INDEX_SCAN_MAX_ROWS, |k| {
        INDEX_SCAN_MAX_ROWS.min(k.slice as f64)
    });
    let by_index = estimate < index_most;
    // Rows in time order go on as they are read only from the index; a
    // wide window read in id order is held to be sorted (a lookup per row
    // through the index cost 2-2.5 times as long at 5M events), in time
    // slices when it is too large to hold (see `slices`).
    let ordered = !need.any_order && !by_index;
    let mut sink = sink;
    let spread = match &sink {
        Some(k) if ordered => window_spread(conn, span, (from, q.until), k.slice as f64)?,
        _ => None,
    };
    let (ts, order) = if by_index {
        ("ts", " ORDER BY ts, id")
    } else {
        ("+ts", "")
    };
    let kind = if need.kinds {
        blocks::TYPE_CODE_SQL
    } else {
        "0"
    };
    let head = format!(
        "SELECT ts, {USER_KEY}, {session}, name, {page}, sample_rate, {extra}, {kind} FROM events WHERE "
    );
    let mut strings = Interner::new();
    let most = match (&sink, &spread) {
        (Some(k), Some(_)) => k.slice,
        (Some(k), None) if !ordered => k.rows,
        _ => 4_000_000,
    };
    let mut rows = Vec::with_capacity((estimate as usize).min(most).min(4_000_000));
    // A filter that keeps few makes the next slices span more events (at
    // most 16 times as many), so that a selective filter is not read in
    // many slices; a slice that reads too many rows (the filter kept more
    // late in the window than early, or the blocks' times misjudged it)
    // is read again narrower (see [`slices::Pace`]).
    let mut pace = slices::Pace::default();
    let mut a = from;
    loop {
        let (b, ts) = match (&spread, &sink) {
            (Some(sp), Some(k)) => {
                let goal = pace.goal(k.slice as f64, (1.0 / 16.0, 1.0));
                let b = slices::next_cut((a, q.until), &sp.spread, goal);
                // A slice of events stored in time order is read through
                // the time index: its rows lie together. Else the table is
                // read in order again.
                (b, if sp.in_time_order((a, b)) { "ts" } else { ts })
            }
            _ => (q.until, ts),
        };
        params[0] = SqlValue::Integer(a);
        params[1] = SqlValue::Integer(b);
        let sql = format!("{head}{ts} >= ?1 AND {ts} < ?2{conds}{order}");
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut it = stmt.query(params_from_iter(params.iter()))?;
        let most = match (&spread, &sink) {
            (Some(_), Some(k)) => slices::Pace::most(k.slice, (a, b)),
            _ => None,
        };
        let mut stream = sink.as_mut().filter(|_| !ordered);
        // Users and sessions are numbered a chunk of rows at a time, after
        // the chunk is read (see [`Unnumbered`]).
        let mut unnumbered = Unnumbered::default();
        let mut overflow = false;
        while let Some(r) = it.next()? {
            if most.is_some_and(|m| rows.len() >= m) {
                overflow = true;
                break;
            }
            if let Some(k) = stream.as_mut().filter(|k| rows.len() >= k.rows) {
                unnumbered.number(&mut strings, &mut rows);
                (k.take)(&rows, &strings);
                rows.clear();
            }
            if unnumbered.full() {
                unnumbered.number(&mut strings, &mut rows);
            }
            unnumbered.push(r.get_ref(1)?, r.get_ref(2)?);
            rows.push(Row {
                ts: r.get(0)?,
                user: 0,
                session: 0,
                name: strings.intern(r.get_ref(3)?),
                page: strings.intern(r.get_ref(4)?),
                extra: strings.intern(r.get_ref(6)?),
                rate: r.get(5)?,
                bot: false,
                kind: r.get(7)?,
            });
        }
        drop(it);
        drop(stmt);
        if overflow {
            rows.clear();
            pace.overflowed();
            continue;
        }
        unnumbered.number(&mut strings, &mut rows);
        match (&spread, sink.as_mut()) {
            // In slices, the slice goes on in time order before the next
            // is read.
            (Some(sp), Some(k)) => {
                pace.read(rows.len() as f64, slices::estimate((a, b), &sp.spread));
                hand_on_in_time_order(&rows, &strings, k);
                rows.clear();
            }
            // Stable: rows with equal times keep their insertion order.
            _ if ordered => sort_by_time(&mut rows),
            _ => {}
        }
        if b >= q.until {
            break;
        }
        a = b;
    }
    Ok(Events {
        rows: Rows::Owned(rows),
        strings,
    })
}

/// The user and session hashes of the rows read last, not yet numbered:
/// reading a row of SQLite between two lookups in a map of a million
/// sessions made each evict the other's memory from the cache, so rows
/// are read a chunk at a time and then numbered, in the order read (so
/// the numbers are those a row-by-row numbering gives).
#[derive(Default)]
pub(super) struct Unnumbered(Vec<(Option<u64>, Option<u64>)>);

impl Unnumbered {
    /// Notes the user and session of the row about to be pushed.
    pub(super) fn push(&mut self, user: ValueRef<'_>, session: ValueRef<'_>) {
        self.0.push((Interner::hash(user), Interner::hash(session)));
    }

    /// True when a chunk's rows wait.
    pub(super) fn full(&self) -> bool {
        self.0.len() >= CHUNK_ROWS
    }

    /// Numbers the waiting rows: the last of `rows`.
    pub(super) fn number(&mut self, strings: &mut Interner, rows: &mut [Row]) {
        let start = rows.len() - self.0.len();
        for (row, (user, session)) in rows[start..].iter_mut().zip(self.0.drain(..)) {
            row.user = strings.number_hash(user);
            row.session = strings.number_hash(session);
        }
    }
}

/// Hands `rows` on to `k` in time order (rows with equal times in the
/// order they came), a chunk at a time: gathered by [`time_order`], so the
/// rows are never copied whole.
pub fn hand_on_in_time_order(rows: &[Row], strings: &Interner, k: &mut Sink<'_>) {
    let each = k.rows.max(1);
    match time_order(rows) {
        None => {
            for chunk in rows.chunks(each) {
                (k.take)(chunk, strings);
            }
        }
        Some(order) => {
            let mut chunk = Vec::with_capacity(each.min(rows.len()));
            let mut at = order.iter().peekable();
            while at.peek().is_some() {
                chunk.clear();
                chunk.extend(at.by_ref().take(each).map(|i| rows[i]));
                (k.take)(&chunk, strings);
            }
        }
    }
}

/// Where a window's events lie in time, for reading it from SQLite in time
/// slices: the packed blocks' listed times and counts, and the events no
/// block holds counted as spread from the oldest event to the newest.
struct WindowSpread {
    spread: Vec<slices::Spread>,
    /// The events of the blocks listed, in all.
    listed: f64,
}

impl WindowSpread {
    /// True when the blocks that reach into `slice` hold few events beyond
    /// it (events stored in time order): then the slice's rows lie
    /// together, and reading them through the time index costs less than
    /// reading the whole table again.
    fn in_time_order(&self, slice: (i64, i64)) -> bool {
        let reach: f64 = self
            .spread
            .iter()
            .filter(|s| s.max >= slice.0 && s.min < slice.1)
            .map(|s| s.events.max(0) as f64)
            .sum();
        reach <= 2.0 * slices::estimate(slice, &self.spread) + 4.0 * blocks::BLOCK_EVENTS as f64
            && reach < self.listed / 2.0
    }
}

/// The spread of `window` when it holds more than `slice` events (else
/// `None`: the window is read at once); `span` as [`event_span`] reads it.
fn window_spread(
    conn: &rusqlite::Connection,
    span: Option<EventSpan>,
    window: (i64, i64),
    slice: f64,
) -> Result<Option<WindowSpread>> {
    let (from, until) = window;
    let mut spread: Vec<slices::Spread> = conn
        .prepare_cached(
            "SELECT events, min_ts, max_ts FROM event_blocks WHERE max_ts >= ?1 AND min_ts < ?2",
        )?
        .query_map([from, until], |r| {
            Ok(slices::Spread {
                // Clamped: a damaged count must not size a slice.
                events: r.get::<_, i64>(0)?.clamp(0, blocks::BLOCK_EVENTS),
                min: r.get(1)?,
                max: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let listed: f64 = spread.iter().map(|s| s.events as f64).sum();
    let one = |sql: &str| -> Result<Option<i64>> {
        Ok(conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?)
    };
    let packed = one("SELECT count(*) FROM event_blocks")?.unwrap_or(0) * blocks::BLOCK_EVENTS;
    if let Some(EventSpan {
        ids: n,
        oldest: lo,
        newest: hi,
    }) = span
    {
        spread.push(slices::Spread {
            min: lo,
            max: hi,
            events: (n - packed).max(0),
        });
    }
    Ok((slices::estimate((from, until), &spread) > slice)
        .then_some(WindowSpread { spread, listed }))
}

/// Puts `rows` in time order, rows with equal times in the order they
/// came (a stable sort by time): [`time_order`], then one gather that
/// moves each 40-byte row once, where sorting the rows compared and moved
/// them at every level.
pub fn sort_by_time(rows: &mut [Row]) {
    let Some(order) = time_order(rows) else {
        return;
    };
    let sorted: Vec<Row> = order.iter().map(|i| rows[i]).collect();
    drop(order);
    rows.copy_from_slice(&sorted);
}

/// The positions of `rows` in time order, rows with equal times in the
/// order they came; `None` when they are in time order already. Each row's
/// time (less the smallest) and position are packed into one `u64` when
/// they fit, as they do for any range of up to about 500 years of a
/// million rows, and those are radix sorted by their time bits (least
/// significant digit first, so stable); else a stable sort of positions.
pub fn time_order(rows: &[Row]) -> Option<TimeOrder> {
    if rows.is_sorted_by_key(|r| r.ts) {
        return None;
    }
    let (min, max) = rows.iter().fold((i64::MAX, i64::MIN), |(lo, hi), r| {
        (lo.min(r.ts), hi.max(r.ts))
    });
    let span = max.abs_diff(min);
    let place_bits = usize::BITS - (rows.len() - 1).leading_zeros();
    let time_bits = u64::BITS - span.leading_zeros();
    if place_bits + time_bits > 64 {
        let mut keys: Vec<u64> = (0..rows.len() as u64).collect();
        keys.sort_by_key(|i| rows[*i as usize].ts);
        return Some(TimeOrder {
            keys,
            mask: u64::MAX,
        });
    }
    let mut keys: Vec<u64> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.ts.abs_diff(min) << place_bits) | i as u64)
        .collect();
    // 11 bits a digit: 33 bits of time (three months of milliseconds) in
    // three passes. (Counting every digit in one read of the keys, and
    // skipping a digit all keys share, made no difference natively, and
    // paths in wasm ran 5-9% slower with it: left out.)
    const DIGIT: u32 = 11;
    let mut spare = vec![0u64; keys.len()];
    let mut shift = place_bits;
    while shift < place_bits + time_bits {
        let digit = |k: u64| ((k >> shift) & ((1 << DIGIT) - 1)) as usize;
        let mut start = [0usize; 1 << DIGIT];
        for k in &keys {
            start[digit(*k)] += 1;
        }
        let mut at = 0;
        for c in start.iter_mut() {
            let n = *c;
            *c = at;
            at += n;
        }
        for k in &keys {
            let d = digit(*k);
            spare[start[d]] = *k;
            start[d] += 1;
        }
        std::mem::swap(&mut keys, &mut spare);
        shift += DIGIT;
    }
    Some(TimeOrder {
        keys,
        mask: (1u64 << place_bits) - 1,
    })
}

/// Row positions in time order, from [`time_order`]: 8 bytes a row.
pub struct TimeOrder {
    keys: Vec<u64>,
    mask: u64,
}

impl TimeOrder {
    /// The positions, in time order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.keys.iter().map(|k| (k & self.mask) as usize)
    }
}

/// Below this many rows in range, [`scan`] goes through the time index.
const INDEX_SCAN_MAX_ROWS: f64 = 50_000.0;

/// The highest event id and the oldest and newest times.
#[derive(Debug, Clone, Copy)]
struct EventSpan {
    ids: i64,
    oldest: i64,
    newest: i64,
}

/// Reads the [`EventSpan`]: three index probes, no scan; `None` with no
/// events. Read once per scan, for its estimate and its slices.
fn event_span(conn: &rusqlite::Connection) -> Result<Option<EventSpan>> {
    let one = |sql: &str| -> Result<Option<i64>> {
        Ok(conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?)
    };
    Ok(
        match (
            one("SELECT max(id) FROM events")?,
            one("SELECT min(ts) FROM events")?,
            one("SELECT max(ts) FROM events")?,
        ) {
            (Some(ids), Some(oldest), Some(newest)) => Some(EventSpan {
                ids,
                oldest,
                newest,
            }),
            _ => None,
        },
    )
}

/// Roughly how many events fall in `[since, until)`, assuming they spread
/// evenly between the oldest and newest of `span`.
fn estimate_rows(span: Option<EventSpan>, since: i64, until: i64) -> f64 {
    let Some(EventSpan {
        ids: n,
        oldest: lo,
        newest: hi,
    }) = span
    else {
        return 0.0;
    };
    let overlap = (until.min(hi + 1) - since.max(lo)).max(0) as f64;
    n as f64 * overlap / (hi + 1 - lo) as f64
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn row(user: u32, session: u32, rate: f64) -> Row {
        Row {
            ts: 0,
            user,
            session,
            name: 1,
            page: 0,
            extra: 0,
            rate,
            bot: false,
            kind: 0,
        }
    }

    /// `time_order` is a stable sort by time: equal times keep the order
    /// they came in, whatever the range (narrow, so a digit all share;
    /// three months; past 64 bits with the positions, so the fallback;
    /// negative times).
    #[test]
    fn time_order_is_a_stable_sort_by_time() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // (rows, range, step, spread): times a multiple of `step` leave a
        // low digit the same in every key; with `spread` > 1, only one row
        // in `spread` gets a time in the range, the others 0 (a bucket of
        // most keys, not all).
        for (n, span, step, spread) in [
            (5000, 1000i64, 1, 1),
            (5000, 7_776_000_000, 1, 1),
            (5000, 1 << 20, 4096, 1),
            (5000, 1 << 30, 1, 10),
            (3000, i64::MAX / 2, 1, 1),
            (2, 1, 1, 1),
        ] {
            let rows: Vec<Row> = (0..n)
                .map(|i| Row {
                    ts: if next() % spread == 0 {
                        ((next() % span as u64) as i64 - span / 3) / step * step
                    } else {
                        0
                    },
                    user: i,
                    ..row(0, 0, 1.0)
                })
                .collect();
            let mut expected: Vec<usize> = (0..rows.len()).collect();
            expected.sort_by_key(|i| rows[*i].ts);
            let order = time_order(&rows).map(|o| o.iter().collect::<Vec<_>>());
            let sorted = rows.is_sorted_by_key(|r| r.ts);
            assert_eq!(
                order.unwrap_or_else(|| {
                    assert!(sorted);
                    expected.clone()
                }),
                expected,
                "{n} rows over {span}"
            );
        }
    }

    fn events(rows: Vec<Row>, numbered: usize) -> Events {
        let mut strings = Interner::new();
        strings.numbered = numbered;
        Events {
            rows: Rows::Owned(rows),
            strings,
        }
    }

    #[test]
    fn tallies_count_what_the_map_and_the_rows_give() {
        let rates = [1.0, 0.3, 0.7, 0.9, 1.0, 0.25, 0.3];
        for sampled in [false, true] {
            let rows: Vec<Row> = (0..500u32)
                .map(|i| {
                    let rate = if sampled {
                        rates[i as usize % rates.len()]
                    } else {
                        1.0
                    };
                    // Key 0 (no user, no session) now and then.
                    row(i % 37, (i * 7) % 101, rate)
                })
                .collect();
            let map_tally = |key: fn(&Row) -> u32| -> Tally {
                max_rate_weights(rows.iter().map(|r| (key(r), r.rate)))
                    .into_values()
                    .collect()
            };
            let mut every = Tally::default();
            let mut in_sessions = Tally::default();
            for r in &rows {
                every.add(r.weight());
                if r.session != 0 {
                    in_sessions.add(r.weight());
                }
            }
            // A bound too small (a row numbered past it) still counts.
            for numbered in [101, 3] {
                let ev = events(rows.clone(), numbered);
                assert_eq!(ev.distinct_tally(|r| r.user), map_tally(|r| r.user));
                assert_eq!(ev.distinct_tally(|r| r.session), map_tally(|r| r.session));
                assert_eq!(ev.tally_where(|_| true), every);
                assert_eq!(ev.tally_where(|r| r.session != 0), in_sessions);
            }
            assert_eq!(ev_none().distinct_tally(|r| r.user), Tally::default());
            assert_eq!(ev_none().tally_where(|_| true), Tally::default());
        }
    }

    #[test]
    fn distinct_weights_group_after_group_equal_the_map() {
        let rates = [1.0, 0.3, 0.7, 0.9, 1.0, 0.25];
        let mut distinct = DistinctWeights::new(10);
        for group in 0..6u32 {
            let items: Vec<(u32, f64)> = (0..200u32)
                .map(|i| {
                    (
                        (i * (group + 3)) % 53,
                        if group % 2 == 0 {
                            1.0
                        } else {
                            rates[(i % 6) as usize]
                        },
                    )
                })
                .collect();
            let want = max_rate_weights(items.iter().copied()).values().total();
            assert_eq!(
                distinct.total(items.into_iter()).to_bits(),
                want.to_bits(),
                "group {group}"
            );
        }
        assert_eq!(
            distinct.total(std::iter::empty()).to_bits(),
            0.0f64.to_bits()
        );
    }

    #[test]
    fn sorting_by_time_is_stable_as_the_sort_of_rows() {
        let mut rand = crate::kernel::testing::xorshift(2_463_534_242);
        // Few distinct times (ties keep their order), spread ones, negative
        // ones, and a span too wide to pack (the fallback).
        let cases: [(i64, i64); 4] = [
            (0, 5),
            (1_767_225_600_000, 7_776_000_000),
            (-50, 100),
            (i64::MIN / 2, i64::MAX),
        ];
        for (base, spread) in cases {
            for n in [0usize, 1, 2, 17, 1000, 4096] {
                let mut rows: Vec<Row> = (0..n)
                    .map(|i| {
                        let r =
                            (u64::from(rand(u32::MAX)) << 32 | u64::from(rand(u32::MAX))) as i64;
                        Row {
                            ts: base.wrapping_add(r.rem_euclid(spread.max(1))),
                            user: i as u32,
                            ..row(0, 0, 1.0)
                        }
                    })
                    .collect();
                let mut want = rows.clone();
                want.sort_by_key(|r| r.ts);
                sort_by_time(&mut rows);
                let key = |v: &[Row]| v.iter().map(|r| (r.ts, r.user)).collect::<Vec<_>>();
                assert_eq!(
                    key(&rows),
                    key(&want),
                    "base {base}, spread {spread}, n {n}"
                );
            }
        }
    }

    fn ev_none() -> Events {
        events(Vec::new(), 0)
    }

    #[test]
    fn shared_rows_are_the_window_of_the_whole() {
        let all: Arc<Vec<Row>> = Arc::new((1..=10).map(|u| row(u, 0, 1.0)).collect());
        let rows = Rows::Shared(Arc::clone(&all), 3..6);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (&rows).into_iter().map(|r| r.user).collect::<Vec<_>>(),
            [4, 5, 6]
        );
        assert!(Rows::Shared(all, 4..4).is_empty());
    }

    /// Distinct keys gathered row by row, compacted many times over, and
    /// added a key at a time across groups, total what the map of each
    /// key's highest rate gives.
    #[test]
    fn distinct_rates_and_weights_keep_each_keys_highest_rate() {
        let rates = [0.3, 1.0, 0.7, 0.25, 0.9];
        // Keys repeat (1,500 of them over 20,000 items, key 0 among them)
        // and each key meets several rates, its highest not always last.
        let items: Vec<(u32, f64)> = (0..20_000u32)
            .map(|i| ((i * 7919) % 1500, rates[(i as usize * 13) % rates.len()]))
            .collect();
        let map = max_rate_weights(items.iter().copied());
        assert_eq!(map.len(), 1499);
        // Some keys' highest rate is below 1: which rate is kept matters.
        assert!(map.values().any(|w| *w > 1.0));
        let expected: Tally = map.into_values().collect();
        // Another group, sharing the scratch array, with keys of its own.
        let others: Vec<(u32, f64)> = items.iter().map(|(k, r)| (k * 3 + 1, *r)).collect();
        let expected_others: Tally = max_rate_weights(others.iter().copied())
            .into_values()
            .collect();
        let (mut rates_of, mut other) = (DistinctRates::default(), DistinctRates::default());
        let mut scratch = DistinctWeights::new(0);
        let mut weights = DistinctWeights::new(0);
        for ((k, r), (o, q)) in items.iter().zip(&others) {
            rates_of.add(*k, *r, &mut scratch);
            other.add(*o, *q, &mut scratch);
            weights.add(*k, *r);
        }
        let mut again = DistinctRates::default();
        for (k, r) in &items {
            again.add(*k, *r, &mut scratch);
        }
        let all: FastMap<u32, f64> = max_rate_weights(items.iter().copied());
        assert_eq!(
            again.total(&mut scratch).to_bits(),
            all.values().total().to_bits()
        );
        assert_eq!(rates_of.tally(&mut scratch), expected);
        assert_eq!(other.tally(&mut scratch), expected_others);
        assert_eq!(weights.take(), expected);
        // The next group starts empty.
        weights.add(3, 0.5);
        assert_eq!(weights.take().value(), 2.0);
        assert_eq!(DistinctRates::default().tally(&mut scratch).value(), 0.0);
    }

    /// A group with many distinct keys keeps those at rate 1 as bits: its
    /// tally and total are what the map of each key's highest rate gives,
    /// to the bit, whether the keys at rate 1 came before, among or after
    /// the others, and when a key met at a lower rate is met at 1 later.
    #[test]
    fn distinct_rates_kept_as_bits_answer_as_the_map() {
        let rates = [1.0, 0.5, 1.0, 0.3, 1.0, 0.7];
        let mixed: Vec<(u32, f64)> = (0..200_000u32)
            .map(|i| ((i * 7919) % 60_000, rates[(i as usize * 13) % rates.len()]))
            .collect();
        let ones_only: Vec<(u32, f64)> = mixed.iter().map(|(k, _)| (*k, 1.0)).collect();
        let mut late_ones = mixed.clone();
        late_ones.extend((0..60_000u32).step_by(7).map(|k| (k, 1.0)));
        let mut ones_first: Vec<(u32, f64)> = (1..30_000u32).map(|k| (k, 1.0)).collect();
        ones_first.extend(mixed.iter().copied());
        for (name, items) in [
            ("mixed", mixed),
            ("ones", ones_only),
            ("late ones", late_ones),
            ("ones first", ones_first),
        ] {
            let map = max_rate_weights(items.iter().copied());
            let mut scratch = DistinctWeights::new(0);
            let mut a = DistinctRates::default();
            let mut b = DistinctRates::default();
            for (k, r) in &items {
                a.add(*k, *r, &mut scratch);
                b.add(*k, *r, &mut scratch);
            }
            assert!(a.ones.is_some(), "{name}: kept as bits");
            assert_eq!(
                a.tally(&mut scratch),
                map.values().copied().collect::<Tally>(),
                "{name}"
            );
            assert_eq!(
                b.total(&mut scratch).to_bits(),
                map.values().total().to_bits(),
                "{name}"
            );
        }
        // Few keys, or keys spread thin over a large numbering: a list.
        let mut scratch = DistinctWeights::new(0);
        let mut sparse = DistinctRates::default();
        for k in 0..5_000u32 {
            sparse.add(k * 1000 + 1, 1.0, &mut scratch);
        }
        sparse.compact(&mut scratch);
        assert!(sparse.ones.is_none());
        assert_eq!(sparse.total(&mut scratch), 5000.0);
    }
}
