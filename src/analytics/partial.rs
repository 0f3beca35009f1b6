//! Answers that merge across engines holding disjoint subjects (the
//! partitions of the analytics pipeline).
//!
//! Every metric here is a sum over subjects (each subject's weight is
//! `1 / sample rate`), so a partition's counts add up exactly. A partial
//! carries what a ratio divides and what a median is taken of, and lists
//! are kept whole (never cut to a top-k) until after the merge:
//! [`Analytics::partial`] computes one, [`merge`] combines several into the
//! answer one engine holding every event would give.
//!
//! | query | partial carries | merge |
//! | --- | --- | --- |
//! | `summary` | tallies of events, events in sessions, users, sessions | tallies added; every figure recomputed |
//! | `activeUsers` | users per bucket, DAU, MAU | sums (DAU is a mean over the same days); ratio recomputed |
//! | `realtime` | counts per minute | sums |
//! | `eventBreakdown` | every group, with tallies of its events and users | tallies added by value; figures recomputed, sorted and cut to `limit` |
//! | `featureUsage` | every feature with tallies of its uses and users, a tally of active users | tallies added; every figure recomputed |
//! | `funnel` | step counts and every gap between steps (of the whole and of each segment) | sums; conversions recomputed; medians of the merged gaps (exact) |
//! | `retention`, `cohorts` | the matrix | cell sums; percentages recomputed |
//! | `topPages` | every page with its total time on page | sums; means recomputed; sorted and cut to `limit` |
//! | `sessionDurations` | every duration | histogram sums; mean, median, p90 and max of the merged durations (exact) |
//! | `paths` | every journey and its count | sums by journey; transitions recomputed from them; ranked and cut to `limit` |
//! | `patterns` | every sequence, its sessions and occurrences | sums by sequence; supports recomputed; `minSupport` and `limit` applied |
//!
//! A [`Tally`] counts weights as whole numbers per weight, so sampled data
//! merges to one engine's answer to the last bit where it carries one; the
//! other rows add floats, exact for unsampled data (whole numbers).
//! Journeys and sequences belong to one session (or user), so one subject's,
//! and their counts add up like the rest. Experiment results merge in the
//! pipeline's `merge` module (experiments sit beside analytics, not below
//! it).

use std::collections::hash_map::Entry;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::funnel::{sort_segments, steps_from, Gaps};
use super::journey_wire::{numbered, JourneyEntry};
use super::journeys::{
    JourneyCounts, PathsAsked, PathsOptions, PatternCounts, PatternsAsked, PatternsOptions,
    SequenceTally,
};
use super::pages::sort_pages;
use super::scan::FastMap;
use super::traffic::{sort_features, sort_groups};
use super::{
    split, ActiveUsers, ActiveUsersOptions, Analytics, Breakdown, BreakdownOptions, BreakdownRow,
    Cohorts, CohortsOptions, FeatureStats, FeatureUsage, FeatureUsageOptions, Funnel,
    FunnelOptions, FunnelSegment, GroupTally, NoOptions, PageStats, Realtime, RealtimeOptions,
    Retention, RetentionOptions, SessionDurations, Summary, SummaryTallies, TopPages,
    TopPagesOptions,
};
use crate::error::{Error, Result};
use crate::kernel::stats::{median, percentile};
use crate::kernel::tally::Tally;

