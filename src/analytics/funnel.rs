//! Funnels: how many users go through a sequence of steps, and how fast.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::query::{bounded, Query};
use super::scan::{most_by_number, FastMap, Interner, Need, Row};
use super::units::UnitRows;
use super::{json_value, Analytics};
use crate::error::{Error, Result};
use crate::kernel::stats::{median, Total};

/// Whether other events may come between steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FunnelOrder {
    /// Steps in order; any other events may come between them.
    #[default]
    Any,
    /// Steps in order with no other event of the user between them.
    Strict,
}

/// Options of [`Analytics::funnel`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FunnelOptions {
    /// The steps' event names, 1 to 20. A name may repeat.
    pub steps: Vec<String>,
    /// Every step must happen within this many seconds of the first, 1 s
    /// to 366 days (default 1 day).
    pub window_secs: Option<i64>,
    /// `any` (default) or `strict`.
    pub order: Option<FunnelOrder>,
    /// Also split by this dimension's value on the user's first step.
    pub breakdown: Option<String>,
}

/// One step of a funnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunnelStep {
    /// The step's event name.
    pub name: String,
    /// Users who reached it.
    pub count: f64,
    /// `count` over the previous step's count (1 for the first step with
    /// users, 0 without).
    pub conversion_from_previous: f64,
    /// `count` over the first step's count.
    pub conversion_from_start: f64,
    /// Median ms from the previous step, over users who reached this one;
    /// `null` for the first step or when nobody reached it.
    pub median_ms_from_previous: Option<f64>,
}

/// The funnel of one breakdown value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunnelSegment {
    /// The dimension's value on the first step (`null` when unset).
    pub value: Value,
    /// Its steps.
    pub steps: Vec<FunnelStep>,
}

/// A funnel's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Funnel {
    /// Every step, for all users.
    pub steps: Vec<FunnelStep>,
    /// Per breakdown value, when asked for; largest first.
    pub breakdown: Option<Vec<FunnelSegment>>,
    /// True when some counted event was sampled.
    pub reweighted: bool,
}

/// One user's way through the funnel.
struct Attempt {
    /// The times of the steps reached, in order.
    times: Vec<i64>,
    /// The breakdown value of the first step.
    value: u32,
}

/// One user's way through a funnel so far, followed row after row in
/// time order: their attempt starts at their first step-1 event and stops
/// at the last step, past the window, or (strict) at another event.
#[derive(Default)]
struct Progress {
    /// The user's highest sample rate among the rows read.
    rate: f64,
    attempt: Option<Attempt>,
    /// The attempt takes no more steps.
    done: bool,
}

impl Progress {
    /// Follows `row`, the user's next event, through `steps`.
    fn step(&mut self, row: &Row, steps: &[u32], window_ms: i64, order: FunnelOrder) {
        self.rate = self.rate.max(row.rate);
        match &mut self.attempt {
            None if row.name == steps[0] => {
                self.attempt = Some(Attempt {
                    times: vec![row.ts],
                    value: row.extra,
                });
            }
            Some(a) if !self.done => {
                if a.times.len() == steps.len() || row.ts.saturating_sub(a.times[0]) > window_ms {
                    self.done = true;
                } else if row.name == steps[a.times.len()] {
                    a.times.push(row.ts);
                } else if order == FunnelOrder::Strict {
                    self.done = true;
                }
            }
            _ => {}
        }
    }
}

/// What a funnel follows while its window is read: each user's progress
/// (rows in time order), or each user's rows kept to follow when the window
/// is done (rows in id order), with each user's highest rate.
struct Follow {
    users: FastMap<u32, Progress>,
    later: Option<UnitRows<(u32, u32)>>,
    rates: Vec<f64>,
    reweighted: bool,
}

/// The steps' names by the window's numbering; a step nobody performed
/// matches no event.
fn step_ids(steps: &[String], strings: &Interner) -> Vec<u32> {
    steps
        .iter()
        .map(|s| strings.get(s).unwrap_or(u32::MAX))
        .collect()
}

/// The gaps between consecutive steps of the attempts reaching each step
/// (empty for the first): what each step's median is taken of.
pub(crate) type Gaps = Vec<Vec<f64>>;

/// The step table for a set of attempts with their weights, and its gaps.
fn tabulate(names: &[String], attempts: &[(&Attempt, f64)]) -> (Vec<FunnelStep>, Gaps) {
    let mut counts = Vec::with_capacity(names.len());
    let mut all_gaps: Gaps = Vec::with_capacity(names.len());
    for k in 0..names.len() {
        let reached: Vec<&(&Attempt, f64)> =
            attempts.iter().filter(|(a, _)| a.times.len() > k).collect();
        counts.push(reached.iter().map(|(_, w)| w).total());
        all_gaps.push(if k == 0 {
            Vec::new()
        } else {
            reached
                .iter()
                .map(|(a, _)| (a.times[k] - a.times[k - 1]) as f64)
                .collect()
        });
    }
    (steps_from(names, &counts, &all_gaps), all_gaps)
}

/// The step table from each step's count and gaps (also a merge's).
pub(crate) fn steps_from(names: &[String], counts: &[f64], gaps: &Gaps) -> Vec<FunnelStep> {
    let mut out: Vec<FunnelStep> = Vec::with_capacity(names.len());
    for (k, name) in names.iter().enumerate() {
        let count = counts[k];
        let prev = out.last().map(|s| s.count);
        let first = out.first().map_or(count, |s| s.count);
        let ratio = |d: f64| if d > 0.0 { count / d } else { 0.0 };
        let mut g = gaps[k].clone();
        out.push(FunnelStep {
            name: name.clone(),
            count,
            conversion_from_previous: ratio(prev.unwrap_or(count)),
            conversion_from_start: ratio(first),
            median_ms_from_previous: median(&mut g),
        });
    }
    out
}

