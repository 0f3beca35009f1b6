//! Journeys: the top paths with next-step transitions (Sankey data), and
//! frequent event sequences within sessions.

use serde::{Deserialize, Serialize};

use super::query::{bounded, Query};
use super::scan::{Events, FastMap, FastSet, Interner, Need};
use super::Analytics;
use crate::error::{Error, Result};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
/// the unit's weight (1 / its highest sample rate).
fn sequences(ev: &Events, unit: PathUnit, items: PathItems) -> Vec<(Vec<u32>, f64)> {
    let mut seqs: FastMap<u32, (Vec<u32>, f64)> = FastMap::default();
    for row in &ev.rows {
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
    seqs.into_values()
        .map(|(s, rate)| (s, 1.0 / rate))
        .collect()
}

/// Journeys counted, as interned items: what [`Analytics::paths`] answers
/// before its top list is cut, and what a partial carries.
pub(super) struct JourneyCounts {
    /// The strings of the items.
    pub strings: Interner,
    /// Each journey taken, with how often.
    pub journeys: FastMap<Vec<u32>, f64>,
    /// Journeys considered.
    pub total: f64,
    /// True when some counted event was sampled.
    pub reweighted: bool,
}

impl JourneyCounts {
    /// No journeys yet.
    pub(super) fn new() -> Self {
        Self {
            strings: Interner::new(),
            journeys: FastMap::default(),
            total: 0.0,
            reweighted: false,
        }
    }

    /// Adds journeys given as strings (another engine's partial).
    pub(super) fn add(&mut self, journeys: Vec<Journey>, total: f64, reweighted: bool) {
        for j in journeys {
            let key: Vec<u32> = j.steps.iter().map(|s| self.strings.intern_str(s)).collect();
            *self.journeys.entry(key).or_default() += j.count;
        }
        self.total += total;
        self.reweighted |= reweighted;
    }

    /// Every journey with its items as strings, most taken first.
    pub(super) fn all(self) -> (Vec<Journey>, f64, bool) {
        let (total, reweighted) = (self.total, self.reweighted);
        let strings = self.strings;
        let journeys = ranked(self.journeys, &strings)
            .into_iter()
            .map(|(s, count)| Journey {
                steps: names(&strings, &s),
                count,
            })
            .collect();
        (journeys, total, reweighted)
    }

    /// The answer: the `limit` most taken journeys, and the transitions
    /// over every journey.
    pub(super) fn answer(self, limit: usize) -> Paths {
        let strings = &self.strings;
        let mut transitions: FastMap<(usize, u32, u32), f64> = FastMap::default();
        for (seq, w) in &self.journeys {
            for (i, pair) in seq.windows(2).enumerate() {
                *transitions.entry((i, pair[0], pair[1])).or_default() += w;
            }
        }
        let name = |id: u32| strings.str(id).to_owned();
        let mut moves: Vec<Transition> = transitions
            .into_iter()
            .map(|((step, from, to), count)| Transition {
                step,
                from: name(from),
                to: name(to),
                count,
            })
            .collect();
        moves.sort_by(|a, b| {
            b.count
                .total_cmp(&a.count)
                .then_with(|| (a.step, &a.from, &a.to).cmp(&(b.step, &b.from, &b.to)))
        });
        moves.truncate(500);
        let mut top = ranked(self.journeys, strings);
        top.truncate(limit);
        Paths {
            total: self.total,
            journeys: top
                .into_iter()
                .map(|(s, count)| Journey {
                    steps: names(strings, &s),
                    count,
                })
                .collect(),
            transitions: moves,
            reweighted: self.reweighted,
        }
    }
}

/// Journeys most taken first; ties shorter first, then in the order of
/// their items' strings, so that engines holding parts of the data agree.
fn ranked(journeys: FastMap<Vec<u32>, f64>, strings: &Interner) -> Vec<(Vec<u32>, f64)> {
    let mut top: Vec<(Vec<u32>, f64)> = journeys.into_iter().collect();
    top.sort_unstable_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then_with(|| a.0.len().cmp(&b.0.len()))
            // Strings are compared only between journeys tied so far.
            .then_with(|| {
                let item = |i: &u32| strings.str(*i);
                a.0.iter().map(item).cmp(b.0.iter().map(item))
            })
    });
    top
}