/// One engine's answer, in a form that merges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "query", deny_unknown_fields)]
#[allow(missing_docs)] // the fields are each query's answer and its extras
pub enum Partial {
    /// `summary`, with what it counts as tallies.
    Summary {
        summary: Summary,
        tallies: SummaryTallies,
    },
    /// `activeUsers`, with the users of the last days added and their
    /// number, so that the merged `dau` divides once.
    #[serde(rename_all = "camelCase")]
    ActiveUsers {
        active: ActiveUsers,
        #[serde(default)]
        daily_users: f64,
        #[serde(default)]
        days: f64,
    },
    /// `realtime`.
    Realtime { realtime: Realtime },
    /// `eventBreakdown`, every group, with each group's tallies in the
    /// same order.
    EventBreakdown {
        breakdown: Breakdown,
        limit: usize,
        tallies: Vec<GroupTally>,
    },
    /// `featureUsage`, with the active users' tally and each feature's
    /// tallies in the same order.
    FeatureUsage {
        usage: FeatureUsage,
        active: Tally,
        tallies: Vec<GroupTally>,
    },
    /// `funnel`.
    #[serde(rename_all = "camelCase")]
    Funnel {
        funnel: Funnel,
        names: Vec<String>,
        gaps: Gaps,
        segment_gaps: Vec<Gaps>,
    },
    /// `retention`.
    Retention { retention: Retention },
    /// `cohorts`.
    Cohorts { cohorts: Cohorts },
    /// `topPages`, every page with its total time on page.
    TopPages {
        pages: Vec<(PageStats, f64)>,
        reweighted: bool,
        limit: usize,
    },
    /// `sessionDurations`, with every duration.
    SessionDurations {
        durations: SessionDurations,
        values: Vec<f64>,
        total: f64,
    },
    /// `paths`, every journey numbered in `items` (partials of engines
    /// before the numbering name their items and have no `items`), with
    /// the options asked.
    Paths {
        #[serde(default)]
        items: Vec<String>,
        journeys: Vec<JourneyEntry>,
        total: Tally,
        reweighted: bool,
        asked: PathsAsked,
    },
    /// `patterns`, every sequence, with the options asked.
    #[serde(rename_all = "camelCase")]
    Patterns {
        sequences: Vec<SequenceTally>,
        total_sessions: Tally,
        reweighted: bool,
        asked: PatternsAsked,
    },
}

/// The queries that merge, by their JS names.
pub const MERGEABLE: &[&str] = &[
    "summary",
    "activeUsers",
    "realtime",
    "eventBreakdown",
    "featureUsage",
    "funnel",
    "retention",
    "cohorts",
    "topPages",
    "sessionDurations",
    "paths",
    "patterns",
];

impl Analytics<'_> {
    /// Query `query` (its JS name) with `options` (the query's options
    /// object, as the JS method takes it), in its mergeable form.
    pub fn partial(&self, query: &str, options: Map<String, Value>) -> Result<Partial> {
        Ok(match query {
            "summary" => {
                let (q, _): (_, NoOptions) = split(options)?;
                let (summary, tallies) = self.summary_parts(&q)?;
                Partial::Summary { summary, tallies }
            }
            "activeUsers" => {
                let (q, o): (_, ActiveUsersOptions) = split(options)?;
                let (active, daily_users, days) =
                    self.active_users_parts(&q, o.interval.unwrap_or_default())?;
                Partial::ActiveUsers {
                    active,
                    daily_users,
                    days,
                }
            }
            "realtime" => {
                let (q, o): (_, RealtimeOptions) = split(options)?;
                Partial::Realtime {
                    realtime: self.realtime(&q, &o)?,
                }
            }
            "eventBreakdown" => {
                let (q, o): (_, BreakdownOptions) = split(options)?;
                let limit = super::query::bounded(o.limit, 50, 1, 1000, "limit")?;
                let (breakdown, tallies) = self.event_breakdown_upto(&q, &o, usize::MAX)?;
                Partial::EventBreakdown {
                    breakdown,
                    limit,
                    tallies,
                }
            }
            "featureUsage" => {
                let (q, o): (_, FeatureUsageOptions) = split(options)?;
                let (usage, active, tallies) = self.feature_usage_parts(&q, &o)?;
                Partial::FeatureUsage {
                    usage,
                    active,
                    tallies,
                }
            }
            "funnel" => {
                let (q, o): (_, FunnelOptions) = split(options)?;
                let (funnel, gaps, segment_gaps) = self.funnel_gaps(&q, &o)?;
                Partial::Funnel {
                    funnel,
                    names: o.steps,
                    gaps,
                    segment_gaps,
                }
            }
            "retention" => {
                let (q, o): (_, RetentionOptions) = split(options)?;
                Partial::Retention {
                    retention: self.retention(&q, &o)?,
                }
            }
            "cohorts" => {
                let (q, o): (_, CohortsOptions) = split(options)?;
                Partial::Cohorts {
                    cohorts: self.cohorts(&q, &o)?,
                }
            }
            "topPages" => {
                let (q, o): (_, TopPagesOptions) = split(options)?;
                let limit = super::query::bounded(o.limit, 10, 1, 1000, "limit")?;
                let (pages, reweighted) = self.all_pages(&q)?;
                Partial::TopPages {
                    pages,
                    reweighted,
                    limit,
                }
            }
            "sessionDurations" => {
                let (q, _): (_, NoOptions) = split(options)?;
                let (durations, values, total) = self.session_durations_values(&q)?;
                Partial::SessionDurations {
                    durations,
                    values,
                    total,
                }
            }
            "paths" => {
                let (q, o): (_, PathsOptions) = split(options)?;
                let asked = PathsAsked::of(&o)?;
                let (items, journeys, total, reweighted) = self.journey_counts(&q, &o)?.all();
                Partial::Paths {
                    items,
                    journeys,
                    total,
                    reweighted,
                    asked,
                }
            }
            "patterns" => {
                let (q, o): (_, PatternsOptions) = split(options)?;
                let asked = PatternsAsked::of(&o)?;
                let (sequences, total_sessions, reweighted) = self.pattern_counts(&q, &o)?.all();
                Partial::Patterns {
                    sequences,
                    total_sessions,
                    reweighted,
                    asked,
                }
            }
            _ => {
                return Err(Error::invalid(
                    "query",
                    format!("must be one of {}", MERGEABLE.join(", ")),
                ))
            }
        })
    }
}

