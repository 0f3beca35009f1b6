//! Volume metrics: summary, active users, realtime, breakdowns and feature
//! usage.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::days;
use super::projection;
use super::query::{bounded, Interval, Query, Resolved, DAY_MS, HOUR_MS};
use super::rollup::{self, Activity};
use super::scan::{self, most, ByNumber, DistinctRates, DistinctWeights, FastMap, FastSet, Need};
use super::{json_value, Analytics};
use crate::error::{Error, Result};
use crate::kernel::stats::Total;
use crate::kernel::tally::Tally;
use crate::tracking::EventType;

/// Totals over the range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Events, re-weighted.
    pub events: f64,
    /// Distinct users (user id, or anonymous id when there is none).
    pub users: f64,
    /// Distinct sessions.
    pub sessions: f64,
    /// `events / users`; 0 when there are no users.
    pub events_per_user: f64,
    /// Events that belong to a session, divided by `sessions`; 0 when none.
    pub events_per_session: f64,
    /// True when some counted event was sampled.
    pub reweighted: bool,
}

/// One calendar bucket of active users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    /// When the bucket starts, in ms (local midnight in the query's offset).
    pub start: i64,
    /// Its local start date, `YYYY-MM-DD` (`YYYY-MM` for months).
    pub label: String,
    /// Distinct users active in it.
    pub users: f64,
}

/// DAU/MAU over the last 30 days of the range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stickiness {
    /// Mean daily active users over those days.
    pub dau: f64,
    /// Distinct users over those days.
    pub mau: f64,
    /// `dau / mau`; 0 when there are no users.
    pub ratio: f64,
}

/// Active users per bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveUsers {
    /// The bucket size.
    pub interval: Interval,
    /// Every bucket the range touches, oldest first, empty ones included.
    pub buckets: Vec<Bucket>,
    /// Daily stickiness.
    pub stickiness: Stickiness,
    /// True when some counted event was sampled.
    pub reweighted: bool,
}

/// Options of [`Analytics::active_users`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActiveUsersOptions {
    /// `day` (default), `week` or `month`.
    pub interval: Option<Interval>,
}

/// Activity in the last few minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Realtime {
    /// The window, in seconds.
    pub window_secs: u32,
    /// Distinct users in the window.
    pub active_users: f64,
    /// Events in the window.
    pub events: f64,
    /// Events per minute, oldest first: `{ start, events }`, the last minute
    /// ending at the clock's now.
    pub per_minute: Vec<MinuteCount>,
    /// True when some counted event was sampled.
    pub reweighted: bool,
}

/// Events in one minute of the realtime window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MinuteCount {
    /// Start of the minute, in ms.
    pub start: i64,
    /// Events in it.
    pub events: f64,
}

/// Options of [`Analytics::realtime`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RealtimeOptions {
    /// The window, 1 to 86400 seconds (default 300).
    pub window_secs: Option<i64>,
}

/// One group of a breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakdownRow {
    /// The type, name or dimension value (`null` for events without it).
    pub value: Value,
    /// Events.
    pub events: f64,
    /// Distinct users.
    pub users: f64,
}

/// Events grouped by type, name or dimension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Breakdown {
    /// What the events are grouped by.
    pub by: String,
    /// The groups, most events first.
    pub rows: Vec<BreakdownRow>,
    /// True when some counted event was sampled.
    pub reweighted: bool,
}

/// Options of [`Analytics::event_breakdown`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakdownOptions {
    /// `type`, `name`, or a defined dimension (default `name`).
    pub by: Option<String>,
    /// At most this many groups, 1 to 1000 (default 50).
    pub limit: Option<i64>,
}

/// Options of [`Analytics::feature_usage`]: exactly one of the two.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeatureUsageOptions {
    /// The event names that are features.
    pub features: Option<Vec<String>>,
    /// Or: every event name starting with this prefix is a feature.
    pub prefix: Option<String>,
}

