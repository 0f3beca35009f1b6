//! Retention and cohorts: who comes back, grouped by when they first came.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::query::{bounded, Interval, Query};
use super::scan::{max_rate_weights, most, FastMap, Need};
use super::{json_value, Analytics};
use crate::error::{Error, Result};
use crate::kernel::stats::Total;

/// Options of [`Analytics::retention`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetentionOptions {
    /// The cohort period: `day`, `week` (default) or `month`.
    pub cohort: Option<Interval>,
    /// Periods to follow each cohort for, 1 to 366 (default 8).
    pub periods: Option<i64>,
    /// The event that puts a user in a cohort (default: any event).
    pub start_event: Option<String>,
    /// The event that counts as coming back (default: any event).
    pub return_event: Option<String>,
}

/// One cohort's row of the retention matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionRow {
    /// When the cohort's period starts, in ms.
    pub start: i64,
    /// Its local start date.
    pub label: String,
    /// Users in the cohort.
    pub users: f64,
    /// Per period N (0 is the cohort's own period): users with a return
    /// event in it; `null` for periods that start after the range.
    pub counts: Vec<Option<f64>>,
    /// `counts` as percentages of `users`.
    pub percentages: Vec<Option<f64>>,
}

/// The retention matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    /// The period.
    pub cohort: Interval,
    /// Periods per row.
    pub periods: usize,
    /// One row per period of the range, oldest first.
    pub rows: Vec<RetentionRow>,
    /// True when some counted event was sampled.
    pub reweighted: bool,
}

/// Options of [`Analytics::cohorts`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CohortsOptions {
    /// `day`, `week` (default) or `month`.
    pub period: Option<Interval>,
    /// Also split by this dimension's value on the user's first event.
    pub by: Option<String>,
}

/// Users of one value of the `by` dimension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueCount {
    /// The value (`null` when unset).
    pub value: Value,
    /// Users.
    pub users: f64,
}

/// New users of one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CohortRow {
    /// When the period starts, in ms.
    pub start: i64,
    /// Its local start date.
    pub label: String,
    /// Users first seen in it.
    pub users: f64,
    /// Split by the `by` dimension, when asked for; most users first.
    pub by_value: Option<Vec<ValueCount>>,
}

/// New users per period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cohorts {
    /// The period.
    pub period: Interval,
    /// One row per period of the range, oldest first.
    pub rows: Vec<CohortRow>,
    /// True when some counted event was sampled.
    pub reweighted: bool,
}

/// What `retention` keeps as events come, in any order: per user, the
/// first start and the highest rate; per user and period, the latest
/// return (a return counts from the first start on, so only the cohort's
/// own period needs its time).
#[derive(Default)]
struct Returns {
    users: FastMap<u32, (Option<i64>, f64)>,
    latest: FastMap<(u32, i64), i64>,
}

impl Returns {
    /// An event of `user` at `ts` in period `bucket`; `is` says whether it
    /// is a start and whether it is a return.
    fn add(&mut self, ts: i64, user: u32, rate: f64, is: (bool, bool), bucket: i64) {
        let u = self.users.entry(user).or_insert((None, rate));
        if is.0 {
            u.0 = Some(u.0.map_or(ts, |f| f.min(ts)));
        }
        if rate > u.1 {
            u.1 = rate;
        }
        if is.1 {
            let latest = self.latest.entry((user, bucket)).or_insert(ts);
            *latest = (*latest).max(ts);
        }
    }
}

