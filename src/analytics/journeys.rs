//! Journeys: the top paths with next-step transitions (Sankey data), and
//! frequent event sequences within sessions.

use serde::{Deserialize, Serialize};

use super::journey_wire::{JourneyEntry, Numbered};
use super::query::{bounded, Query};
use super::scan::{most_by_number, FastMap, FastSet, Interner, Need, Row};
use super::seqmap::SeqMap;
use super::units::UnitRows;
use super::Analytics;
use crate::error::{Error, Result};
use crate::kernel::tally::Tally;

/// What a path is made of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PathItems {
    /// Page views as their path, other events as their name.
    #[default]
    Auto,
    /// Page views only, as their path.
    Path,
    /// Every event, as its name.
    Name,
}

/// Whose events make one journey.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PathUnit {
    /// One journey per session.
    #[default]
    Session,
    /// One journey per user.
    User,
}

/// Options of [`Analytics::paths`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PathsOptions {
    /// Journeys start at their first occurrence of this item; others are
    /// left out.
    pub start_at: Option<String>,
    /// Journeys end at their first occurrence of this item (after
    /// `startAt`); others are left out.
    pub end_at: Option<String>,
    /// Items per journey, 1 to 20 (default 5).
    pub steps: Option<i64>,
    /// `session` (default) or `user`.
    pub by: Option<PathUnit>,
    /// `auto` (default), `path` or `name`.
    pub items: Option<PathItems>,
    /// Top journeys to return, 1 to 100 (default 10).
    pub limit: Option<i64>,
}

/// One journey and how often it was taken.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Journey {
    /// The items, in order.
    pub steps: Vec<String>,
    /// Sessions (or users) that took it.
    pub count: f64,
}

/// A next-step transition: from `from` at step `step` to `to` at `step + 1`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    /// The 0-based step of `from`.
    pub step: usize,
    /// The item at `step`.
    pub from: String,
    /// The item at `step + 1`.
    pub to: String,
    /// How many journeys made this move.
    pub count: f64,
}

/// The top journeys and all their transitions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Paths {
    /// Journeys considered.
    pub total: f64,
    /// The most taken journeys, most first.
    pub journeys: Vec<Journey>,
    /// Transitions over every journey considered, most first (at most 500).
    pub transitions: Vec<Transition>,
    /// True when some counted event was sampled.
    pub reweighted: bool,
}

/// Options of [`Analytics::patterns`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatternsOptions {
    /// Events per sequence, 2 to 10 (default 3).
    pub length: Option<i64>,
    /// Keep sequences found in at least this fraction of sessions, 0 to 1
    /// (default 0).
    pub min_support: Option<f64>,
    /// At most this many sequences, 1 to 1000 (default 20).
    pub limit: Option<i64>,
}

/// A frequent sequence of event names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pattern {
    /// The event names, in order.
    pub sequence: Vec<String>,
    /// Sessions containing it at least once.
    pub sessions: f64,
    /// `sessions` as a fraction of all sessions.
    pub support: f64,
    /// Times it occurs, counting repeats within a session.
    pub occurrences: f64,
}

/// Frequent sequences.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Patterns {
    /// Sessions with events in the range.
    pub total_sessions: f64,
    /// The sequences, most sessions first.
    pub patterns: Vec<Pattern>,
    /// True when some counted event was sampled.
    pub reweighted: bool,
}

/// Each unit's items in time order, consecutive duplicates collapsed, with
/// the unit's weight (1 / its highest sample rate): one array holds every
/// unit's items, each unit a span of it.
struct Sequences {
    items: Vec<u32>,
    spans: Vec<(usize, usize, f64)>,
}

impl Sequences {
    /// Each unit's items and weight, by unit number.
    fn iter(&self) -> impl Iterator<Item = (&[u32], f64)> {
        self.spans
            .iter()
            .map(|&(from, to, w)| (&self.items[from..to], w))
    }
}

