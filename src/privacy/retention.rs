//! Retention: how long each category of data is kept, and the runs that
//! delete what is older.
//!
//! Durations are strings: a whole number and a unit, `h` (hours), `d`
//! (days), `w` (weeks), `mo` (calendar months) or `y` (calendar years), such
//! as `"13mo"` or `"30d"`. `null` keeps a category forever.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::Privacy;
use crate::error::{Error, Result};
use crate::kernel::calendar::{civil, days_from_civil, DAY_MS};
use crate::store::audit;
use crate::store::chain::{self, Mark};

/// How long each category is kept; `None` keeps it forever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionPolicy {
    /// Events, by the time they happened. Default `"13mo"`.
    pub events: Option<String>,
    /// Sessions, counted from when they expired. Default `"0h"`: at once.
    pub sessions: Option<String>,
    /// Audit log entries. Default `"3y"`.
    pub audit: Option<String>,
    /// Quarantined events, from when they were received. Default `"30d"`.
    pub quarantine: Option<String>,
    /// Events queued for upload. Default: kept until acknowledged.
    pub outbox: Option<String>,
    /// Consent ledger rows no longer proving a current decision. Default: kept.
    pub consent: Option<String>,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            events: Some("13mo".into()),
            sessions: Some("0h".into()),
            audit: Some("3y".into()),
            quarantine: Some("30d".into()),
            outbox: None,
            consent: None,
        }
    }
}

/// When retention runs (see [`Privacy::retention_schedule`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionSchedule {
    /// When this engine last ran it (ms), if it has since it opened.
    pub last_run: Option<i64>,
    /// When it is due next (ms): it runs at the first write from then on.
    pub next_run: i64,
    /// The interval between runs, ms.
    pub interval_ms: i64,
}

/// The categories, in the order runs report them.
const CATEGORIES: [&str; 6] = [
    "events",
    "sessions",
    "audit",
    "quarantine",
    "outbox",
    "consent",
];

impl RetentionPolicy {
    fn slot(&mut self, category: &str) -> Option<&mut Option<String>> {
        Some(match category {
            "events" => &mut self.events,
            "sessions" => &mut self.sessions,
            "audit" => &mut self.audit,
            "quarantine" => &mut self.quarantine,
            "outbox" => &mut self.outbox,
            "consent" => &mut self.consent,
            _ => return None,
        })
    }
}

/// What a retention run deleted, or with `dry_run`, would delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionReport {
    /// Nothing was deleted: the counts are what a run would delete.
    pub dry_run: bool,
    /// When it ran.
    pub ran_at: i64,
    /// Rows per category.
    pub counts: BTreeMap<String, u64>,
}

/// A duration: a fixed number of ms, or calendar months.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    Ms(i64),
    Months(i64),
}

fn parse_span(field: &str, s: &str) -> Result<Span> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let bad = || {
        Error::invalid(
            field,
            "must be a whole number and a unit (h, d, w, mo or y), such as \"30d\", or null",
        )
    };
    if digits == 0 || digits > 6 {
        return Err(bad());
    }
    let n: i64 = s[..digits].parse().map_err(|_| bad())?;
    let span = match &s[digits..] {
        "h" => Span::Ms(n * 3_600_000),
        "d" => Span::Ms(n * DAY_MS),
        "w" => Span::Ms(n * 7 * DAY_MS),
        "mo" => Span::Months(n),
        "y" => Span::Months(n * 12),
        _ => return Err(bad()),
    };
    let too_long = match span {
        Span::Ms(ms) => ms > 100 * 366 * DAY_MS,
        Span::Months(m) => m > 1200,
    };
    if too_long {
        return Err(Error::invalid(field, "must be at most 100 years"));
    }
    Ok(span)
}

/// `now` minus `span`; months count back on the UTC calendar, clamping the
/// day to the month's length.
fn cutoff(now: i64, span: Span) -> i64 {
    match span {
        Span::Ms(ms) => now.saturating_sub(ms),
        Span::Months(n) => {
            let days = now.div_euclid(DAY_MS);
            let in_day = now.rem_euclid(DAY_MS);
            let (y, m, d) = civil(days);
            let index = y * 12 + i64::from(m) - 1 - n;
            let (y, m) = (index.div_euclid(12), index.rem_euclid(12) as u32 + 1);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            let len = days_from_civil(ny, nm, 1) - days_from_civil(y, m, 1);
            let d = i64::from(d).min(len) as u32;
            days_from_civil(y, m, d) * DAY_MS + in_day
        }
    }
}

