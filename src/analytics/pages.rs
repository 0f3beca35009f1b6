//! Page and session metrics: top pages with time on page, and session
//! durations.

use serde::{Deserialize, Serialize};

use super::query::{bounded, Query};
use super::scan::{ByNumber, DistinctRates, DistinctWeights, Need, Row};
use super::units::UnitRows;
use super::Analytics;
use crate::error::Result;
use crate::kernel::stats::{median_p90_max, Total};
use crate::kernel::tally::Tally;

/// Time on page is capped at this: a longer gap means the visitor left.
pub const TIME_ON_PAGE_CAP_MS: i64 = 30 * 60_000;

/// Histogram edges of session durations, in ms; the last bucket is open.
const DURATION_EDGES_MS: &[i64] = &[
    0, 10_000, 30_000, 60_000, 180_000, 600_000, 1_800_000, 3_600_000,
];

/// Options of [`Analytics::top_pages`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TopPagesOptions {
    /// At most this many pages, 1 to 1000 (default 10).
    pub limit: Option<i64>,
}

/// One page's traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageStats {
    /// The page's path (its URL when the view had no path).
    pub path: String,
    /// Page views.
    pub views: f64,
    /// Distinct users who viewed it.
    pub unique_viewers: f64,
    /// Mean time on page in ms over the views followed by another event of
    /// the same session; `null` when none was.
    pub avg_time_on_page_ms: Option<f64>,
    /// How many views that mean is over.
    pub timed_views: u64,
}

/// The most viewed pages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopPages {
    /// Most views first.
    pub pages: Vec<PageStats>,
    /// True when some counted event was sampled.
    pub reweighted: bool,
}

/// One histogram bucket of session durations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DurationBucket {
    /// Lower bound, inclusive, in ms.
    pub min_ms: i64,
    /// Upper bound, exclusive, in ms; `null` for the last bucket.
    pub max_ms: Option<i64>,
    /// Sessions in it.
    pub sessions: f64,
}

/// How long sessions last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDurations {
    /// Sessions with at least one event in the range.
    pub count: f64,
    /// Mean duration in ms (weighted); `null` without sessions.
    pub mean_ms: Option<f64>,
    /// Median duration in ms; `null` without sessions.
    pub median_ms: Option<f64>,
    /// 90th percentile (nearest rank) in ms; `null` without sessions.
    pub p90_ms: Option<f64>,
    /// Longest, in ms; `null` without sessions.
    pub max_ms: Option<f64>,
    /// Counts per duration bucket.
    pub histogram: Vec<DurationBucket>,
    /// True when some counted event was sampled.
    pub reweighted: bool,
}

/// Pages by views, then path.
pub(crate) fn sort_pages(pages: &mut [(PageStats, f64)]) {
    pages.sort_by(|a, b| {
        b.0.views
            .total_cmp(&a.0.views)
            .then_with(|| a.0.path.cmp(&b.0.path))
    });
}

/// One page's counts in [`Analytics::all_pages`].
#[derive(Default)]
struct Acc {
    /// Views by weight: the same total whatever order they come in.
    views: Tally,
    viewers: DistinctRates,
    time: f64,
    timed: u64,
}

/// What [`Analytics::all_pages`] counts: views and viewers in any order,
/// time on page from each session's rows in time order (as they come, or
/// kept and put in order when the window is done).
struct PageCounts {
    pages: ByNumber<Acc>,
    /// Shared by the pages' viewers: memory per distinct viewer of a page,
    /// not per view.
    distinct: DistinctWeights,
    /// Each session's page view not yet timed (page 0: none), in an array
    /// indexed by the sessions' numbers (dense), while rows come in time
    /// order.
    open: Vec<(u32, i64)>,
    /// Rows in sessions (their page, 0 for other events) when rows come in
    /// id order: timed when the window is done.
    later: Option<UnitRows>,
}