/// Builds the [`Sequences`] of a window's units from its rows, given a
/// chunk at a time. In time order: each unit's items as they come, a
/// unit's repeat of its last item left out, in one array of (unit, item)
/// pairs (8 bytes an item, where the rows are 40), grouped by a counting
/// sort when the window is done. In id order (`by_id`, where
/// [`Analytics::reads_by_id`] says): every row kept ([`UnitRows`], 16
/// bytes a row), each unit's put in time order when the window is done,
/// so a window too large to hold is read once, not a time slice at a time.
struct SequenceBuilder {
    unit: PathUnit,
    items: PathItems,
    /// Rows in id order, or `None` for rows in time order.
    rows: Option<UnitRows>,
    /// Rows in time order: (unit, item), repeats left out.
    pairs: Vec<(u32, u32)>,
    /// Rows in time order: each unit's last item (0: none yet).
    last: Vec<u32>,
    /// Each unit's highest rate (0: no row yet).
    rates: Vec<f64>,
    /// Whether some row was sampled.
    reweighted: bool,
}

impl SequenceBuilder {
    fn new(unit: PathUnit, items: PathItems, by_id: bool) -> Self {
        Self {
            unit,
            items,
            rows: by_id.then(UnitRows::new),
            pairs: Vec::new(),
            last: Vec::new(),
            rates: Vec::new(),
            reweighted: false,
        }
    }

    /// Adds `rows`, the next ones (in time order, or in id order with
    /// `by_id`).
    fn add(&mut self, rows: &[Row]) {
        for row in rows {
            self.reweighted |= row.rate < 1.0;
            let key = match self.unit {
                PathUnit::Session => row.session,
                PathUnit::User => row.user,
            };
            let item = match self.items {
                PathItems::Auto if row.is_page() => row.page,
                PathItems::Auto | PathItems::Name => row.name,
                PathItems::Path => row.page,
            };
            if key == 0 || item == 0 {
                continue;
            }
            let k = key as usize;
            most_by_number(&mut self.rates, key, row.rate);
            match &mut self.rows {
                Some(rows) => rows.push(row.ts, key, item),
                None => {
                    if k >= self.last.len() {
                        self.last.resize(k + 1, 0);
                    }
                    if self.last[k] != item {
                        self.last[k] = item;
                        self.pairs.push((key, item));
                    }
                }
            }
        }
    }

    /// Each unit's items, grouped, in time order, repeats collapsed, with
    /// the unit's weight.
    fn finish(self) -> Sequences {
        let rates = self.rates;
        let Some(rows) = self.rows else {
            return group_pairs(self.pairs, &rates);
        };
        let mut out = Sequences {
            items: Vec::with_capacity(rows.len()),
            spans: Vec::new(),
        };
        rows.each_unit(|k, rows| {
            let from = out.items.len();
            let mut last = 0;
            for row in rows {
                if row.item != last {
                    out.items.push(row.item);
                    last = row.item;
                }
            }
            out.spans.push((from, out.items.len(), 1.0 / rates[k]));
        });
        out
    }
}

/// (unit, item) pairs in time order grouped by unit: a counting sort (two
/// passes, stable: each unit's items stay in time order).
fn group_pairs(pairs: Vec<(u32, u32)>, rates: &[f64]) -> Sequences {
    let mut next = vec![0usize; rates.len() + 1];
    for (key, _) in &pairs {
        next[*key as usize + 1] += 1;
    }
    for k in 1..next.len() {
        next[k] += next[k - 1];
    }
    let mut spans = Vec::new();
    for (k, rate) in rates.iter().enumerate() {
        if next[k + 1] > next[k] {
            spans.push((next[k], next[k + 1], 1.0 / rate));
        }
    }
    let mut placed = vec![0u32; pairs.len()];
    for (key, item) in pairs {
        let at = &mut next[key as usize];
        placed[*at] = item;
        *at += 1;
    }
    Sequences {
        items: placed,
        spans,
    }
}

/// The [`Sequences`] of `rows`' units, `rows` in time order.
#[cfg(test)]
fn sequences(rows: &[Row], unit: PathUnit, items: PathItems) -> Sequences {
    let mut b = SequenceBuilder::new(unit, items, false);
    b.add(rows);
    b.finish()
}