/// How many sessions a retention run looks at, at most, from where the
/// engine's last sweep stopped (the table has no index by expiry).
const SESSIONS_VISIT: u32 = 5_000;

fn read_policy(conn: &Connection) -> Result<RetentionPolicy> {
    let stored: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = 'privacy.retention'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    let mut policy = RetentionPolicy::default();
    if let Some(Ok(Value::Object(m))) = stored.map(|s| serde_json::from_str::<Value>(&s)) {
        for (k, v) in m {
            if let Some(slot) = policy.slot(&k) {
                *slot = v.as_str().map(str::to_owned);
            }
        }
    }
    Ok(policy)
}

/// One category's rows older than its cutoff: a table and a condition on `?1`.
fn target(
    conn: &Connection,
    category: &str,
    now: i64,
    span: Span,
) -> Result<(&'static str, String, i64)> {
    let at = cutoff(now, span);
    Ok(match category {
        "events" => ("events", "ts < ?1".into(), at),
        "sessions" => ("sessions", "idle_expires_at <= ?1".into(), at),
        "quarantine" => ("quarantine", "received_at < ?1".into(), at),
        "outbox" => ("outbox", "available_at < ?1".into(), at),
        // Hash chains lose only a prefix, so they still verify from a base.
        "audit" => {
            let keep: Option<i64> = conn
                .prepare_cached("SELECT min(seq) FROM audit_log WHERE at >= ?1")?
                .query_row([at], |r| r.get(0))?;
            ("audit_log", "seq < ?1".into(), keep.unwrap_or(i64::MAX))
        }
        _ => {
            let keep: Option<i64> = conn
                .prepare_cached(
                    "SELECT min(seq) FROM consent_ledger WHERE at >= ?1 OR seq IN (SELECT seq FROM consents)",
                )?
                .query_row([at], |r| r.get(0))?;
            (
                "consent_ledger",
                "seq < ?1".into(),
                keep.unwrap_or(i64::MAX),
            )
        }
    })
}