fn mismatch() -> Error {
    Error::invalid(
        "partials",
        "must all answer the same query, with the same options",
    )
}

/// The groups of several partials (a breakdown's rows, a feature usage's
/// features) by key, each with its tallies added up.
struct Groups<T> {
    items: Vec<(T, GroupTally)>,
    at: FastMap<String, usize>,
}

impl<T> Default for Groups<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            at: FastMap::default(),
        }
    }
}

impl<T> Groups<T> {
    /// Adds one partial's groups and their tallies (one each, valid); the
    /// first item of a key stands for it.
    fn add(
        &mut self,
        items: Vec<T>,
        tallies: Vec<GroupTally>,
        key: impl Fn(&T) -> String,
    ) -> Result<()> {
        if items.len() != tallies.len() || !tallies.iter().all(GroupTally::is_valid) {
            return Err(bad_tally());
        }
        for (item, tally) in items.into_iter().zip(tallies) {
            match self.at.entry(key(&item)) {
                Entry::Occupied(i) => self.items[*i.get()].1.merge(&tally),
                Entry::Vacant(v) => {
                    v.insert(self.items.len());
                    self.items.push((item, tally));
                }
            }
        }
        Ok(())
    }

    /// The groups, each sum checked again (finite, below the counts'
    /// limit).
    fn merged(self) -> Result<Vec<(T, GroupTally)>> {
        if !self.items.iter().all(|(_, t)| t.is_valid()) {
            return Err(bad_tally());
        }
        Ok(self.items)
    }
}