/// A journey as a partial carries it: its items and how often it was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JourneyTally {
    /// The items, in order.
    pub steps: Vec<String>,
    /// Sessions (or users) that took it, per weight.
    pub count: Tally,
}

/// A sequence as a partial carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SequenceTally {
    /// The event names, in order.
    pub sequence: Vec<String>,
    /// Sessions containing it at least once, per weight.
    pub sessions: Tally,
    /// Times it occurs, per weight.
    pub occurrences: Tally,
}

/// Journeys counted, as interned items: what [`Analytics::paths`] answers
/// before its top list is cut, and what a partial carries. Counts are
/// [`Tally`]s, so that partitions' counts add up to one engine's to the
/// last bit, and rankings and cuts agree.
pub(super) struct JourneyCounts {
    strings: Interner,
    journeys: SeqMap<Tally>,
    total: Tally,
    reweighted: bool,
}

impl JourneyCounts {
    /// No journeys yet.
    pub(super) fn new() -> Self {
        Self {
            strings: Interner::new(),
            journeys: SeqMap::default(),
            total: Tally::default(),
            reweighted: false,
        }
    }

    /// Adds another engine's journeys, numbered in its `items`
    /// ([`PathsAsked::check`]ed: every number within `items`).
    pub(super) fn add(&mut self, theirs: &Numbered, total: &Tally, reweighted: bool) {
        let ids: Vec<u32> = theirs
            .items
            .iter()
            .map(|s| self.strings.intern_str(s))
            .collect();
        let mut key = Vec::new();
        for (steps, count) in &theirs.journeys {
            key.clear();
            key.extend(steps.iter().map(|i| ids[*i as usize]));
            self.journeys.entry(&key).merge(count);
        }
        self.total.merge(total);
        self.reweighted |= reweighted;
    }

    /// Every journey, as a partial carries it: the items the journeys take,
    /// in the order first met, and each journey numbered in them, in the
    /// order first counted.
    pub(super) fn all(self) -> (Vec<String>, Vec<JourneyEntry>, Tally, bool) {
        let strings = &self.strings;
        let mut numbers: FastMap<u32, u32> = FastMap::default();
        let mut items = Vec::new();
        let journeys = self
            .journeys
            .into_iter_values()
            .map(|(s, count)| {
                let steps = s
                    .iter()
                    .map(|id| {
                        *numbers.entry(*id).or_insert_with(|| {
                            items.push(strings.str(*id).to_owned());
                            (items.len() - 1) as u32
                        })
                    })
                    .collect();
                JourneyEntry::Numbered(steps, count)
            })
            .collect();
        (items, journeys, self.total, self.reweighted)
    }

    /// The answer: the `limit` most taken journeys, and the transitions
    /// over every journey.
    pub(super) fn answer(self, limit: usize) -> Paths {
        let JourneyCounts {
            strings,
            journeys: counted,
            total,
            reweighted,
        } = self;
        let strings = &strings;
        let mut transitions: FastMap<(usize, u32, u32), Tally> = FastMap::default();
        for (seq, t) in counted.iter() {
            for (i, pair) in seq.windows(2).enumerate() {
                transitions
                    .entry((i, pair[0], pair[1]))
                    .or_default()
                    .merge(t);
            }
        }
        let mut moves: Vec<(usize, u32, u32, f64)> = transitions
            .into_iter()
            .map(|((step, from, to), t)| (step, from, to, t.value()))
            .collect();
        let item = |i: u32| strings.str(i);
        top(&mut moves, 500, |a, b| {
            b.3.total_cmp(&a.3)
                .then_with(|| (a.0, item(a.1), item(a.2)).cmp(&(b.0, item(b.1), item(b.2))))
        });
        // Journeys by entry number, each with its count.
        let mut journeys: Vec<(usize, f64)> = (0..counted.len())
            .map(|i| (i, counted.value(i).value()))
            .collect();
        // Ties go shorter first, then in the order of their items' strings,
        // so that engines holding parts of the data agree; strings are
        // compared only between journeys tied so far.
        top(&mut journeys, limit, |a, b| {
            let (x, y) = (counted.seq(a.0), counted.seq(b.0));
            b.1.total_cmp(&a.1)
                .then_with(|| x.len().cmp(&y.len()))
                .then_with(|| x.iter().map(|i| item(*i)).cmp(y.iter().map(|i| item(*i))))
        });
        Paths {
            total: total.value(),
            journeys: journeys
                .into_iter()
                .map(|(i, count)| Journey {
                    steps: names(strings, counted.seq(i)),
                    count,
                })
                .collect(),
            transitions: moves
                .into_iter()
                .map(|(step, from, to, count)| Transition {
                    step,
                    from: item(from).to_owned(),
                    to: item(to).to_owned(),
                    count,
                })
                .collect(),
            reweighted,
        }
    }
}