/// Sequences of event names found in sessions, before they are ranked: what
/// [`Analytics::patterns`] counts and what a partial carries.
pub(super) struct PatternCounts {
    /// Every sequence, with sessions containing it and its occurrences.
    pub patterns: Vec<Pattern>,
    /// Sessions with events in the range.
    pub total_sessions: f64,
    /// True when some counted event was sampled.
    pub reweighted: bool,
}

impl PatternCounts {
    /// Sums other engines' counts into these, by sequence.
    pub(super) fn add(&mut self, other: PatternCounts) {
        let mut at: FastMap<Vec<String>, usize> = self
            .patterns
            .iter()
            .enumerate()
            .map(|(i, p)| (p.sequence.clone(), i))
            .collect();
        for p in other.patterns {
            match at.get(&p.sequence) {
                Some(i) => {
                    self.patterns[*i].sessions += p.sessions;
                    self.patterns[*i].occurrences += p.occurrences;
                }
                None => {
                    at.insert(p.sequence.clone(), self.patterns.len());
                    self.patterns.push(p);
                }
            }
        }
        self.total_sessions += other.total_sessions;
        self.reweighted |= other.reweighted;
    }

    /// The answer: supports computed, sequences below `min_support` left
    /// out, most sessions first, cut to `limit`.
    pub(super) fn answer(self, min_support: f64, limit: usize) -> Patterns {
        let total = self.total_sessions;
        let mut patterns: Vec<Pattern> = self
            .patterns
            .into_iter()
            .filter(|p| total > 0.0 && p.sessions / total >= min_support)
            .map(|p| Pattern {
                support: p.sessions / total,
                ..p
            })
            .collect();
        patterns.sort_by(|a, b| {
            b.sessions
                .total_cmp(&a.sessions)
                .then_with(|| b.occurrences.total_cmp(&a.occurrences))
                .then_with(|| a.sequence.cmp(&b.sequence))
        });
        patterns.truncate(limit);
        Patterns {
            total_sessions: total,
            patterns,
            reweighted: self.reweighted,
        }
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
        let need = Need {
            session: unit == PathUnit::Session,
            page: items != PathItems::Name,
            ..Need::default()
        };
        let ev = self.scan(&r, &need)?;
        // An item no event has cannot start or end a journey.
        let find = |s: &Option<String>| s.as_deref().map(|s| ev.strings.get(s).unwrap_or(u32::MAX));
        let (start, end) = (find(&o.start_at), find(&o.end_at));
        let mut journeys: FastMap<Vec<u32>, f64> = FastMap::default();
        let mut total = 0.0;
        for (seq, w) in sequences(&ev, unit, items) {
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
            *journeys.entry(seq[from..to].to_vec()).or_default() += w;
            total += w;
        }
        let reweighted = ev.reweighted();
        Ok(JourneyCounts {
            strings: ev.strings,
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
        let ev = self.scan(
            &r,
            &Need {
                session: true,
                ..Need::default()
            },
        )?;
        let mut found: FastMap<Vec<u32>, (f64, f64)> = FastMap::default();
        let mut total = 0.0;
        for (seq, w) in sequences(&ev, PathUnit::Session, PathItems::Name) {
            total += w;
            let mut seen = FastSet::default();
            for win in seq.windows(length) {
                let e = found.entry(win.to_vec()).or_default();
                e.1 += w;
                if seen.insert(win) {
                    e.0 += w;
                }
            }
        }
        Ok(PatternCounts {
            patterns: found
                .into_iter()
                .map(|(seq, (sessions, occurrences))| Pattern {
                    sequence: names(&ev.strings, &seq),
                    sessions,
                    support: 0.0,
                    occurrences,
                })
                .collect(),
            total_sessions: total,
            reweighted: ev.reweighted(),
        })
    }
}

/// The strings of interned ids.
fn names(strings: &Interner, ids: &[u32]) -> Vec<String> {
    ids.iter().map(|i| strings.str(*i).to_owned()).collect()
}