impl PageCounts {
    /// Counts `rows`, the next ones: in time order, or (with `later`) in
    /// id order.
    #[inline(never)]
    fn count(&mut self, rows: &[Row]) {
        for row in rows {
            let k = row.session as usize;
            match &mut self.later {
                Some(later) => {
                    if k != 0 {
                        later.push(row.ts, row.session, row.page);
                    }
                }
                None => {
                    if k >= self.open.len() {
                        self.open.resize(k + 1, (0, 0));
                    }
                    if k != 0 {
                        let (page, since) = std::mem::take(&mut self.open[k]);
                        if page != 0 {
                            let acc = self.pages.entry(page);
                            acc.time += (row.ts - since).min(TIME_ON_PAGE_CAP_MS) as f64;
                            acc.timed += 1;
                        }
                        if row.is_page() {
                            self.open[k] = (row.page, row.ts);
                        }
                    }
                }
            }
            if row.is_page() {
                let acc = self.pages.entry(row.page);
                acc.views.add(row.weight());
                acc.viewers.add(row.user, row.rate, &mut self.distinct);
            }
        }
    }

    /// Times the page views kept for later: each view by the next row of
    /// its session. Times are whole milliseconds, so their float sums are
    /// exact in any order (below 2^53 ms).
    fn time_kept(&mut self) {
        let Some(later) = self.later.take() else {
            return;
        };
        let pages = &mut self.pages;
        later.each_unit(|_, rows| {
            let mut open: Option<(u32, i64)> = None;
            for row in rows {
                if let Some((page, since)) = open.take() {
                    let acc = pages.entry(page);
                    acc.time += (row.ts - since).min(TIME_ON_PAGE_CAP_MS) as f64;
                    acc.timed += 1;
                }
                if row.item != 0 {
                    open = Some((row.item, row.ts));
                }
            }
        });
    }
}