/// Keeps the `k` first of `v` in `order`, sorted: a selection, then a sort
/// of those only.
fn top<T>(v: &mut Vec<T>, k: usize, order: impl Fn(&T, &T) -> std::cmp::Ordering) {
    if k == 0 {
        v.clear();
        return;
    }
    if v.len() > k {
        v.select_nth_unstable_by(k - 1, &order);
        v.truncate(k);
    }
    v.sort_unstable_by(&order);
}

/// Sequences of event names found in sessions, before they are ranked: what
/// [`Analytics::patterns`] counts and what a partial carries.
pub(super) struct PatternCounts {
    strings: Interner,
    found: SeqMap<(Tally, Tally)>,
    total: Tally,
    reweighted: bool,
}

impl PatternCounts {
    /// No sequences yet.
    pub(super) fn new() -> Self {
        Self {
            strings: Interner::new(),
            found: SeqMap::default(),
            total: Tally::default(),
            reweighted: false,
        }
    }

    /// Adds sequences given as strings (another engine's partial).
    pub(super) fn add(&mut self, found: &[SequenceTally], total: &Tally, reweighted: bool) {
        let mut key = Vec::new();
        for f in found {
            key.clear();
            key.extend(f.sequence.iter().map(|s| self.strings.intern_str(s)));
            let e = self.found.entry(&key);
            e.0.merge(&f.sessions);
            e.1.merge(&f.occurrences);
        }
        self.total.merge(total);
        self.reweighted |= reweighted;
    }

    /// Every sequence with its names as strings, in no particular order.
    pub(super) fn all(self) -> (Vec<SequenceTally>, Tally, bool) {
        let strings = &self.strings;
        let found = self
            .found
            .into_iter_values()
            .map(|(s, (sessions, occurrences))| SequenceTally {
                sequence: names(strings, &s),
                sessions,
                occurrences,
            })
            .collect();
        (found, self.total, self.reweighted)
    }

    /// The answer: supports computed, sequences below `min_support` left
    /// out, most sessions first, cut to `limit`.
    pub(super) fn answer(self, min_support: f64, limit: usize) -> Patterns {
        let total = self.total.value();
        let strings = &self.strings;
        let mut kept: Vec<(&[u32], f64, f64)> = self
            .found
            .iter()
            .map(|(s, (sessions, occurrences))| (s, sessions.value(), occurrences.value()))
            .filter(|(_, sessions, _)| total > 0.0 && sessions / total >= min_support)
            .collect();
        let item = |i: &u32| strings.str(*i);
        top(&mut kept, limit, |a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| b.2.total_cmp(&a.2))
                .then_with(|| a.0.iter().map(item).cmp(b.0.iter().map(item)))
        });
        Patterns {
            total_sessions: total,
            patterns: kept
                .into_iter()
                .map(|(seq, sessions, occurrences)| Pattern {
                    sequence: names(strings, seq),
                    sessions,
                    support: sessions / total,
                    occurrences,
                })
                .collect(),
            reweighted: self.reweighted,
        }
    }
}

