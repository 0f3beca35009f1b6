//! Page and session metrics: top pages with time on page, and session
//! durations.

use serde::{Deserialize, Serialize};

use super::query::{bounded, Query};
use super::scan::{max_rate_weights, FastMap, Need};
use super::Analytics;
use crate::error::Result;
use crate::kernel::stats::{median, percentile, Total};

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
        let ev = self.scan(
            &r,
            &Need {
                session: true,
                page: true,
                ..Need::default()
            },
        )?;
        #[derive(Default)]
        struct Acc {
            views: f64,
            viewers: Vec<(u32, f64)>,
            time: f64,
            timed: u64,
        }
        let mut pages: FastMap<u32, Acc> = FastMap::default();
        let mut open: FastMap<u32, (u32, i64)> = FastMap::default();
        for row in &ev.rows {
            if row.session != 0 {
                if let Some((page, since)) = open.remove(&row.session) {
                    let acc = pages.entry(page).or_default();
                    acc.time += (row.ts - since).min(TIME_ON_PAGE_CAP_MS) as f64;
                    acc.timed += 1;
                }
            }
            if row.is_page() {
                let acc = pages.entry(row.page).or_default();
                acc.views += row.weight();
                acc.viewers.push((row.user, row.rate));
                if row.session != 0 {
                    open.insert(row.session, (row.page, row.ts));
                }
            }
        }
        let mut out: Vec<(PageStats, f64)> = pages
            .into_iter()
            .map(|(page, acc)| {
                let stats = PageStats {
                    path: ev.strings.str(page).to_owned(),
                    views: acc.views,
                    unique_viewers: max_rate_weights(acc.viewers.into_iter()).values().total(),
                    avg_time_on_page_ms: (acc.timed > 0).then(|| acc.time / acc.timed as f64),
                    timed_views: acc.timed,
                };
                (stats, acc.time)
            })
            .collect();
        sort_pages(&mut out);
        Ok((out, ev.reweighted()))
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
        let ev = self.scan(
            &r,
            &Need {
                session: true,
                ..Need::default()
            },
        )?;
        let mut spans: FastMap<u32, (i64, i64, f64)> = FastMap::default();
        for row in ev.rows.iter().filter(|r| r.session != 0) {
            let s = spans
                .entry(row.session)
                .or_insert((row.ts, row.ts, row.rate));
            s.1 = row.ts;
            s.2 = s.2.max(row.rate);
        }
        let mut histogram: Vec<DurationBucket> = DURATION_EDGES_MS
            .iter()
            .enumerate()
            .map(|(i, min)| DurationBucket {
                min_ms: *min,
                max_ms: DURATION_EDGES_MS.get(i + 1).copied(),
                sessions: 0.0,
            })
            .collect();
        let (mut count, mut total) = (0.0, 0.0);
        let mut durations = Vec::with_capacity(spans.len());
        for (first, last, rate) in spans.into_values() {
            let d = last - first;
            let w = 1.0 / rate;
            count += w;
            total += w * d as f64;
            durations.push(d as f64);
            let i = DURATION_EDGES_MS.iter().rposition(|e| d >= *e).unwrap_or(0);
            histogram[i].sessions += w;
        }
        let median_ms = median(&mut durations);
        let out = SessionDurations {
            count,
            mean_ms: (count > 0.0).then(|| total / count),
            median_ms,
            p90_ms: percentile(&durations, 90.0),
            max_ms: durations.last().copied(),
            histogram,
            reweighted: ev.reweighted(),
        };
        Ok((out, durations, total))
    }
}
