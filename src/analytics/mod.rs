//! Analytics computed on the device: summaries, active users, pages,
//! sessions, journeys, funnels, retention and cohorts. Read-only: it owns no
//! table and writes nothing (tracking keeps the rollup it reads, and
//! experiments live in [`crate::experiments`]).
//!
//! Everything runs as SQL and Rust inside the engine over the stored events,
//! so nothing leaves the device. Every query takes a [`Query`]: a half-open
//! time range, optional filters, and a fixed time zone offset for calendar
//! buckets. Counts from sampled events are re-weighted by `1 / sampleRate`
//! and each result says whether it was (`reweighted`). The definitions of
//! every metric are in `docs/ANALYTICS.md`.
//!
//! ```
//! use std::sync::Arc;
//! use usertrail::analytics::{Interval, Query};
//! use usertrail::clock::ManualClock;
//! use usertrail::tracking::{EventInput, EventType};
//! use usertrail::{OpenOptions, Storage, UserTrail};
//!
//! let t0 = 1_700_000_000_000;
//! let trail = UserTrail::open(
//!     OpenOptions::new(Storage::Memory).clock(Arc::new(ManualClock::new(t0))),
//! ).unwrap();
//! for user in ["ann", "bob"] {
//!     let view = EventInput {
//!         event_type: Some(EventType::Page),
//!         name: "page_view".into(),
//!         path: Some("/".into()),
//!         user_id: Some(user.into()),
//!         ts: Some(t0 - 1000),
//!         ..EventInput::default()
//!     };
//!     trail.tracking().track(view).unwrap();
//! }
//! let summary = trail.analytics().summary(&Query::default()).unwrap();
//! assert_eq!(summary.users, 2.0);
//! let active = trail.analytics().active_users(&Query::default(), Interval::Day).unwrap();
//! assert_eq!(active.buckets.last().unwrap().users, 2.0);
//! ```

mod days;
mod funnel;
mod hours;
mod journey_wire;
mod journeys;
mod pages;
pub mod partial;
pub mod projection;
mod query;
mod retention;
pub mod rollup;
mod scan;
mod segments;
mod seqmap;
mod slices;
mod traffic;
mod units;

use std::cell::RefCell;
use std::sync::Arc;

use rusqlite::Connection;

pub use days::write_missing as write_day_rows;
pub use funnel::{Funnel, FunnelOptions, FunnelOrder, FunnelSegment, FunnelStep};
pub use journey_wire::JourneyEntry;
pub use journeys::{
    Journey, JourneyTally, PathItems, PathUnit, Paths, PathsAsked, PathsOptions, Pattern, Patterns,
    PatternsAsked, PatternsOptions, SequenceTally, Transition,
};
pub use pages::{
    DurationBucket, PageStats, SessionDurations, TopPages, TopPagesOptions, TIME_ON_PAGE_CAP_MS,
};
pub use query::{civil, days_from_civil, DAY_MS, HOUR_MS};
pub use query::{split, DimensionFilter, Interval, Names, NoOptions, Query, Scalar, Segment};
pub use retention::{
    CohortRow, Cohorts, CohortsOptions, Retention, RetentionOptions, RetentionRow, ValueCount,
};
pub use traffic::{
    ActiveUsers, ActiveUsersOptions, Breakdown, BreakdownOptions, BreakdownRow, Bucket,
    FeatureStats, FeatureUsage, FeatureUsageOptions, GroupTally, MinuteCount, Realtime,
    RealtimeOptions, Stickiness, Summary, SummaryTallies,
};

use crate::error::Result;
use crate::kernel::clock::Clock;
use crate::tracking::Registry;

/// The analytics queries of one engine. Read-only.
pub struct Analytics<'a> {
    conn: &'a Connection,
    clock: &'a dyn Clock,
    registry: &'a RefCell<Option<Arc<Registry>>>,
    projection: Option<&'a projection::Projection>,
    /// Where windows read from the packed blocks keep their numbering
    /// between queries ([`projection::Numbering`]): the projection's.
    numbering: Option<&'a projection::Projection>,
    /// Read unfiltered windows from the packed blocks even without a
    /// projection (see [`Analytics::from_blocks`]).
    blocks: bool,
    /// Rows a window read for a metric that folds them hands on at a time
    /// (see [`Analytics::chunk_rows`]).
    chunk: usize,
    /// About how many rows a time slice holds (see
    /// [`Analytics::chunk_rows`]).
    slice: usize,
    /// Read whole days of the rollups from their day rows (see
    /// [`Analytics::from_hour_rollups`]).
    day_rollups: bool,
}