impl Analytics<'_> {
    /// Page views, unique viewers and mean time on page, per page.
    ///
    /// A page view is an event of type `page` with a path (or URL). Its
    /// time on page is the gap to the next event of the same session in
    /// the range, capped at 30 minutes; views without one are not timed.
    pub fn top_pages(&self, q: &Query, o: &TopPagesOptions) -> Result<TopPages> {
        let limit = bounded(o.limit, 10, 1, 1000, "limit")?;
        let (mut pages, reweighted) = self.all_pages(q)?;
        pages.truncate(limit as usize);
        Ok(TopPages {
            pages: pages.into_iter().map(|(p, _)| p).collect(),
            reweighted,
        })
    }

    /// Every page, sorted as `top_pages` sorts them, each with its total
    /// time on page (what the mean divides), for a merge.
    pub(crate) fn all_pages(&self, q: &Query) -> Result<(Vec<(PageStats, f64)>, bool)> {
        let r = self.resolve(q)?;
        let need = Need {
            session: true,
            page: true,
            no_names: true,
            ..Need::default()
        };
        // Time on page needs each session's rows in time order: as the
        // projection gives them, timed as they come; else, up to a size,
        // read once in id order and timed per session when the window is
        // done ([`Analytics::reads_by_id`]); past it, in time slices, with
        // memory per page and viewer, and per session for its open view.
        let by_id = self.reads_by_id()?;
        let need = Need {
            any_order: by_id,
            ..need
        };
        let init = || {
            let c = PageCounts {
                pages: ByNumber::default(),
                distinct: DistinctWeights::new(0),
                open: Vec::new(),
                later: by_id.then(UnitRows::new),
            };
            (c, false)
        };
        let ((mut c, reweighted), strings) =
            self.fold(&r, &need, init, |(c, reweighted), rows, _| {
                // A few thousand rows a call: in a fresh wasm instance V8
                // optimises a function after its first calls but never
                // swaps the loop of a call already running, so one loop
                // over millions of rows would run unoptimised throughout.
                for rows in rows.chunks(4096) {
                    c.count(rows);
                }
                *reweighted |= rows.iter().any(|r| r.rate < 1.0);
            })?;
        c.time_kept();
        let PageCounts {
            pages,
            mut distinct,
            ..
        } = c;
        let mut out: Vec<(PageStats, f64)> = pages
            .into_entries()
            .map(|(page, acc)| {
                let stats = PageStats {
                    path: strings.str(page).to_owned(),
                    views: acc.views.value(),
                    unique_viewers: acc.viewers.total(&mut distinct),
                    avg_time_on_page_ms: (acc.timed > 0).then(|| acc.time / acc.timed as f64),
                    timed_views: acc.timed,
                };
                (stats, acc.time)
            })
            .collect();
        sort_pages(&mut out);
        Ok((out, reweighted))
    }

    /// Session durations: a session's duration is the time between its
    /// first and last event in the range (0 for a single event).
    pub fn session_durations(&self, q: &Query) -> Result<SessionDurations> {
        Ok(self.session_durations_values(q)?.0)
    }

    /// [`Analytics::session_durations`], every duration (what the median
    /// and p90 are taken of) and the weighted total (what the mean
    /// divides), for a merge.
    pub(crate) fn session_durations_values(
        &self,
        q: &Query,
    ) -> Result<(SessionDurations, Vec<f64>, f64)> {
        let r = self.resolve(q)?;
        // Each session's first and last time are its least and greatest:
        // the rows' order does not matter, and the window is folded a
        // chunk at a time. First time, last time and highest rate per
        // session, side by side (one cache line a row touches, where
        // sessions come in any order) in an array indexed by the sessions'
        // numbers (dense) rather than a map; a rate of 0 for none yet.
        // Past the projection's cap, a block wholly inside the window gives
        // each session's first and last time and highest rate from its
        // spans (two rows a session) instead of its rows.
        let need = Need {
            session: true,
            any_order: true,
            no_users: true,
            no_names: true,
            spans: true,
            ..Need::default()
        };
        let init = || (Vec::<(i64, i64, f64)>::new(), false);
        let ((spans, reweighted), _) = self.fold(&r, &need, init, |(spans, rw), rows, _| {
            for row in rows {
                *rw |= row.rate < 1.0;
                if row.session == 0 {
                    continue;
                }
                let k = row.session as usize;
                if k >= spans.len() {
                    spans.resize(k + 1, (0, 0, 0.0));
                }
                let s = &mut spans[k];
                if s.2 == 0.0 {
                    (s.0, s.1) = (row.ts, row.ts);
                } else {
                    s.0 = s.0.min(row.ts);
                    s.1 = s.1.max(row.ts);
                }
                s.2 = s.2.max(row.rate);
            }
        })?;
        let mut histogram: Vec<(DurationBucket, Tally)> = DURATION_EDGES_MS
            .iter()
            .enumerate()
            .map(|(i, min)| {
                let bucket = DurationBucket {
                    min_ms: *min,
                    max_ms: DURATION_EDGES_MS.get(i + 1).copied(),
                    sessions: 0.0,
                };
                (bucket, Tally::default())
            })
            .collect();
        // Counts as tallies and the time as an order-free total: the same
        // answer whatever order the sessions come in.
        let mut count = Tally::default();
        let mut times = Vec::new();
        let mut durations = Vec::new();
        for &(first, last, rate) in spans.iter().filter(|s| s.2 > 0.0) {
            let d = last - first;
            let w = 1.0 / rate;
            count.add(w);
            times.push(w * d as f64);
            durations.push(d as f64);
            let i = DURATION_EDGES_MS.iter().rposition(|e| d >= *e).unwrap_or(0);
            histogram[i].1.add(w);
        }
        let total = times.into_iter().total();
        let count = count.value();
        let histogram: Vec<DurationBucket> = histogram
            .into_iter()
            .map(|(mut b, t)| {
                b.sessions = t.value();
                b
            })
            .collect();
        let (median_ms, p90_ms, max_ms) = median_p90_max(&mut durations);
        let out = SessionDurations {
            count,
            mean_ms: (count > 0.0).then(|| total / count),
            median_ms,
            p90_ms,
            max_ms,
            histogram,
            reweighted,
        };
        Ok((out, durations, total))
    }
}