fn bad_tally() -> Error {
    Error::invalid(
        "partials",
        "hold counts that no engine gives (tallies of weights of at least 1, one per row)",
    )
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Whether a funnel partial has one step and one list of gaps per step
/// name, in the whole and in each segment, and one list of gaps per
/// segment: what the merge indexes by step (a partial from elsewhere with
/// a step more in a segment made it read past its lists).
fn funnel_shaped(f: &Funnel, names: &[String], gaps: &Gaps, segment_gaps: &[Gaps]) -> bool {
    let n = names.len();
    let segments_shaped = match &f.breakdown {
        None => segment_gaps.is_empty(),
        Some(b) => {
            b.len() == segment_gaps.len()
                && b.iter().all(|s| s.steps.len() == n)
                && segment_gaps.iter().all(|g| g.len() == n)
        }
    };
    f.steps.len() == n && gaps.len() == n && segments_shaped
}

/// `INVALID_INPUT` for a funnel partial that [`funnel_shaped`] refuses.
fn misshapen_funnel() -> Error {
    Error::invalid(
        "partials",
        "hold a funnel whose steps, segments or gaps do not match its step names",
    )
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// Merges the partials of one query into its answer, as JSON in the
/// query's usual shape.
pub fn merge(parts: Vec<Partial>) -> Result<Value> {
    merge_each(parts.into_iter().map(Ok))
}

/// [`merge`] of partials read one at a time: each is read (and its error,
/// if reading it fails, returned) only once those before it are merged,
/// so a caller reading them from text holds one partial whole at a time.
///
/// A refusal of what a partial holds names it (`partials[2]`) when the
/// fold met it while adding that partial; one found once all were added
/// (a sum past what a count can hold) names `partials`.
pub fn merge_each(parts: impl IntoIterator<Item = Result<Partial>>) -> Result<Value> {
    let read = std::cell::Cell::new(0usize);
    let done = std::cell::Cell::new(false);
    let mut parts = parts.into_iter();
    let counted = std::iter::from_fn(|| {
        let next = parts.next();
        match next {
            Some(_) => read.set(read.get() + 1),
            None => done.set(true),
        }
        next
    });
    let merged = fold(counted);
    let at = read.get();
    merged.map_err(|e| match e {
        Error::InvalidInput { field, reason } if field == "partials" && at > 0 && !done.get() => {
            Error::InvalidInput {
                field: format!("partials[{}]", at - 1),
                reason,
            }
        }
        e => e,
    })
}

/// [`merge_each`]'s fold: the first partial says the query, the rest are
/// added to it one at a time.
fn fold(mut rest: impl Iterator<Item = Result<Partial>>) -> Result<Value> {
    let first = rest
        .next()
        .ok_or_else(|| Error::invalid("partials", "must hold at least one partial"))??;
    Ok(match first {
        Partial::Summary { mut tallies, .. } => {
            if !tallies.is_valid() {
                return Err(bad_tally());
            }
            for p in rest {
                let Partial::Summary { tallies: t, .. } = p? else {
                    return Err(mismatch());
                };
                if !t.is_valid() {
                    return Err(bad_tally());
                }
                tallies.merge(&t);
            }
            // Each part was valid; their sum must be too (finite).
            if !tallies.is_valid() {
                return Err(bad_tally());
            }
            // Sampled when some event's weight is not 1, as one engine
            // says: the tallies are the truth, not the partials' answers.
            let reweighted = tallies.events.is_weighted();
            to_value(&tallies.summary(reweighted))
        }
        Partial::ActiveUsers {
            mut active,
            mut daily_users,
            days,
        } => {
            for p in rest {
                let Partial::ActiveUsers {
                    active: a,
                    daily_users: d,
                    days: n,
                } = p?
                else {
                    return Err(mismatch());
                };
                if n != days {
                    return Err(mismatch());
                }
                daily_users += d;
                if a.buckets.len() != active.buckets.len() || a.interval != active.interval {
                    return Err(mismatch());
                }
                for (x, y) in active.buckets.iter_mut().zip(a.buckets) {
                    x.users += y.users;
                }
                active.stickiness.dau += a.stickiness.dau;
                active.stickiness.mau += a.stickiness.mau;
                active.reweighted |= a.reweighted;
            }
            // Divided once, as one engine does: a sum of averages differs
            // from the average of the sum in the last bits.
            if days > 0.0 {
                active.stickiness.dau = daily_users / days;
            }
            active.stickiness.ratio = ratio(active.stickiness.dau, active.stickiness.mau);
            to_value(&active)
        }
        Partial::Realtime { mut realtime } => {
            for p in rest {
                let Partial::Realtime { realtime: r } = p? else {
                    return Err(mismatch());
                };
                if r.per_minute.len() != realtime.per_minute.len() {
                    return Err(mismatch());
                }
                realtime.active_users += r.active_users;
                realtime.events += r.events;
                for (x, y) in realtime.per_minute.iter_mut().zip(r.per_minute) {
                    x.events += y.events;
                }
                realtime.reweighted |= r.reweighted;
            }
            to_value(&realtime)
        }
        Partial::EventBreakdown {
            mut breakdown,
            limit,
            tallies,
        } => {
            // Groups by their value's JSON text. A group has events (a
            // feature may have none).
            let mut groups = Groups::default();
            let mut add = |rows: Vec<BreakdownRow>, tallies: Vec<GroupTally>| -> Result<()> {
                let counted = |t: &GroupTally| t.events.count() > 0;
                if !tallies.iter().all(counted) {
                    return Err(bad_tally());
                }
                groups.add(rows, tallies, |row| row.value.to_string())
            };
            add(std::mem::take(&mut breakdown.rows), tallies)?;
            for p in rest {
                let Partial::EventBreakdown {
                    breakdown: b,
                    tallies: t,
                    limit: l,
                } = p?
                else {
                    return Err(mismatch());
                };
                // Grouped by something else, or cut elsewhere: another query.
                if b.by != breakdown.by || l != limit {
                    return Err(mismatch());
                }
                add(b.rows, t)?;
            }
            let groups = groups.merged()?;
            breakdown.reweighted = groups.iter().any(|(_, t)| t.events.is_weighted());
            let mut rows: Vec<(BreakdownRow, GroupTally)> = groups
                .into_iter()
                .map(|(row, tally)| (BreakdownRow::of(row.value, &tally), tally))
                .collect();
            sort_groups(&mut rows);
            rows.truncate(limit);
            breakdown.rows = rows.into_iter().map(|(row, _)| row).collect();
            to_value(&breakdown)
        }
        Partial::FeatureUsage {
            mut usage,
            mut active,
            tallies,
        } => {
            let mut features = Groups::default();
            let mut add = |stats: Vec<FeatureStats>, tallies: Vec<GroupTally>| -> Result<()> {
                features.add(stats, tallies, |f| f.feature.clone())
            };
            if !active.is_valid_or_empty() {
                return Err(bad_tally());
            }
            add(std::mem::take(&mut usage.features), tallies)?;
            for p in rest {
                let Partial::FeatureUsage {
                    usage: u,
                    active: a,
                    tallies: t,
                } = p?
                else {
                    return Err(mismatch());
                };
                if !a.is_valid_or_empty() {
                    return Err(bad_tally());
                }
                active.merge(&a);
                usage.reweighted |= u.reweighted;
                add(u.features, t)?;
            }
            let features = features.merged()?;
            // No feature has more users than were active.
            let within = |t: &GroupTally| t.users.count() <= active.count();
            if !active.is_valid_or_empty() || !features.iter().all(|(_, t)| within(t)) {
                return Err(bad_tally());
            }
            usage.active_users = active.value();
            let mut stats: Vec<(FeatureStats, GroupTally)> = features
                .into_iter()
                .map(|(f, tally)| {
                    (
                        FeatureStats::of(f.feature, &tally, usage.active_users),
                        tally,
                    )
                })
                .collect();
            sort_features(&mut stats);
            usage.features = stats.into_iter().map(|(f, _)| f).collect();
            to_value(&usage)
        }
        Partial::Funnel {
            funnel,
            names,
            mut gaps,
            segment_gaps,
        } => {
            if !funnel_shaped(&funnel, &names, &gaps, &segment_gaps) {
                return Err(misshapen_funnel());
            }
            let mut counts: Vec<f64> = funnel.steps.iter().map(|s| s.count).collect();
            let mut reweighted = funnel.reweighted;
            let mut segments: Vec<(Value, Vec<f64>, Gaps)> = funnel
                .breakdown
                .clone()
                .unwrap_or_default()
                .into_iter()
                .zip(segment_gaps)
                .map(|(s, g)| (s.value, s.steps.iter().map(|x| x.count).collect(), g))
                .collect();
            // Each segment's place by its value's JSON text (values are
            // compared as JSON): a lookup per segment of each partial, not
            // a walk of every segment met so far.
            let mut segment_at: FastMap<String, usize> = FastMap::default();
            for (i, (v, ..)) in segments.iter().enumerate() {
                segment_at.entry(v.to_string()).or_insert(i);
            }
            for p in rest {
                let Partial::Funnel {
                    funnel: f,
                    names: n,
                    gaps: g,
                    segment_gaps: sg,
                } = p?
                else {
                    return Err(mismatch());
                };
                if n != names || f.breakdown.is_some() != funnel.breakdown.is_some() {
                    return Err(mismatch());
                }
                if !funnel_shaped(&f, &n, &g, &sg) {
                    return Err(misshapen_funnel());
                }
                reweighted |= f.reweighted;
                for (k, s) in f.steps.iter().enumerate() {
                    counts[k] += s.count;
                    gaps[k].extend(&g[k]);
                }
                for (seg, g) in f.breakdown.unwrap_or_default().into_iter().zip(sg) {
                    let c: Vec<f64> = seg.steps.iter().map(|x| x.count).collect();
                    match segment_at.entry(seg.value.to_string()) {
                        Entry::Occupied(i) => {
                            let s = &mut segments[*i.get()];
                            for k in 0..c.len() {
                                s.1[k] += c[k];
                                s.2[k].extend(&g[k]);
                            }
                        }
                        Entry::Vacant(v) => {
                            v.insert(segments.len());
                            segments.push((seg.value, c, g));
                        }
                    }
                }
            }
            let breakdown = funnel.breakdown.as_ref().map(|_| {
                let mut segs: Vec<(FunnelSegment, ())> = segments
                    .iter()
                    .map(|(v, c, g)| {
                        let seg = FunnelSegment {
                            value: v.clone(),
                            steps: steps_from(&names, c, g),
                        };
                        (seg, ())
                    })
                    .collect();
                sort_segments(&mut segs);
                segs.into_iter().map(|(s, _)| s).collect()
            });
            to_value(&Funnel {
                steps: steps_from(&names, &counts, &gaps),
                breakdown,
                reweighted,
            })
        }
        Partial::Retention { mut retention } => {
            for p in rest {
                let Partial::Retention { retention: r } = p? else {
                    return Err(mismatch());
                };
                if r.rows.len() != retention.rows.len() || r.periods != retention.periods {
                    return Err(mismatch());
                }
                retention.reweighted |= r.reweighted;
                for (x, y) in retention.rows.iter_mut().zip(r.rows) {
                    x.users += y.users;
                    for (a, b) in x.counts.iter_mut().zip(y.counts) {
                        if let (Some(a), Some(b)) = (a.as_mut(), b) {
                            *a += b;
                        }
                    }
                }
            }
            for row in &mut retention.rows {
                let size = row.users;
                row.percentages = row
                    .counts
                    .iter()
                    .map(|c| c.map(|c| if size > 0.0 { 100.0 * c / size } else { 0.0 }))
                    .collect();
            }
            to_value(&retention)
        }
        Partial::Cohorts { mut cohorts } => {
            // Each row's values' places by their JSON text, as the funnel's
            // segments: built once, kept across the partials.
            let mut value_at: Vec<FastMap<String, usize>> = cohorts
                .rows
                .iter()
                .map(|row| {
                    let mut at = FastMap::default();
                    for (i, a) in row.by_value.iter().flatten().enumerate() {
                        at.entry(a.value.to_string()).or_insert(i);
                    }
                    at
                })
                .collect();
            for p in rest {
                let Partial::Cohorts { cohorts: c } = p? else {
                    return Err(mismatch());
                };
                if c.rows.len() != cohorts.rows.len() {
                    return Err(mismatch());
                }
                cohorts.reweighted |= c.reweighted;
                for ((x, y), at) in cohorts.rows.iter_mut().zip(c.rows).zip(&mut value_at) {
                    x.users += y.users;
                    if let (Some(xs), Some(ys)) = (x.by_value.as_mut(), y.by_value) {
                        for v in ys {
                            match at.entry(v.value.to_string()) {
                                Entry::Occupied(i) => xs[*i.get()].users += v.users,
                                Entry::Vacant(e) => {
                                    e.insert(xs.len());
                                    xs.push(v);
                                }
                            }
                        }
                    }
                }
            }
            for row in &mut cohorts.rows {
                if let Some(v) = row.by_value.as_mut() {
                    v.sort_by(|a, b| {
                        b.users
                            .total_cmp(&a.users)
                            .then_with(|| a.value.to_string().cmp(&b.value.to_string()))
                    });
                }
            }
            to_value(&cohorts)
        }
        Partial::TopPages {
            mut pages,
            mut reweighted,
            limit,
        } => {
            // Each page's place by its path: a lookup per page of each
            // partial (a walk of every page met so far made merging four
            // partials of 20,000 pages take 2 s).
            let mut page_at: FastMap<String, usize> = FastMap::default();
            for (i, (page, _)) in pages.iter().enumerate() {
                page_at.entry(page.path.clone()).or_insert(i);
            }
            for p in rest {
                let Partial::TopPages {
                    pages: ps,
                    reweighted: r,
                    limit: l,
                } = p?
                else {
                    return Err(mismatch());
                };
                if l != limit {
                    return Err(mismatch());
                }
                reweighted |= r;
                for (page, time) in ps {
                    match page_at.entry(page.path.clone()) {
                        Entry::Occupied(i) => {
                            let (x, t) = &mut pages[*i.get()];
                            x.views += page.views;
                            x.unique_viewers += page.unique_viewers;
                            x.timed_views += page.timed_views;
                            *t += time;
                        }
                        Entry::Vacant(v) => {
                            v.insert(pages.len());
                            pages.push((page, time));
                        }
                    }
                }
            }
            for (page, time) in &mut pages {
                page.avg_time_on_page_ms =
                    (page.timed_views > 0).then(|| *time / page.timed_views as f64);
            }
            sort_pages(&mut pages);
            pages.truncate(limit);
            to_value(&TopPages {
                pages: pages.into_iter().map(|(p, _)| p).collect(),
                reweighted,
            })
        }
        Partial::SessionDurations {
            mut durations,
            mut values,
            mut total,
        } => {
            for p in rest {
                let Partial::SessionDurations {
                    durations: d,
                    values: v,
                    total: t,
                } = p?
                else {
                    return Err(mismatch());
                };
                if d.histogram.len() != durations.histogram.len() {
                    return Err(mismatch());
                }
                total += t;
                durations.count += d.count;
                durations.reweighted |= d.reweighted;
                for (x, y) in durations.histogram.iter_mut().zip(d.histogram) {
                    x.sessions += y.sessions;
                }
                values.extend(v);
            }
            durations.mean_ms = (durations.count > 0.0).then(|| total / durations.count);
            durations.median_ms = median(&mut values);
            durations.p90_ms = percentile(&values, 90.0);
            durations.max_ms = values.last().copied();
            to_value(&durations)
        }
        Partial::Paths {
            items,
            journeys,
            total,
            reweighted,
            asked,
        } => {
            let mut counts = JourneyCounts::new();
            let mut add = |items, journeys, total: Tally, reweighted, a: &PathsAsked| {
                if *a != asked {
                    return Err(mismatch());
                }
                let theirs = numbered(items, journeys)?;
                a.check(&theirs, &total, reweighted)?;
                theirs.all_taken()?;
                counts.add(&theirs, &total, reweighted);
                Ok(())
            };
            add(items, journeys, total, reweighted, &asked)?;
            for p in rest {
                let Partial::Paths {
                    items: i,
                    journeys: j,
                    total: t,
                    reweighted: r,
                    asked: a,
                } = p?
                else {
                    return Err(mismatch());
                };
                add(i, j, t, r, &a)?;
            }
            to_value(&counts.answer(asked.limit()))
        }
        Partial::Patterns {
            sequences,
            total_sessions,
            reweighted,
            asked,
        } => {
            asked.check(&sequences, &total_sessions, reweighted)?;
            let mut counts = PatternCounts::new();
            counts.add(&sequences, &total_sessions, reweighted);
            for p in rest {
                let Partial::Patterns {
                    sequences: q,
                    total_sessions: t,
                    reweighted: r,
                    asked: a,
                } = p?
                else {
                    return Err(mismatch());
                };
                if a != asked {
                    return Err(mismatch());
                }
                a.check(&q, &t, r)?;
                counts.add(&q, &t, r);
            }
            let (min_support, limit) = asked.cut();
            to_value(&counts.answer(min_support, limit))
        }
    })
}