/// `paths`' options as a partial carries them, checked: partials asked
/// differently do not merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PathsAsked {
    steps: usize,
    by: PathUnit,
    items: PathItems,
    start_at: Option<String>,
    end_at: Option<String>,
    limit: usize,
}

impl PathsAsked {
    /// The options, checked and with their defaults.
    pub(super) fn of(o: &PathsOptions) -> Result<Self> {
        let (steps, limit) = paths_bounds(o)?;
        Ok(Self {
            steps,
            by: o.by.unwrap_or_default(),
            items: o.items.unwrap_or_default(),
            start_at: o.start_at.clone(),
            end_at: o.end_at.clone(),
            limit,
        })
    }

    /// The top list's length.
    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// Checks a partial from elsewhere (partials travel over HTTP): its
    /// options as the query checks them, and journeys these options can
    /// give, whose counts add up to the total.
    pub(super) fn check(&self, theirs: &Numbered, total: &Tally, reweighted: bool) -> Result<()> {
        let again = Self::of(&PathsOptions {
            start_at: self.start_at.clone(),
            end_at: self.end_at.clone(),
            steps: Some(self.steps as i64),
            by: Some(self.by),
            items: Some(self.items),
            limit: Some(self.limit as i64),
        })?;
        if again != *self {
            return Err(bad_partial("asked", "is not what the query would record"));
        }
        let items = &theirs.items;
        let item = |i: u32| items[i as usize].as_str();
        let mut sum = Tally::default();
        let mut seen = FastSet::default();
        for (i, (s, count)) in theirs.journeys.iter().enumerate() {
            // Items are listed once each ([`numbered`]), so numbers compare
            // as their items do.
            let why = if s.is_empty() || s.len() > self.steps {
                Some("has no steps, or more than `steps`")
            } else if s.iter().any(|n| *n as usize >= items.len()) {
                Some("numbers an item that `items` does not hold")
            } else if s.windows(2).any(|p| p[0] == p[1]) {
                Some("repeats a step in a row")
            } else if self.start_at.as_deref().is_some_and(|a| a != item(s[0])) {
                Some("does not start at `startAt`")
            } else if self.start_at.is_none()
                && self
                    .end_at
                    .as_deref()
                    .is_some_and(|e| Some(e) != s.last().map(|n| item(*n)))
            {
                Some("does not end at `endAt`")
            } else if !count.is_valid() {
                Some("has a count that is not a tally")
            } else if !seen.insert(s) {
                Some("is listed twice")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(bad_partial(&format!("journeys[{i}]"), why));
            }
            sum.merge(count);
        }
        if !total.is_valid() && !theirs.journeys.is_empty() || sum != *total {
            return Err(bad_partial(
                "total",
                "is not the sum of the journeys' counts",
            ));
        }
        if total.is_weighted() && !reweighted {
            return Err(bad_partial("reweighted", "is false for sampled counts"));
        }
        Ok(())
    }
}

/// `INVALID_INPUT` for a partial that its query could not have given.
pub(super) fn bad_partial(what: &str, why: &str) -> Error {
    Error::invalid("partials", format!("a partial's {what} {why}"))
}

/// `patterns`' options as a partial carries them, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatternsAsked {
    length: usize,
    min_support: f64,
    limit: usize,
}

impl PatternsAsked {
    /// The options, checked and with their defaults.
    pub(super) fn of(o: &PatternsOptions) -> Result<Self> {
        let (length, limit, min_support) = patterns_bounds(o)?;
        Ok(Self {
            length,
            min_support,
            limit,
        })
    }

    /// (min_support, limit).
    pub(super) fn cut(&self) -> (f64, usize) {
        (self.min_support, self.limit)
    }