/// One feature's use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeatureStats {
    /// The event name.
    pub feature: String,
    /// Distinct users who used it.
    pub users: f64,
    /// Times it was used.
    pub uses: f64,
    /// `users` as a percentage of all active users in the range.
    pub adoption: f64,
    /// `uses / users`; 0 when unused.
    pub uses_per_user: f64,
}

/// Feature adoption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeatureUsage {
    /// Distinct users active in the range, the base of `adoption`.
    pub active_users: f64,
    /// The features, most users first; listed features appear even unused.
    pub features: Vec<FeatureStats>,
    /// True when some counted event was sampled.
    pub reweighted: bool,
}

/// The weights (1 / rate) of `items` (user, rate), counted in a [`Tally`]:
/// the same whatever their order.
#[cfg(test)]
fn weights(items: &[(u32, f64)]) -> Tally {
    items.iter().map(|i| 1.0 / i.1).collect()
}

/// What feature usage gathers from a window, chunk by chunk.
struct FeatureFold {
    /// Every user of the window.
    active: DistinctWeights,
    /// Each feature's events and users, by name.
    per: FastMap<u32, (Tally, DistinctRates)>,
    /// By name: 0 not yet seen, 1 a feature, 2 not one.
    kind: Vec<u8>,
    /// Shared by the features' [`DistinctRates`].
    scratch: DistinctWeights,
    /// Whether some row was kept at a rate below 1.
    reweighted: bool,
}

/// What a summary counts, as tallies of weights, so that summaries of
/// partitions merge to one engine's to the last bit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SummaryTallies {
    /// Every event.
    pub events: Tally,
    /// The events that belong to a session.
    pub in_sessions: Tally,
    /// Each distinct user, weighted by 1 / their highest rate.
    pub users: Tally,
    /// Each distinct session, weighted by 1 / its highest rate.
    pub sessions: Tally,
}

impl SummaryTallies {
    /// The summary these tallies give.
    pub fn summary(&self, reweighted: bool) -> Summary {
        let (events, users, sessions) = (
            self.events.value(),
            self.users.value(),
            self.sessions.value(),
        );
        Summary {
            events,
            users,
            sessions,
            events_per_user: if users > 0.0 { events / users } else { 0.0 },
            events_per_session: if sessions > 0.0 {
                self.in_sessions.value() / sessions
            } else {
                0.0
            },
            reweighted,
        }
    }

    /// Adds another part's counts.
    pub fn merge(&mut self, other: &SummaryTallies) {
        self.events.merge(&other.events);
        self.in_sessions.merge(&other.in_sessions);
        self.users.merge(&other.users);
        self.sessions.merge(&other.sessions);
    }

    /// True when these tallies are ones a summary could give: each valid
    /// (or empty), the events in sessions among the events, and no more
    /// users than events or sessions than events in sessions.
    pub fn is_valid(&self) -> bool {
        [&self.events, &self.in_sessions, &self.users, &self.sessions]
            .iter()
            .all(|t| t.is_valid_or_empty())
            && self.in_sessions.within(&self.events)
            && self.users.count() <= self.events.count()
            && self.sessions.count() <= self.in_sessions.count()
    }
}

/// A group's events and distinct users (or a feature's uses and users), as
/// tallies of weights, for a merge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupTally {
    /// Events (uses).
    pub events: Tally,
    /// Distinct users, each weighted by 1 / their highest rate.
    pub users: Tally,
}

impl GroupTally {
    /// True when both tallies are ones a group could give: each valid (or
    /// empty), and no more users than events.
    pub fn is_valid(&self) -> bool {
        self.events.is_valid_or_empty()
            && self.users.is_valid_or_empty()
            && self.users.count() <= self.events.count()
    }

    /// Adds another part's counts.
    pub fn merge(&mut self, other: &GroupTally) {
        self.events.merge(&other.events);
        self.users.merge(&other.users);
    }
}

impl BreakdownRow {
    /// The group `value` with what `tally` counts.
    pub(crate) fn of(value: Value, tally: &GroupTally) -> Self {
        Self {
            value,
            events: tally.events.value(),
            users: tally.users.value(),
        }
    }
}