impl Privacy<'_> {
    /// The retention policy in force.
    pub fn retention(&self) -> Result<RetentionPolicy> {
        read_policy(self.conn)
    }

    /// Changes the categories named in `changes` (a string duration, or
    /// `null` to keep forever); the others stay as they were.
    pub fn set_retention(
        &self,
        changes: &Map<String, Value>,
        actor: Option<&str>,
    ) -> Result<RetentionPolicy> {
        let mut policy = read_policy(self.conn)?;
        for (k, v) in changes {
            let field = format!("retention.{k}");
            let Some(slot) = policy.slot(k) else {
                return Err(Error::invalid(
                    field,
                    format!("is not a category; use one of {}", CATEGORIES.join(", ")),
                ));
            };
            *slot = match v {
                Value::Null => None,
                Value::String(s) => {
                    parse_span(&field, s)?;
                    Some(s.clone())
                }
                _ => {
                    return Err(Error::invalid(
                        field,
                        "must be a string such as \"30d\", or null",
                    ))
                }
            };
        }
        let actor = actor.unwrap_or("host");
        crate::consent::check_label("actor", actor)?;
        let json = serde_json::to_string(&policy).unwrap_or_default();
        self.in_tx(|tx| {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('privacy.retention', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [&json],
            )?;
            audit::Log::new(tx, self.config.chain_key()).append(
                self.clock.now_ms(),
                actor,
                "retention.set",
                None,
                false,
                &json!(policy),
            )
        })?;
        Ok(policy)
    }

    /// Deletes what the policy no longer keeps, or with `dry_run`, counts
    /// it. A run that deletes anything, and every run asked for, is audited.
    pub fn run_retention(&self, dry_run: bool, actor: Option<&str>) -> Result<RetentionReport> {
        let actor = actor.unwrap_or("host");
        crate::consent::check_label("actor", actor)?;
        self.retention_run(dry_run, actor, true)
    }

    /// When retention last ran in this engine and when it runs next: at the
    /// first write (or open) once `retention_interval_secs` have passed.
    pub fn retention_schedule(&self) -> RetentionSchedule {
        let interval_ms = (self.config.retention_interval_secs as i64).saturating_mul(1000);
        let last = self.last_retention.get();
        let last_run = (last > i64::MIN / 4).then_some(last);
        RetentionSchedule {
            last_run,
            next_run: last_run.map_or(self.clock.now_ms(), |l| l.saturating_add(interval_ms)),
            interval_ms,
        }
    }

    /// Runs retention when `retention_interval_secs` passed since the last
    /// run (by the clock), and at the first call after open.
    pub fn run_retention_if_due(&self) -> Result<Option<RetentionReport>> {
        let now = self.clock.now_ms();
        let interval = (self.config.retention_interval_secs as i64).saturating_mul(1000);
        if now.saturating_sub(self.last_retention.get()) < interval {
            return Ok(None);
        }
        self.retention_run(false, "system", false).map(Some)
    }

    fn retention_run(
        &self,
        dry_run: bool,
        actor: &str,
        always_audit: bool,
    ) -> Result<RetentionReport> {
        let now = self.clock.now_ms();
        let mut policy = read_policy(self.conn)?;
        let report = self.in_tx(|tx| {
            let mut counts = BTreeMap::new();
            for category in CATEGORIES {
                let Some(span) = policy.slot(category).and_then(|s| s.clone()) else {
                    counts.insert(category.to_owned(), 0);
                    continue;
                };
                let span = parse_span(category, &span)?;
                let (table, condition, param) = target(tx, category, now, span)?;
                if let (Some(cursor), "sessions") = (self.sweep, table) {
                    // No index by expiry: a bounded walk, as the sweeps at
                    // a create (docs/SESSIONS.md), not a read of the table.
                    let store = crate::session::SqliteSessionStore::sweeping(tx, cursor);
                    let n = store.sweep_expired(param, u32::MAX, Some(SESSIONS_VISIT), dry_run)?;
                    counts.insert(category.to_owned(), n);
                    continue;
                }
                let n = if dry_run {
                    tx.query_row(&format!("SELECT count(*) FROM {table} WHERE {condition}"), [param], |r| {
                        r.get::<_, i64>(0)
                    })? as u64
                } else {
                    let last: Option<(i64, String)> = if condition.starts_with("seq") {
                        tx.query_row(
                            &format!("SELECT seq, hash FROM {table} WHERE seq < ?1 ORDER BY seq DESC LIMIT 1"),
                            [param],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()?
                    } else {
                        None
                    };
                    let n = tx.execute(&format!("DELETE FROM {table} WHERE {condition}"), [param])?;
                    if let Some((seq, hash)) = last {
                        chain::set_base(tx, table, &Mark { seq, hash })?;
                    }
                    if table == "events" && n > 0 {
                        crate::tracking::rollup::forget_before(tx, param)?;
                    }
                    n as u64
                };
                counts.insert(category.to_owned(), n);
            }
            if !dry_run && (always_audit || counts.values().any(|&n| n > 0)) {
                audit::Log::new(tx, self.config.chain_key()).append(now, actor, "retention.run", None, false, &json!({ "counts": counts }))?;
            }
            Ok(RetentionReport {
                dry_run,
                ran_at: now,
                counts,
            })
        })?;
        if !dry_run {
            self.last_retention.set(now);
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn spans_parse_and_months_follow_the_calendar() {
        assert_eq!(parse_span("x", "30d").unwrap(), Span::Ms(30 * DAY_MS));
        assert_eq!(parse_span("x", "13mo").unwrap(), Span::Months(13));
        assert_eq!(parse_span("x", "3y").unwrap(), Span::Months(36));
        for bad in [
            "", "d", "30", "-1d", "1.5d", "30 d", "30D", "9999999d", "101y",
        ] {
            assert!(parse_span("x", bad).is_err(), "{bad}");
        }
        // 2024-03-31 12:00 UTC minus one month is 2024-02-29 12:00.
        let now = days_from_civil(2024, 3, 31) * DAY_MS + 43_200_000;
        assert_eq!(
            cutoff(now, Span::Months(1)),
            days_from_civil(2024, 2, 29) * DAY_MS + 43_200_000
        );
        assert_eq!(
            cutoff(now, Span::Months(13)),
            days_from_civil(2023, 2, 28) * DAY_MS + 43_200_000
        );
    }
}