    /// Checks a partial from elsewhere, as [`PathsAsked::check`] does:
    /// sequences of `length` names, each found in at most as many sessions
    /// as it occurs and as there are.
    pub(super) fn check(
        &self,
        found: &[SequenceTally],
        total: &Tally,
        reweighted: bool,
    ) -> Result<()> {
        let again = Self::of(&PatternsOptions {
            length: Some(self.length as i64),
            min_support: Some(self.min_support),
            limit: Some(self.limit as i64),
        })?;
        if again != *self {
            return Err(bad_partial("asked", "is not what the query would record"));
        }
        if !total.is_valid_or_empty() {
            return Err(bad_partial("totalSessions", "is not a tally"));
        }
        let mut seen = FastSet::default();
        for (i, f) in found.iter().enumerate() {
            let s = &f.sequence;
            let why = if s.len() != self.length {
                Some("is not `length` names long")
            } else if s.windows(2).any(|p| p[0] == p[1]) {
                Some("repeats a name in a row")
            } else if !f.sessions.is_valid() || !f.occurrences.is_valid() {
                Some("has a count that is not a tally")
            } else if !f.sessions.within(&f.occurrences) || !f.sessions.within(total) {
                Some("is in more sessions than it occurs in, or than there are")
            } else if !seen.insert(s) {
                Some("is listed twice")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(bad_partial(&format!("sequences[{i}]"), why));
            }
        }
        if total.is_weighted() && !reweighted {
            return Err(bad_partial("reweighted", "is false for sampled counts"));
        }
        Ok(())
    }
}

/// Checks `paths`' options: (steps, limit).
pub(super) fn paths_bounds(o: &PathsOptions) -> Result<(usize, usize)> {
    let steps = bounded(o.steps, 5, 1, 20, "steps")?;
    let limit = bounded(o.limit, 10, 1, 100, "limit")?;
    for (field, v) in [("startAt", &o.start_at), ("endAt", &o.end_at)] {
        crate::kernel::text::check_opt(field, v.as_deref(), 2048)?;
    }
    Ok((steps, limit))
}

/// Checks `patterns`' options: (length, limit, min_support).
pub(super) fn patterns_bounds(o: &PatternsOptions) -> Result<(usize, usize, f64)> {
    let length = bounded(o.length, 3, 2, 10, "length")?;
    let limit = bounded(o.limit, 20, 1, 1000, "limit")?;
    let min_support = o.min_support.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&min_support) {
        return Err(Error::invalid(
            "minSupport",
            "must be a fraction from 0 to 1",
        ));
    }
    Ok((length, limit, min_support))
}