/// What [`Analytics::event_breakdown`] groups events by.
enum Group {
    /// Their name.
    Name,
    /// Their type, by its code ([`EventType::code`]).
    Kind,
    /// A SQL expression's value read with each row (a dimension, a type
    /// as text), and the parameter its `?P` stands for.
    Extra((String, Option<rusqlite::types::Value>)),
}

/// Groups as a breakdown lists them: most events first, then by value.
pub(crate) fn sort_groups(rows: &mut [(BreakdownRow, GroupTally)]) {
    rows.sort_by(|(a, _), (b, _)| {
        b.events
            .total_cmp(&a.events)
            .then_with(|| a.value.to_string().cmp(&b.value.to_string()))
    });
}

impl FeatureStats {
    /// `feature`'s figures from its tally, among `active` users.
    pub(crate) fn of(feature: String, tally: &GroupTally, active: f64) -> Self {
        let (uses, users) = (tally.events.value(), tally.users.value());
        Self {
            adoption: if active > 0.0 {
                100.0 * users / active
            } else {
                0.0
            },
            uses_per_user: if users > 0.0 { uses / users } else { 0.0 },
            feature,
            users,
            uses,
        }
    }
}

/// Features as feature usage lists them: most users first, then by name.
pub(crate) fn sort_features(features: &mut [(FeatureStats, GroupTally)]) {
    features.sort_by(|(a, _), (b, _)| {
        b.users
            .total_cmp(&a.users)
            .then_with(|| a.feature.cmp(&b.feature))
    });
}

/// Distinct users per bucket from each user's highest rate in it, each
/// user weighted by 1 / that rate.
fn users_per_bucket(best: FastMap<(i64, u32), f64>) -> FastMap<i64, f64> {
    let mut per: FastMap<i64, Vec<f64>> = FastMap::default();
    for ((b, _), rate) in best {
        per.entry(b).or_default().push(1.0 / rate);
    }
    // Each bucket's weights added in an order of their own (see `Total`),
    // not the map's.
    per.into_iter()
        .map(|(b, w)| (b, w.into_iter().total()))
        .collect()
}

/// The hours `[from, r.until)` spans (both on an hour).
fn hours(r: &Resolved, from: i64) -> (i64, i64) {
    (from.div_euclid(HOUR_MS), r.until.div_euclid(HOUR_MS))
}

/// What [`Analytics::active_users`] keeps as activity comes: the highest
/// rate of each user per bucket, per day of the last 30, and over those
/// days.
struct ActiveTally {
    per: BucketUsers,
    daily: BucketUsers,
    recent: DistinctWeights,
    reweighted: bool,
}

impl ActiveTally {
    /// For items in time order when `in_order`, else in any order.
    fn new(in_order: bool) -> Self {
        Self {
            per: BucketUsers::new(in_order),
            daily: BucketUsers::new(in_order),
            recent: DistinctWeights::new(0),
            reweighted: false,
        }
    }
}

/// Distinct users per bucket, each weighted by 1 / their highest rate in
/// it.
enum BucketUsers {
    /// Items in any order: each user's highest rate per bucket in a map.
    Any(FastMap<(i64, u32), f64>),
    /// Items in time order, so buckets come one after the other: the
    /// users of the bucket under way in an array indexed by user
    /// ([`DistinctWeights`]), totalled when the next bucket starts. No map
    /// of (bucket, user): at 10M events that held a million keys.
    InOrder {
        current: Option<i64>,
        users: DistinctWeights,
        totals: FastMap<i64, f64>,
    },
}

impl BucketUsers {
    fn new(in_order: bool) -> Self {
        if in_order {
            BucketUsers::InOrder {
                current: None,
                users: DistinctWeights::new(0),
                totals: FastMap::default(),
            }
        } else {
            BucketUsers::Any(FastMap::default())
        }
    }

