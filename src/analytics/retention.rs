//! Retention and cohorts: who comes back, grouped by when they first came.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::query::{bounded, Interval, Query};
use super::scan::{max_rate_weights, FastMap, FastSet, Need};
use super::{json_value, Analytics};
use crate::error::{Error, Result};

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

/// Per user: first start time, times of return events, highest rate.
type Activity = FastMap<u32, (Option<i64>, Vec<i64>, f64)>;

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
                "the range spans more than 10000 periods",
            ));
        }
        let mut users: Activity = FastMap::default();
        let plain = o.start_event.is_none() && o.return_event.is_none();
        if plain {
            // Any event starts and returns: the rollup may answer.
            for (ts, user, rate) in self.activity(&r, 0)? {
                let u = users.entry(user).or_insert((Some(ts), Vec::new(), rate));
                u.0 = u.0.map(|f| f.min(ts));
                u.1.push(ts);
                u.2 = u.2.max(rate);
            }
        } else {
            let names = match (&o.start_event, &o.return_event) {
                (Some(s), Some(t)) => Some(vec![s.clone(), t.clone()]),
                _ => None,
            };
            let ev = self.scan(
                &r,
                &Need {
                    from: Some(0),
                    names,
                    ..Need::default()
                },
            )?;
            let start = o
                .start_event
                .as_deref()
                .map(|s| ev.strings.get(s).unwrap_or(u32::MAX));
            let ret = o
                .return_event
                .as_deref()
                .map(|s| ev.strings.get(s).unwrap_or(u32::MAX));
            for row in ev.rows.iter().filter(|r| r.user != 0) {
                let u = users
                    .entry(row.user)
                    .or_insert((None, Vec::new(), row.rate));
                if u.0.is_none() && start.is_none_or(|s| s == row.name) {
                    u.0 = Some(row.ts);
                }
                if ret.is_none_or(|t| t == row.name) {
                    u.1.push(row.ts);
                }
                u.2 = u.2.max(row.rate);
            }
        }
        let mut rows: BTreeMap<i64, (f64, Vec<f64>)> = (first_b..=last_b)
            .map(|b| (b, (0.0, vec![0.0; periods as usize])))
            .collect();
        let mut reweighted = false;
        // Users by weight, smallest first: each cohort's sums then add their
        // weights in that order whatever numbers the users got, as
        // `Total::total` adds (whole weights add exactly in any order).
        let mut users: Vec<_> = users.into_values().collect();
        if users.iter().any(|u| (1.0 / u.2).fract() != 0.0) {
            users.sort_by(|a, b| (1.0 / a.2).total_cmp(&(1.0 / b.2)));
        }
        for (first, returns, rate) in users {
            let Some(first) = first.filter(|f| *f >= r.since && *f < r.until) else {
                continue;
            };
            reweighted |= rate < 1.0;
            let w = 1.0 / rate;
            let cb = interval.bucket(first, r.offset_ms);
            let row = rows.get_mut(&cb).expect("cohort inside the range");
            row.0 += w;
            let seen: FastSet<i64> = returns
                .into_iter()
                .filter(|t| *t >= first && *t < r.until)
                .map(|t| interval.bucket(t, r.offset_ms) - cb)
                .filter(|n| *n < periods)
                .collect();
            for n in seen {
                row.1[n as usize] += w;
            }
        }
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
                "the range spans more than 10000 periods",
            ));
        }
        let extra =
            o.by.as_deref()
                .map(|d| self.dimension_extra("by", d))
                .transpose()?;
        let ev = self.scan(
            &r,
            &Need {
                from: Some(0),
                extra,
                ..Need::default()
            },
        )?;
        let weights = max_rate_weights(ev.rows.iter().map(|r| (r.user, r.rate)));
        let mut firsts: FastMap<u32, (i64, u32)> = FastMap::default();
        for row in ev.rows.iter().filter(|r| r.user != 0) {
            firsts.entry(row.user).or_insert((row.ts, row.extra));
        }
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
                            value: json_value(ev.strings.str(v)),
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