/// Segments by their first step's count, then value.
pub(crate) fn sort_segments<T>(segs: &mut [(FunnelSegment, T)]) {
    segs.sort_by(|a, b| {
        b.0.steps[0]
            .count
            .total_cmp(&a.0.steps[0].count)
            .then_with(|| a.0.value.to_string().cmp(&b.0.value.to_string()))
    });
}

impl Analytics<'_> {
    /// How many users reach each step.
    ///
    /// A user's attempt starts at their first step-1 event in the range. They
    /// reach step k if they then performed steps 2..k in order, each a later
    /// event than the one before, all within `windowSecs` of that step-1
    /// event. Under `strict`, no other event of theirs may come between two
    /// steps. An event satisfies one step at most, so a repeated step needs
    /// a repeated event.
    pub fn funnel(&self, q: &Query, o: &FunnelOptions) -> Result<Funnel> {
        Ok(self.funnel_gaps(q, o)?.0)
    }

    /// [`Analytics::funnel`], with the gaps of the whole and of each segment
    /// (in the segments' order), for a merge.
    pub(crate) fn funnel_gaps(
        &self,
        q: &Query,
        o: &FunnelOptions,
    ) -> Result<(Funnel, Gaps, Vec<Gaps>)> {
        if o.steps.is_empty() || o.steps.len() > 20 {
            return Err(Error::invalid("steps", "must be 1 to 20 event names"));
        }
        for (i, s) in o.steps.iter().enumerate() {
            crate::kernel::text::check(&format!("steps[{i}]"), s, 800)?;
        }
        let window = bounded(o.window_secs, 86_400, 1, 366 * 86_400, "windowSecs")? as i64;
        let order = o.order.unwrap_or_default();
        let r = self.resolve(q)?;
        let extra = o
            .breakdown
            .as_deref()
            .map(|d| self.dimension_extra("breakdown", d))
            .transpose()?;
        let mut distinct = o.steps.clone();
        distinct.sort();
        distinct.dedup();
        // Each user's steps need their rows in time order: as the
        // projection (or a read in time slices) gives them, followed row
        // after row a chunk at a time, memory per user; or read once in id
        // order, each user's rows kept (24 bytes a row: the step events
        // alone when the funnel is not strict) and followed in their own
        // time order when the window is done ([`Analytics::reads_by_id`]).
        let by_id = self.reads_by_id()?;
        let need = Need {
            extra,
            // Only strict funnels need the events between steps.
            names: (order == FunnelOrder::Any).then_some(distinct),
            any_order: by_id,
            // A funnel reads of a row its time, user, name and rate.
            by_names: by_id,
            ..Need::default()
        };
        let init = || Follow {
            users: FastMap::default(),
            later: by_id.then(UnitRows::new),
            rates: Vec::new(),
            reweighted: false,
        };
        let window_ms = window.saturating_mul(1000);
        let (follow, strings) = self.fold(&r, &need, init, |f, rows, strings| {
            f.reweighted |= rows.iter().any(|r| r.rate < 1.0);
            let rows = rows.iter().filter(|r| r.user != 0);
            if let Some(later) = &mut f.later {
                for row in rows {
                    most_by_number(&mut f.rates, row.user, row.rate);
                    later.push(row.ts, row.user, (row.name, row.extra));
                }
                return;
            }
            // A step nobody performed (yet) matches no event.
            let ids = step_ids(&o.steps, strings);
            for row in rows {
                let p = f.users.entry(row.user).or_default();
                p.step(row, &ids, window_ms, order);
            }
        })?;
        let Follow {
            users,
            later,
            rates,
            reweighted,
        } = follow;
        let mut attempts: Vec<(Attempt, f64)> = users
            .into_values()
            .filter_map(|p| Some((p.attempt?, 1.0 / p.rate)))
            .collect();
        if let Some(later) = later {
            let ids = step_ids(&o.steps, &strings);
            later.each_unit(|user, rows| {
                let mut p = Progress::default();
                for k in rows {
                    let row = Row {
                        ts: k.ts,
                        user: k.unit,
                        session: 0,
                        name: k.item.0,
                        page: 0,
                        extra: k.item.1,
                        rate: rates[user],
                        bot: false,
                        kind: 0,
                    };
                    p.step(&row, &ids, window_ms, order);
                }
                if let Some(a) = p.attempt {
                    attempts.push((a, 1.0 / p.rate));
                }
            });
        }
        let all: Vec<(&Attempt, f64)> = attempts.iter().map(|(a, w)| (a, *w)).collect();
        let (steps, gaps) = tabulate(&o.steps, &all);
        let mut segment_gaps = Vec::new();
        let breakdown = o.breakdown.as_ref().map(|_| {
            let mut groups: FastMap<u32, Vec<(&Attempt, f64)>> = FastMap::default();
            for (a, w) in &all {
                groups.entry(a.value).or_default().push((a, *w));
            }
            let mut segs: Vec<(FunnelSegment, Gaps)> = groups
                .into_iter()
                .map(|(v, list)| {
                    let (steps, gaps) = tabulate(&o.steps, &list);
                    let seg = FunnelSegment {
                        value: json_value(strings.str(v)),
                        steps,
                    };
                    (seg, gaps)
                })
                .collect();
            sort_segments(&mut segs);
            let (segs, gaps): (Vec<_>, Vec<_>) = segs.into_iter().unzip();
            segment_gaps = gaps;
            segs
        });
        let funnel = Funnel {
            steps,
            breakdown,
            reweighted,
        };
        Ok((funnel, gaps, segment_gaps))
    }
}