impl Analytics<'_> {
    /// The most common journeys through the product, and every next-step
    /// transition (the data of a Sankey chart).
    pub fn paths(&self, q: &Query, o: &PathsOptions) -> Result<Paths> {
        let (_, limit) = paths_bounds(o)?;
        Ok(self.journey_counts(q, o)?.answer(limit))
    }

    /// Every journey counted, before the top list is cut.
    pub(super) fn journey_counts(&self, q: &Query, o: &PathsOptions) -> Result<JourneyCounts> {
        let (steps, _) = paths_bounds(o)?;
        let r = self.resolve(q)?;
        let unit = o.by.unwrap_or_default();
        let items = o.items.unwrap_or_default();
        // Read in id order, the builder puts each unit's rows in time
        // order itself.
        let by_id = self.reads_by_id()?;
        let need = Need {
            session: unit == PathUnit::Session,
            page: items != PathItems::Name,
            any_order: by_id,
            // Journeys by session read no user: not decoded or numbered.
            no_users: unit == PathUnit::Session,
            // Journeys of pages alone read no name.
            no_names: items == PathItems::Path,
            ..Need::default()
        };
        let init = || SequenceBuilder::new(unit, items, by_id);
        let (b, strings) = self.fold(&r, &need, init, |b, rows, _| b.add(rows))?;
        let reweighted = b.reweighted;
        let seqs = b.finish();
        // An item no event has cannot start or end a journey.
        let find = |s: &Option<String>| s.as_deref().map(|s| strings.get(s).unwrap_or(u32::MAX));
        let (start, end) = (find(&o.start_at), find(&o.end_at));
        // Keyed by spans of the sequences while counting: a journey's items
        // are copied once, not once per unit that took it.
        let mut journeys: SeqMap<Tally> = SeqMap::default();
        let mut total = Tally::default();
        for (seq, w) in seqs.iter() {
            let from = match start {
                Some(s) => match seq.iter().position(|x| *x == s) {
                    Some(i) => i,
                    None => continue,
                },
                None => 0,
            };
            let mut to = seq.len();
            if let Some(e) = end {
                match seq[from..].iter().position(|x| *x == e) {
                    Some(i) => to = from + i + 1,
                    None => continue,
                }
            }
            // Anchored at the end only: the last `steps` items up to it.
            let from = if start.is_none() && end.is_some() {
                to.saturating_sub(steps)
            } else {
                from
            };
            let to = to.min(from + steps);
            journeys.entry(&seq[from..to]).add(w);
            total.add(w);
        }
        Ok(JourneyCounts {
            strings,
            journeys,
            total,
            reweighted,
        })
    }

    /// The most frequent contiguous sequences of event names within
    /// sessions (consecutive repeats of a name collapsed to one).
    pub fn patterns(&self, q: &Query, o: &PatternsOptions) -> Result<Patterns> {
        let (_, limit, min_support) = patterns_bounds(o)?;
        Ok(self.pattern_counts(q, o)?.answer(min_support, limit))
    }

    /// Every sequence counted, before any is left out or the list is cut.
    pub(super) fn pattern_counts(&self, q: &Query, o: &PatternsOptions) -> Result<PatternCounts> {
        let (length, _, _) = patterns_bounds(o)?;
        let r = self.resolve(q)?;
        let by_id = self.reads_by_id()?;
        let need = Need {
            session: true,
            any_order: by_id,
            no_users: true,
            ..Need::default()
        };
        let init = || SequenceBuilder::new(PathUnit::Session, PathItems::Name, by_id);
        let (b, strings) = self.fold(&r, &need, init, |b, rows, _| b.add(rows))?;
        let reweighted = b.reweighted;
        let seqs = b.finish();
        let mut found: SeqMap<(Tally, Tally)> = SeqMap::default();
        let mut total = Tally::default();
        let mut seen = FastSet::default();
        for (seq, w) in seqs.iter() {
            total.add(w);
            seen.clear();
            for win in seq.windows(length) {
                let e = found.entry(win);
                e.1.add(w);
                if seen.insert(win) {
                    e.0.add(w);
                }
            }
        }
        Ok(PatternCounts {
            strings,
            found,
            total,
            reweighted,
        })
    }
}