    fn add(&mut self, bucket: i64, user: u32, rate: f64) {
        match self {
            BucketUsers::Any(best) => most(best, (bucket, user), rate),
            BucketUsers::InOrder {
                current,
                users,
                totals,
            } => {
                if *current != Some(bucket) {
                    debug_assert!(current.is_none_or(|c| c < bucket), "items out of order");
                    if let Some(c) = current.replace(bucket) {
                        totals.insert(c, users.total(std::iter::empty()));
                    }
                }
                users.add(user, rate);
            }
        }
    }

    /// Each bucket's users.
    fn totals(self) -> FastMap<i64, f64> {
        match self {
            BucketUsers::Any(best) => users_per_bucket(best),
            BucketUsers::InOrder {
                current,
                mut users,
                mut totals,
            } => {
                if let Some(c) = current {
                    totals.insert(c, users.total(std::iter::empty()));
                }
                totals
            }
        }
    }
}

impl Analytics<'_> {
    /// Events, users and sessions in the range, and their ratios.
    pub fn summary(&self, q: &Query) -> Result<Summary> {
        Ok(self.summary_parts(q)?.0)
    }

    /// [`Analytics::summary`], and what it counts, for a merge.
    pub(crate) fn summary_parts(&self, q: &Query) -> Result<(Summary, SummaryTallies)> {
        let r = self.resolve(q)?;
        let current = self.projection.is_some_and(|p| p.is_current());
        let today = self.clock.now_ms().div_euclid(DAY_MS);
        // Cold (no projection in memory yet), the rollups answer with a row
        // per user or session and hour instead of a read of every event.
        if rollup::answers(&r) {
            // The rollups in memory when they hold the range, or when the
            // projection would have to be built: else the projection.
            if let Some(p) = self.projection {
                if let Some(tallies) =
                    p.hours(self.conn, hours(&r, r.since), !current, |w| w.summary())?
                {
                    return Ok((tallies.summary(tallies.events.is_weighted()), tallies));
                }
            }
            if !current {
                let (tallies, counts) = if self.day_rollups {
                    days::summary(self.conn, r.since, r.until, today)?
                } else {
                    rollup::summary(self.conn, r.since, r.until)?
                };
                if let Some(p) = self.projection {
                    // What a read of these hours into memory will hold.
                    p.hours_counted(hours(&r, r.since), counts);
                }
                return Ok((tallies.summary(tallies.events.is_weighted()), tallies));
            }
        } else if !current && self.day_rollups && r.unfiltered() && days::spans_an_hour(&r) {
            // Cold, with bounds inside hours (a range up to now): the
            // rollups for the whole hours, the events for the hours at the
            // ends.
            let (tallies, _) = days::summary(self.conn, r.since, r.until, today)?;
            return Ok((tallies.summary(tallies.events.is_weighted()), tallies));
        }
        // Sums and distinct counts: the rows' order does not matter, and
        // the window is folded a chunk at a time.
        let need = Need {
            session: true,
            any_order: true,
            ..Need::default()
        };
        let init = || {
            let (users, sessions) = (DistinctWeights::new(0), DistinctWeights::new(0));
            (SummaryTallies::default(), users, sessions, false)
        };
        let ((mut tallies, mut users, mut sessions, reweighted), _) =
            self.fold(&r, &need, init, |(t, users, sessions, rw), rows, _| {
                for row in rows {
                    let w = row.weight();
                    t.events.add(w);
                    if row.session != 0 {
                        t.in_sessions.add(w);
                    }
                    users.add(row.user, row.rate);
                    sessions.add(row.session, row.rate);
                    *rw |= row.rate < 1.0;
                }
            })?;
        tallies.users = users.take();
        tallies.sessions = sessions.take();
        Ok((tallies.summary(reweighted), tallies))
    }

    /// Activity items (time, user, rate) in `[from, r.until)` added to a
    /// state that `init` makes: from the rollup when it answers `r` and
    /// `from` is on an hour (one item per user and hour, in time order:
    /// `init(true)`), else from the events, folded a chunk at a time in
    /// any order (`init(false)`), so that a window is never held. Users
    /// are numbered from 1.
    pub(super) fn fold_activity<S>(
        &self,
        r: &Resolved,
        from: i64,
        init: impl Fn(bool) -> S,
        add: impl Fn(&mut S, Activity),
    ) -> Result<S> {
        if rollup::answers(r) && from % HOUR_MS == 0 {
            // The rollups held in memory when they hold the hours, or when
            // the projection would have to be built (read by the second
            // query that asks: `hours`). Else the projection in memory gives
            // the rollup's rows without reading SQLite; cold, reading the
            // rollup is cheaper than building the projection.
            if let Some(p) = self.projection {
                let current = p.is_current();
                let span = hours(r, from);
                let held = p.hours(self.conn, span, !current, |w| {
                    let mut state = init(true);
                    w.activity().for_each(|item| add(&mut state, item));
                    state
                })?;
                if let Some(state) = held {
                    return Ok(state);
                }
            }
            let mut state = init(true);
            if let Some(p) = self.projection.filter(|p| p.is_current()) {
                // Bots in: the window is shared, not copied; `hourly`
                // leaves them out as the rollup does.
                let all = projection::Keep::default();
                if let Some(ev) = p.events(self.conn, (from, r.until), all, (false, false))? {
                    for item in rollup::hourly(&ev) {
                        add(&mut state, item);
                    }
                    return Ok(state);
                }
            }
            // Items gathered a chunk at a time and then added: reading a
            // row of SQLite between two updates of large maps made each
            // evict the other's memory from the cache (DAU at 10M events,
            // natively: 1.4 times as long).
            let mut chunk = Vec::with_capacity(scan::CHUNK_ROWS);
            rollup::activity(self.conn, from, r.until, |item| {
                chunk.push(item);
                if chunk.len() == scan::CHUNK_ROWS {
                    chunk.drain(..).for_each(|item| add(&mut state, item));
                }
            })?;
            chunk.into_iter().for_each(|item| add(&mut state, item));
            return Ok(state);
        }
        let need = Need {
            from: Some(from),
            any_order: true,
            ..Need::default()
        };
        let (state, _) = self.fold(
            r,
            &need,
            || init(false),
            |state, rows, _| {
                for x in rows.iter().filter(|x| x.user != 0) {
                    add(state, (x.ts, x.user, x.rate));
                }
            },
        )?;
        Ok(state)
    }

    /// Distinct users per day, week or month, with every bucket the range
    /// touches, and DAU/MAU stickiness over the range's last 30 days.
    pub fn active_users(&self, q: &Query, interval: Interval) -> Result<ActiveUsers> {
        Ok(self.active_users_parts(q, interval)?.0)
    }

    /// [`Analytics::active_users`], and what its `dau` divides: the users
    /// of each of the last days, added, and the number of days, for a merge
    /// (which adds the users and divides once, as one engine does).
    pub(crate) fn active_users_parts(
        &self,
        q: &Query,
        interval: Interval,
    ) -> Result<(ActiveUsers, f64, f64)> {
        let r = self.resolve(q)?;
        let first = interval.bucket(r.since, r.offset_ms);
        let last = interval.bucket(r.until - 1, r.offset_ms);
        if last - first >= 10_000 {
            return Err(Error::invalid(
                "until",
                "the range spans more than 10000 buckets: choose a coarser interval, \
                 or a later since (the default until is now)",
            ));
        }
        // Stickiness: the last 30 local days of the range.
        let last_day = Interval::Day.bucket(r.until - 1, r.offset_ms);
        let first_day = (last_day - 29).max(Interval::Day.bucket(r.since, r.offset_ms));
        let day_start = Interval::Day.start(first_day, r.offset_ms).max(r.since);
        let offset = r.offset_ms;
        let tally = self.fold_activity(&r, r.since, ActiveTally::new, |t, (ts, user, rate)| {
            t.reweighted |= rate < 1.0;
            t.per.add(interval.bucket(ts, offset), user, rate);
            if ts >= day_start {
                t.daily.add(Interval::Day.bucket(ts, offset), user, rate);
                t.recent.add(user, rate);
            }
        })?;
        let reweighted = tally.reweighted;
        let per = tally.per.totals();
        let buckets = (first..=last)
            .map(|b| Bucket {
                start: interval.start(b, r.offset_ms),
                label: interval.label(b, r.offset_ms),
                users: per.get(&b).copied().unwrap_or(0.0),
            })
            .collect();
        let daily = tally.daily.totals();
        let days = (last_day - first_day + 1) as f64;
        let daily_users = daily.values().total();
        let dau = daily_users / days;
        let mut recent = tally.recent;
        let mau: f64 = recent.total(std::iter::empty());
        let active = ActiveUsers {
            interval,
            buckets,
            stickiness: Stickiness {
                dau,
                mau,
                ratio: if mau > 0.0 { dau / mau } else { 0.0 },
            },
            reweighted,
        };
        Ok((active, daily_users, days))
    }

    /// Users and events in the last `windowSecs` by the clock, with events
    /// per minute. The query's filters apply; its range must be absent.
    pub fn realtime(&self, q: &Query, o: &RealtimeOptions) -> Result<Realtime> {
        if q.since.is_some() || q.until.is_some() {
            return Err(Error::invalid(
                "since",
                "realtime takes windowSecs, not a range",
            ));
        }
        let window = bounded(o.window_secs, 300, 1, 86_400, "windowSecs")? as i64;
        let now = self.clock.now_ms();
        let until = now + 1;
        let since = (until - window * 1000).max(0);
        let r = self.resolve(&Query {
            since: Some(since),
            until: Some(until),
            ..q.clone()
        })?;
        let minutes = (window + 59) / 60;
        let first = until - minutes * 60_000;
        // In time order, a chunk at a time: each minute's weights added in
        // the order of the events, as the whole window read at once added
        // them; the users' highest rates; the weights counted.
        let init = || {
            let per_minute = vec![0f64; minutes as usize];
            (
                per_minute,
                FastMap::<u32, f64>::default(),
                Tally::default(),
                false,
            )
        };
        let ((per_minute, users, events, reweighted), _) = self.fold(
            &r,
            &Need::default(),
            init,
            |(per_minute, users, events, rw), rows, _| {
                for row in rows {
                    let i = ((row.ts - first) / 60_000) as usize;
                    if let Some(m) = per_minute.get_mut(i) {
                        *m += row.weight();
                    }
                    if row.user != 0 {
                        most(users, row.user, row.rate);
                    }
                    events.add(row.weight());
                    *rw |= row.rate < 1.0;
                }
            },
        )?;
        let per_minute = per_minute
            .into_iter()
            .enumerate()
            .map(|(i, events)| MinuteCount {
                start: first + i as i64 * 60_000,
                events,
            })
            .collect();
        Ok(Realtime {
            window_secs: window as u32,
            active_users: users.values().map(|r| 1.0 / r).total(),
            events: events.sum_one_by_one(),
            per_minute,
            reweighted,
        })
    }

    /// Events and users grouped by type, name or a defined dimension.
    pub fn event_breakdown(&self, q: &Query, o: &BreakdownOptions) -> Result<Breakdown> {
        let limit = bounded(o.limit, 50, 1, 1000, "limit")?;
        Ok(self.event_breakdown_upto(q, o, limit as usize)?.0)
    }

    /// [`Analytics::event_breakdown`] keeping `limit` groups (all of them,
    /// for a merge), and each group's tallies, in the same order.
    pub(crate) fn event_breakdown_upto(
        &self,
        q: &Query,
        o: &BreakdownOptions,
        limit: usize,
    ) -> Result<(Breakdown, Vec<GroupTally>)> {
        let by = o.by.clone().unwrap_or_else(|| "name".into());
        let r = self.resolve(q)?;
        // Every scan reads the name, so grouping by it needs no extra
        // column, and the in-memory projection answers. So does the type,
        // read as each row's code (which the projection and the packed
        // blocks keep); a type none of the four (code 0) is grouped by its
        // text, read from SQLite.
        let mut group = match by.as_str() {
            "name" => Group::Name,
            "type" => Group::Kind,
            // Stored fields other than these are not groups here: say what is.
            f @ ("path" | "url" | "referrer" | "browser" | "os" | "device") => {
                return Err(Error::invalid(
                    "by",
                    format!(
                        "must be \"name\", \"type\" or a defined dimension, not the field \"{f}\" \
                         (topPages counts paths; a dimension defined with defineDimension can \
                         hold any other value)"
                    ),
                ))
            }
            d => Group::Extra(self.dimension_extra("by", d)?),
        };
        loop {
            if let Some(breakdown) = self.grouped(&r, &by, &group, limit)? {
                return Ok(breakdown);
            }
            // Grouped by type code, some type was none of the four: by the
            // type's text (which always answers).
            group = Group::Extra(("json_quote(type)".to_owned(), None));
        }
    }

    /// The groups of [`Analytics::event_breakdown_upto`], `None` when
    /// grouped by type code and some event's type is none of the four.
    fn grouped(
        &self,
        r: &Resolved,
        by: &str,
        group: &Group,
        limit: usize,
    ) -> Result<Option<(Breakdown, Vec<GroupTally>)>> {
        let kinds = matches!(group, Group::Kind);
        // Each group's events and users are counted in tallies, so the
        // rows' order does not matter, and the window is folded a chunk at
        // a time: memory for the groups' distinct users, not the rows.
        let need = Need {
            extra: match &group {
                Group::Extra(e) => Some(e.clone()),
                _ => None,
            },
            any_order: true,
            kinds,
            no_names: kinds,
            ..Need::default()
        };
        let init = || {
            let groups = ByNumber::<(Tally, DistinctRates)>::default();
            (groups, DistinctWeights::new(0), false)
        };
        let ((groups, mut scratch, reweighted), strings) =
            self.fold(r, &need, init, |(groups, scratch, rw), rows, _| {
                for row in rows {
                    let key = match group {
                        Group::Name => row.name,
                        Group::Kind => u32::from(row.kind),
                        Group::Extra(_) => row.extra,
                    };
                    let (events, users) = groups.entry(key);
                    events.add(row.weight());
                    users.add(row.user, row.rate, scratch);
                    *rw |= row.rate < 1.0;
                }
            })?;
        let mut rows = Vec::new();
        for (value, (events, users)) in groups.into_entries() {
            let value = match group {
                Group::Name => Value::String(strings.str(value).to_owned()),
                Group::Kind => match u8::try_from(value).ok().and_then(EventType::of_code) {
                    Some(t) => Value::String(t.as_str().to_owned()),
                    None => return Ok(None),
                },
                Group::Extra(_) => json_value(strings.str(value)),
            };
            let tally = GroupTally {
                events,
                users: users.tally(&mut scratch),
            };
            rows.push((BreakdownRow::of(value, &tally), tally));
        }
        sort_groups(&mut rows);
        rows.truncate(limit);
        let (rows, tallies) = rows.into_iter().unzip();
        let breakdown = Breakdown {
            by: by.to_owned(),
            rows,
            reweighted,
        };
        Ok(Some((breakdown, tallies)))
    }

    /// Per feature (an event name): users, uses, adoption among the range's
    /// active users, and uses per user.
    pub fn feature_usage(&self, q: &Query, o: &FeatureUsageOptions) -> Result<FeatureUsage> {
        Ok(self.feature_usage_parts(q, o)?.0)
    }

    /// [`Analytics::feature_usage`], the active users' tally and each
    /// feature's tallies, in the same order, for a merge.
    pub(crate) fn feature_usage_parts(
        &self,
        q: &Query,
        o: &FeatureUsageOptions,
    ) -> Result<(FeatureUsage, Tally, Vec<GroupTally>)> {
        let listed = match (&o.features, &o.prefix) {
            (Some(f), None) if !f.is_empty() && f.len() <= 1000 => {
                for (i, name) in f.iter().enumerate() {
                    crate::kernel::text::check(&format!("features[{i}]"), name, 800)?;
                }
                Some(f.clone())
            }
            (None, Some(p)) => {
                crate::kernel::text::check("prefix", p, 800)?;
                None
            }
            _ => {
                return Err(Error::invalid(
                    "features",
                    "give either features (1 to 1000 names) or prefix",
                ))
            }
        };
        let r = self.resolve(q)?;
        let is_feature = |name: &str| match &listed {
            Some(list) => list.iter().any(|f| f == name),
            None => name.starts_with(o.prefix.as_deref().unwrap_or_default()),
        };
        // Sums and distinct counts: the rows' order does not matter, and
        // the window is folded a chunk at a time. Whether a name is a
        // feature is decided once per name (`kind`: 0 not yet, 1 yes, 2 no).
        let need = Need {
            any_order: true,
            ..Need::default()
        };
        let init = || FeatureFold {
            active: DistinctWeights::new(0),
            per: FastMap::default(),
            kind: Vec::new(),
            scratch: DistinctWeights::new(0),
            reweighted: false,
        };
        let (mut f, strings) = self.fold(&r, &need, init, |f, rows, strings| {
            for row in rows {
                f.active.add(row.user, row.rate);
                f.reweighted |= row.rate < 1.0;
                let n = row.name as usize;
                if n >= f.kind.len() {
                    f.kind.resize(n + 1, 0);
                }
                if f.kind[n] == 0 {
                    f.kind[n] = if is_feature(strings.str(row.name)) {
                        1
                    } else {
                        2
                    };
                }
                if f.kind[n] == 1 {
                    let (events, users) = f.per.entry(row.name).or_default();
                    events.add(row.weight());
                    users.add(row.user, row.rate, &mut f.scratch);
                }
            }
        })?;
        let active = f.active.take();
        let mut names: Vec<String> = listed.clone().unwrap_or_default();
        let seen: FastSet<&String> = names.iter().collect();
        let extra: Vec<String> = f
            .per
            .keys()
            .map(|id| strings.str(*id).to_owned())
            .filter(|n| !seen.contains(n))
            .collect();
        names.extend(extra);
        let active_users = active.value();
        let mut features: Vec<(FeatureStats, GroupTally)> = names
            .into_iter()
            .map(|feature| {
                let tally = match strings.get(&feature).and_then(|id| f.per.remove(&id)) {
                    Some((events, users)) => GroupTally {
                        events,
                        users: users.tally(&mut f.scratch),
                    },
                    None => GroupTally::default(),
                };
                (FeatureStats::of(feature, &tally, active_users), tally)
            })
            .collect();
        sort_features(&mut features);
        let (features, tallies) = features.into_iter().unzip();
        let usage = FeatureUsage {
            active_users,
            features,
            reweighted: f.reweighted,
        };
        Ok((usage, active, tallies))
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn a_groups_weight_does_not_depend_on_the_order_of_its_rows() {
        let rates = [0.3, 0.7, 0.9, 1.0, 0.25, 0.11];
        let items: Vec<(u32, f64)> = (0..1000u32).map(|i| (i, rates[(i % 6) as usize])).collect();
        let sequential = |v: &[(u32, f64)]| v.iter().fold(0.0, |a, i| a + 1.0 / i.1);
        let mut reordered = items.clone();
        reordered.reverse();
        reordered.rotate_left(333);
        // The rows in another order add up differently one after another.
        assert_ne!(
            sequential(&items).to_bits(),
            sequential(&reordered).to_bits()
        );
        assert_eq!(weights(&items), weights(&reordered));
        assert_eq!(
            weights(&items).value().to_bits(),
            weights(&reordered).value().to_bits()
        );
        let unsampled: Vec<(u32, f64)> = (0..7).map(|i| (i, 1.0)).collect();
        assert_eq!(weights(&unsampled).value(), 7.0);
        assert_eq!(weights(&[]).value(), 0.0);
    }
}