impl Analytics<'_> {
    /// The retention matrix.
    ///
    /// A user belongs to the cohort of the period of their first
    /// `startEvent` ever; cohorts whose first start falls in the range get a
    /// row. They are retained in period N if they have a `returnEvent`, at
    /// or after that first start and before `until`, in the N-th period
    /// after the cohort's.
    pub fn retention(&self, q: &Query, o: &RetentionOptions) -> Result<Retention> {
        let interval = o.cohort.unwrap_or(Interval::Week);
        let periods = bounded(o.periods, 8, 1, 366, "periods")? as i64;
        for (f, v) in [
            ("startEvent", &o.start_event),
            ("returnEvent", &o.return_event),
        ] {
            crate::kernel::text::check_opt(f, v.as_deref(), 800)?;
        }
        let r = self.resolve(q)?;
        let (first_b, last_b) = (
            interval.bucket(r.since, r.offset_ms),
            interval.bucket(r.until - 1, r.offset_ms),
        );
        if last_b - first_b >= 10_000 {
            return Err(Error::invalid(
                "until",
                "the range spans more than 10000 periods: choose a coarser cohort, \
                 or a later since (the default until is now)",
            ));
        }
        let offset = r.offset_ms;
        let returns = if o.start_event.is_none() && o.return_event.is_none() {
            // Any event starts and returns: the rollup may answer.
            self.fold_activity(
                &r,
                0,
                |_| Returns::default(),
                |t, (ts, user, rate)| {
                    t.add(ts, user, rate, (true, true), interval.bucket(ts, offset));
                },
            )?
        } else {
            let names = match (&o.start_event, &o.return_event) {
                (Some(s), Some(t)) => Some(vec![s.clone(), t.clone()]),
                _ => None,
            };
            let need = Need {
                from: Some(0),
                names,
                any_order: true,
                ..Need::default()
            };
            let (start, ret) = (o.start_event.as_deref(), o.return_event.as_deref());
            self.fold(&r, &need, Returns::default, |t, rows, strings| {
                // The names' numbers, once they are met.
                let id = |n: Option<&str>| n.map(|s| strings.get(s).unwrap_or(u32::MAX));
                let (start, ret) = (id(start), id(ret));
                for row in rows.iter().filter(|r| r.user != 0) {
                    let is = (
                        start.is_none_or(|s| s == row.name),
                        ret.is_none_or(|t| t == row.name),
                    );
                    t.add(
                        row.ts,
                        row.user,
                        row.rate,
                        is,
                        interval.bucket(row.ts, offset),
                    );
                }
            })?
            .0
        };
        // Each cohort's users' weights and each period's, added by `Total`
        // (smallest first when some is not whole), so that the sums do not
        // depend on the users' numbers or the order the events came in.
        let mut cells: BTreeMap<i64, (Vec<f64>, Vec<Vec<f64>>)> = (first_b..=last_b)
            .map(|b| (b, (Vec::new(), vec![Vec::new(); periods as usize])))
            .collect();
        let mut reweighted = false;
        let cohort = |first: Option<i64>| -> Option<(i64, i64)> {
            let first = first.filter(|f| *f >= r.since && *f < r.until)?;
            Some((first, interval.bucket(first, offset)))
        };
        for (first, rate) in returns.users.values() {
            if let Some((_, cb)) = cohort(*first) {
                reweighted |= *rate < 1.0;
                let cell = cells.get_mut(&cb).expect("cohort inside the range");
                cell.0.push(1.0 / rate);
            }
        }
        for ((user, b), latest) in returns.latest {
            let Some((first, rate)) = returns.users.get(&user) else {
                continue;
            };
            let Some((first, cb)) = cohort(*first) else {
                continue;
            };
            // A return counts at or after the first start, in one of the
            // `periods` periods from the cohort's.
            let n = b - cb;
            if n < 0 || n >= periods || (n == 0 && latest < first) {
                continue;
            }
            let cell = cells.get_mut(&cb).expect("cohort inside the range");
            cell.1[n as usize].push(1.0 / rate);
        }
        let rows: BTreeMap<i64, (f64, Vec<f64>)> = cells
            .into_iter()
            .map(|(b, (size, counts))| {
                let counts = counts.into_iter().map(|c| c.into_iter().total()).collect();
                (b, (size.into_iter().total(), counts))
            })
            .collect();
        let rows = rows
            .into_iter()
            .map(|(b, (size, counts))| {
                let counts: Vec<Option<f64>> = counts
                    .into_iter()
                    .enumerate()
                    .map(|(n, c)| {
                        (interval.start(b + n as i64, r.offset_ms) < r.until).then_some(c)
                    })
                    .collect();
                RetentionRow {
                    start: interval.start(b, r.offset_ms),
                    label: interval.label(b, r.offset_ms),
                    users: size,
                    percentages: counts
                        .iter()
                        .map(|c| c.map(|c| if size > 0.0 { 100.0 * c / size } else { 0.0 }))
                        .collect(),
                    counts,
                }
            })
            .collect();
        Ok(Retention {
            cohort: interval,
            periods: periods as usize,
            rows,
            reweighted,
        })
    }

    /// New users per period (by their first event ever, among the events
    /// the filters keep), optionally split by a dimension's value on that
    /// first event.
    pub fn cohorts(&self, q: &Query, o: &CohortsOptions) -> Result<Cohorts> {
        let interval = o.period.unwrap_or(Interval::Week);
        let r = self.resolve(q)?;
        let (first_b, last_b) = (
            interval.bucket(r.since, r.offset_ms),
            interval.bucket(r.until - 1, r.offset_ms),
        );
        if last_b - first_b >= 10_000 {
            return Err(Error::invalid(
                "until",
                "the range spans more than 10000 periods: choose a coarser cohort, \
                 or a later since (the default until is now)",
            ));
        }
        let extra =
            o.by.as_deref()
                .map(|d| self.dimension_extra("by", d))
                .transpose()?;
        // In time order, a chunk at a time: each user's first event and
        // highest rate.
        let need = Need {
            from: Some(0),
            extra,
            ..Need::default()
        };
        type Firsts = (FastMap<u32, (i64, u32)>, FastMap<u32, f64>);
        let ((firsts, rates), strings) =
            self.fold(&r, &need, Firsts::default, |(firsts, rates), rows, _| {
                for row in rows.iter().filter(|r| r.user != 0) {
                    firsts.entry(row.user).or_insert((row.ts, row.extra));
                    most(rates, row.user, row.rate);
                }
            })?;
        let weights = max_rate_weights(rates.into_iter());
        let mut rows: BTreeMap<i64, (f64, FastMap<u32, f64>)> = (first_b..=last_b)
            .map(|b| (b, (0.0, FastMap::default())))
            .collect();
        let mut reweighted = false;
        // By weight, smallest first, for sums that do not depend on the
        // users' numbers (as in `retention`).
        let mut firsts: Vec<_> = firsts.into_iter().collect();
        if weights.values().any(|w| w.fract() != 0.0) {
            firsts.sort_by(|a, b| weights[&a.0].total_cmp(&weights[&b.0]));
        }
        for (user, (ts, value)) in firsts {
            if ts < r.since {
                continue;
            }
            let w = weights[&user];
            reweighted |= w > 1.0;
            let row = rows
                .get_mut(&interval.bucket(ts, r.offset_ms))
                .expect("inside the range");
            row.0 += w;
            *row.1.entry(value).or_default() += w;
        }
        let rows = rows
            .into_iter()
            .map(|(b, (users, values))| CohortRow {
                start: interval.start(b, r.offset_ms),
                label: interval.label(b, r.offset_ms),
                users,
                by_value: o.by.as_ref().map(|_| {
                    let mut v: Vec<ValueCount> = values
                        .into_iter()
                        .map(|(v, users)| ValueCount {
                            value: json_value(strings.str(v)),
                            users,
                        })
                        .collect();
                    v.sort_by(|a, b| {
                        b.users
                            .total_cmp(&a.users)
                            .then_with(|| a.value.to_string().cmp(&b.value.to_string()))
                    });
                    v
                }),
            })
            .collect();
        Ok(Cohorts {
            period: interval,
            rows,
            reweighted,
        })
    }
}