impl<'a> Analytics<'a> {
    /// Analytics over `conn`, with `clock` for defaults and `registry` for
    /// dimension names.
    pub fn new(
        conn: &'a Connection,
        clock: &'a dyn Clock,
        registry: &'a RefCell<Option<Arc<Registry>>>,
    ) -> Self {
        Self {
            conn,
            clock,
            registry,
            projection: None,
            numbering: None,
            blocks: false,
            chunk: scan::CHUNK_ROWS,
            slice: slices::SLICE_ROWS,
            day_rollups: true,
        }
    }

    /// Reads the rollups' hour rows for a summary of whole hours, not the
    /// day rows ([`days`]), and writes no day row; and reads every event
    /// of a summary whose bounds are inside hours (where [`days`] reads
    /// the rollups for the whole hours): the same answers; for checking one
    /// against the other.
    pub fn from_hour_rollups(mut self) -> Self {
        self.day_rollups = false;
        self
    }

    /// Folds every window read from SQLite or the packed blocks `rows`
    /// rows at a time (at least 1) instead of 65,536, and reads the
    /// windows of the metrics that walk rows in time order from the blocks
    /// in time slices of about 64 times as many rows instead of
    /// [`slices::SLICE_ROWS`]: the same answers; for checking that chunks
    /// and slices add up to the whole.
    pub fn chunk_rows(mut self, rows: usize) -> Self {
        self.chunk = rows.max(1);
        self.slice = self.chunk.saturating_mul(64);
        self
    }

    /// Reads the windows of queries unfiltered or filtered by name or type
    /// alone from the packed blocks of the events, as an engine whose
    /// projection is not kept (too many events) does.
    pub fn from_blocks(mut self) -> Self {
        self.blocks = true;
        self
    }

    /// Reads the events of queries unfiltered or filtered by name or type
    /// alone from `projection` (kept by the engine, watching its
    /// connection) instead of SQLite.
    pub fn with_projection(mut self, projection: &'a projection::Projection) -> Self {
        self.projection = Some(projection);
        self.numbering = Some(projection);
        self
    }

    /// Keeps the numbering of windows read from the packed blocks in
    /// `projection` between queries, as an engine with a projection does,
    /// without reading its events from it (with [`Analytics::from_blocks`],
    /// for checking the numbering kept against numbering afresh).
    pub fn with_numbering(mut self, projection: &'a projection::Projection) -> Self {
        self.numbering = Some(projection);
        self
    }

    /// The events `r` selects given to `take` a chunk at a time, with the
    /// strings they refer to. In any order for a metric whose answer does
    /// not depend on it ([`scan::Need::any_order`]): a window read from
    /// SQLite or the packed blocks is never held whole. Else in time order:
    /// the blocks' window, or a wide window read from SQLite (a filtered
    /// query), read in time slices, each held and sorted in turn (see
    /// [`scan::scan`]). `take` adds to a state that
    /// `init` makes; if the packed blocks fail part way, the state starts
    /// again from `init` for a read of SQLite.
    fn fold<S>(
        &self,
        r: &query::Resolved,
        need: &scan::Need,
        init: impl Fn() -> S,
        mut take: impl FnMut(&mut S, &[scan::Row], &scan::Interner),
    ) -> Result<(S, scan::Interner)> {
        let mut from_blocks = true;
        loop {
            let mut state = init();
            let mut step =
                |rows: &[scan::Row], strings: &scan::Interner| take(&mut state, rows, strings);
            let sink = scan::Sink {
                rows: self.chunk,
                slice: self.slice,
                take: &mut step,
            };
            let ev = if from_blocks {
                self.window(r, need, Some(sink))?
            } else {
                Some(scan::scan(self.conn, r, need, Some(sink))?)
            };
            if let Some(ev) = ev {
                step(&ev.rows, &ev.strings);
                return Ok((state, ev.strings));
            }
            // Neither the projection nor the blocks answer (or a block
            // failed part way): read SQLite, afresh, dropping what the
            // blocks gave.
            from_blocks = false;
        }
    }