/// The strings of interned ids.
fn names(strings: &Interner, ids: &[u32]) -> Vec<String> {
    ids.iter().map(|i| strings.str(*i).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::analytics::scan::{Events, Rows};
    use rusqlite::types::ValueRef;

    /// What `sequences` did before the counting sort: a vector per unit in
    /// a map, in the map's order.
    fn by_map(ev: &Events, unit: PathUnit, items: PathItems) -> Vec<(Vec<u32>, u64)> {
        let mut seqs: FastMap<u32, (Vec<u32>, f64)> = FastMap::default();
        for row in ev.rows.iter() {
            let key = match unit {
                PathUnit::Session => row.session,
                PathUnit::User => row.user,
            };
            let item = match items {
                PathItems::Auto if row.is_page() => row.page,
                PathItems::Auto | PathItems::Name => row.name,
                PathItems::Path => row.page,
            };
            if key == 0 || item == 0 {
                continue;
            }
            let s = seqs.entry(key).or_insert_with(|| (Vec::new(), row.rate));
            if s.0.last() != Some(&item) {
                s.0.push(item);
            }
            s.1 = s.1.max(row.rate);
        }
        let mut out: Vec<_> = seqs
            .into_values()
            .map(|(s, rate)| (s, (1.0 / rate).to_bits()))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn sequences_group_each_unit_in_time_order_as_a_map_of_vectors_did() {
        let mut strings = Interner::new();
        let mut rand = crate::kernel::testing::xorshift(2_463_534_242);
        let names: Vec<u32> = (0..6)
            .map(|i| strings.intern_str(&format!("n{i}")))
            .collect();
        let pages: Vec<u32> = (0..4)
            .map(|i| strings.intern_str(&format!("/p{i}")))
            .collect();
        let mut rows = Vec::new();
        for i in 0..3_000i64 {
            // Ids numbered as a scan numbers them; some rows without a
            // session or a user, some sampled, repeats in a row.
            let user = match rand(20) {
                0 => 0,
                u => strings.number(ValueRef::Text(format!("u{u}").as_bytes())),
            };
            let session = match rand(60) {
                0 => 0,
                s => strings.number(ValueRef::Text(format!("s{s}").as_bytes())),
            };
            rows.push(Row {
                ts: i,
                user,
                session,
                name: names[rand(6) as usize],
                page: if rand(2) == 0 {
                    pages[rand(4) as usize]
                } else {
                    0
                },
                extra: 0,
                rate: [1.0, 0.5, 0.3][rand(3) as usize],
                bot: false,
                kind: 0,
            });
        }
        let ev = Events {
            rows: Rows::Owned(rows),
            strings,
        };
        for unit in [PathUnit::Session, PathUnit::User] {
            for items in [PathItems::Auto, PathItems::Name, PathItems::Path] {
                let sorted = |seqs: Sequences| {
                    let mut got: Vec<(Vec<u32>, u64)> = seqs
                        .iter()
                        .map(|(s, w)| (s.to_vec(), w.to_bits()))
                        .collect();
                    got.sort();
                    got
                };
                let want = by_map(&ev, unit, items);
                assert!(want.len() > 10 && want.iter().any(|(s, _)| s.len() > 3));
                assert_eq!(sorted(sequences(&ev.rows, unit, items)), want);
                // Given a few rows at a time, as a fold gives them, in
                // time order, kept as they come or by unit.
                for by_id in [false, true] {
                    let mut b = SequenceBuilder::new(unit, items, by_id);
                    for chunk in ev.rows.chunks(7) {
                        b.add(chunk);
                    }
                    assert_eq!(sorted(b.finish()), want, "{unit:?} {items:?} {by_id}");
                }
            }
        }
    }

    #[test]
    fn sequences_of_rows_in_id_order_are_those_of_the_rows_in_time_order() {
        // Rows as a window read in id order gives them: times out of order
        // across and within units, many equal (which keep id order).
        let mut strings = Interner::new();
        let mut rand = crate::kernel::testing::xorshift(88_172_645);
        let names: Vec<u32> = (0..5)
            .map(|i| strings.intern_str(&format!("n{i}")))
            .collect();
        let mut by_id = Vec::new();
        for _ in 0..4_000 {
            let session = strings.number(ValueRef::Text(format!("s{}", rand(300)).as_bytes()));
            by_id.push(Row {
                ts: i64::from(rand(400)),
                user: session,
                session,
                name: names[rand(5) as usize],
                page: 0,
                extra: 0,
                rate: [1.0, 0.25][rand(2) as usize],
                bot: false,
                kind: 0,
            });
        }
        let mut in_time = by_id.clone();
        // Stable: rows of equal time keep id order.
        in_time.sort_by_key(|r| r.ts);
        let want = by_map(
            &Events {
                rows: Rows::Owned(in_time),
                strings: Interner::new(),
            },
            PathUnit::Session,
            PathItems::Name,
        );
        assert!(want.iter().filter(|(s, _)| s.len() > 5).count() > 100);
        let mut b = SequenceBuilder::new(PathUnit::Session, PathItems::Name, true);
        for chunk in by_id.chunks(64) {
            b.add(chunk);
        }
        assert!(!b.rows.as_ref().unwrap().in_order());
        let mut got: Vec<(Vec<u32>, u64)> = b
            .finish()
            .iter()
            .map(|(s, w)| (s.to_vec(), w.to_bits()))
            .collect();
        got.sort();
        assert_eq!(got, want);
    }
}