    /// The events `r` selects from the projection or the packed blocks,
    /// when they answer it: a query with no filter but the bots one, names,
    /// a type, a dimension and a segment, that needs no extra column but a
    /// dimension; `sink` as
    /// [`projection::window_from_blocks`] takes it.
    fn window(
        &self,
        r: &query::Resolved,
        need: &scan::Need,
        sink: Option<scan::Sink<'_>>,
    ) -> Result<Option<scan::Events>> {
        let fast = self.projection.is_some() || self.blocks;
        // A dimension's value is read from the blocks' dimensions; no other
        // extra column is kept.
        let dimension = need.dimension();
        let extra_kept = need.extra.is_none() || dimension.is_some();
        if fast && extra_kept && r.only_packed_filters() {
            let window = (need.from.unwrap_or(r.since), r.until);
            let asked = (need.session, need.page);
            // The query's names and the metric's (a pushdown), both kept.
            let names: Option<Vec<String>> = match (&need.names, &r.names) {
                (Some(a), Some(b)) => Some(a.iter().filter(|n| b.contains(n)).cloned().collect()),
                (a, b) => a.clone().or_else(|| b.clone()),
            };
            // A segment's users, from every block (SQLite answers where
            // they cannot), kept for the next query in it while no event
            // changes, the events that come read into them.
            let users = match &r.segment {
                Some(seg) => {
                    let key = format!("{seg:?}");
                    let held = match self.projection {
                        Some(p) => p.segment_users(self.conn, &key)?,
                        None => None,
                    };
                    match held {
                        Some(u) => Some(u),
                        None => match segments::users(self.conn, seg)? {
                            Some(found) => Some(match self.projection {
                                Some(p) => p.keep_segment_users(key, seg, found),
                                None => std::sync::Arc::new(found.users),
                            }),
                            None => return Ok(None),
                        },
                    }
                }
                None => None,
            };
            let keep = projection::Keep {
                bots_left_out: r.bots_left_out,
                names: names.as_deref(),
                kind: r.event_type.map(|t| t.code()),
                typed: need.kinds,
                extra: dimension,
                test: r
                    .dimension
                    .as_ref()
                    .map(|(path, value)| (path.as_str(), value)),
                users: users.as_deref(),
            };
            if let Some(p) = self.projection {
                if let Some(ev) = p.events(self.conn, window, keep, asked)? {
                    return Ok(Some(ev));
                }
            }
            // Too many events to keep: the window's, from the packed blocks.
            if let Some(ev) = projection::window_from_blocks(
                self.conn,
                self.numbering,
                window,
                keep,
                projection::Columns {
                    session: need.session,
                    page: need.page,
                    user: !need.no_users,
                    name: !need.no_names,
                    spans: need.spans,
                    by_names: need.by_names,
                },
                !need.any_order,
                sink,
            )? {
                return Ok(Some(ev));
            }
        }
        Ok(None)
    }

    /// Whether a metric that needs each unit's (session's, user's) rows in
    /// time order, not the window's, should read the window once in id
    /// order and put each unit's rows in order itself ([`units::UnitRows`]:
    /// 16 to 24 bytes a row kept) rather than in time slices (each slice's
    /// packed blocks decoded again and its rows sorted; memory for one
    /// slice). Not where the projection gives the window in time order
    /// anyway (an engine of at most [`projection::MAX_ROWS`] events), and
    /// not past four slices' events (16.7M), so that memory stays bounded.
    fn reads_by_id(&self) -> Result<bool> {
        let events = u64::try_from(crate::tracking::blocks::newest_id(self.conn)?).unwrap_or(0);
        Ok(
            (self.projection.is_none() || events > projection::MAX_ROWS as u64)
                && events <= (self.slice as u64).saturating_mul(4),
        )
    }

    /// The declared dimensions, loaded on first use.
    fn registry(&self) -> Result<Arc<Registry>> {
        Registry::cached(self.conn, self.registry)
    }

    /// `q` checked against the clock and the registry.
    fn resolve(&self, q: &Query) -> Result<query::Resolved> {
        q.resolve(self.clock.now_ms(), &*self.registry()?)
    }

    /// The SQL and parameter that put a dimension's value (as JSON text)
    /// in [`scan::Row::extra`].
    fn dimension_extra(
        &self,
        field: &str,
        name: &str,
    ) -> Result<(String, Option<rusqlite::types::Value>)> {
        let registry = self.registry()?;
        let path = query::dimension_path(&registry, field, name)?;
        let sql = match registry.dimension_type(name) {
            Some(crate::tracking::SimpleType::Bool) => scan::BOOL_DIMENSION_SQL,
            _ => scan::DIMENSION_SQL,
        };
        Ok((sql.into(), Some(rusqlite::types::Value::Text(path))))
    }
}

/// A dimension value read back from its JSON text (null when absent).
fn json_value(text: &str) -> serde_json::Value {
    if text.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}
