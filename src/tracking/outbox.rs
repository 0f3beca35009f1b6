//! The outbox: stored events queued for the app's own collector, leased in
//! batches, acknowledged or retried with backoff, capped.

use crate::consent::ANALYTICS;
use rusqlite::{params, Connection, Transaction, TransactionBehavior};
use serde::Serialize;
use serde_json::Value;

use super::event::Event;
use super::{Tracking, TrackingError};
use crate::error::Result;
use crate::kernel::ids::{random_bytes, uuid_v7};

/// How long a taken batch stays leased before it may be taken again, in ms.
pub const LEASE_MS: i64 = 60_000;
/// The first retry waits this long; each further one twice as long.
pub const BACKOFF_BASE_MS: i64 = 3_000;
/// The longest wait between retries: 30 minutes.
pub const BACKOFF_CAP_MS: i64 = 30 * 60_000;

/// A leased batch of queued events.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    /// Pass it to `ack` once the collector has the events, or to `nack`.
    pub batch_id: String,
    /// The events, oldest first.
    pub events: Vec<Value>,
}

/// The outbox's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxStats {
    /// Events waiting, leased or not.
    pub queued: u64,
    /// Events in a batch taken and not yet acknowledged.
    pub leased: u64,
    /// Events dropped because the queue was full, ever.
    pub dropped: u64,
    /// Events withheld from a third-party collector because their subject
    /// opted out of `sale_share`, ever.
    pub withheld: u64,
}

/// Queues a stored event.
pub(super) fn enqueue(tx: &Connection, event: &Event, now: i64) -> Result<()> {
    let json = serde_json::to_string(event).unwrap_or_default();
    tx.prepare_cached("INSERT INTO outbox (event_id, event, available_at) VALUES (?1, ?2, ?3)")?
        .execute(params![event.event_id, json, now])?;
    Ok(())
}

/// Drops the oldest queued events over `cap`, counting them.
pub(super) fn enforce_cap(tx: &Connection, cap: u32) -> Result<()> {
    let over: i64 = tx
        .prepare_cached("SELECT count(*) - ?1 FROM outbox")?
        .query_row([cap], |r| r.get(0))?;
    if over > 0 {
        tx.prepare_cached(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?1)",
        )?
        .execute([over])?;
        tx.prepare_cached(
            "INSERT INTO counters (name, value) VALUES ('outbox.dropped', ?1) \
             ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
        )?
        .execute([over])?;
    }
    Ok(())
}

/// The wait before retry number `attempt` (1-based): 3 s·2ⁿ⁻¹, capped at
/// 30 min, then "equal jitter": a random point in its upper half.
pub fn backoff_ms(attempt: i64) -> i64 {
    let exp = u32::try_from(attempt.clamp(1, 20) - 1).unwrap_or(0);
    let full = BACKOFF_BASE_MS.saturating_mul(1 << exp).min(BACKOFF_CAP_MS);
    let r = u64::from_le_bytes(random_bytes());
    full / 2 + (r % (full as u64 / 2 + 1)) as i64
}

impl Tracking<'_> {
    /// The user and anonymous ids of the events [`Tracking::outbox_take`]
    /// would lease now, when `take` checks their consent (a third-party
    /// collector, or events that need `analytics` consent); empty
    /// otherwise. An engine with a shared store fetches their decisions
    /// first.
    pub fn outbox_subjects(&self, max: u32) -> Result<Vec<String>> {
        if !self.outbox_reads_consent() {
            return Ok(Vec::new());
        }
        let mut out: Vec<String> = Vec::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT json_extract(event, '$.userId'), json_extract(event, '$.anonymousId') \
             FROM outbox WHERE available_at <= ?1 AND (lease_id IS NULL OR lease_until <= ?1) \
             ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![self.clock.now_ms(), max.clamp(1, 10_000)], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, Option<String>>(1)?,
            ))
        })?;
        for row in rows {
            let (u, a) = row?;
            for id in [u, a].into_iter().flatten() {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }

    /// Leases up to `max` queued events that are due, oldest first.
    /// Returns `None` when none are due.
    pub fn outbox_take(&self, max: u32) -> Result<Option<Batch>> {
        let max = max.clamp(1, 10_000);
        let now = self.clock.now_ms();
        let tx = Transaction::new_unchecked(self.conn, TransactionBehavior::Immediate)?;
        let rows: Vec<(i64, String)> = tx
            .prepare_cached(
                "SELECT id, event FROM outbox WHERE available_at <= ?1 \
                 AND (lease_id IS NULL OR lease_until <= ?1) ORDER BY id LIMIT ?2",
            )?
            .query_map(params![now, max], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let rows = self.withhold_opted_out(&tx, rows)?;
        if rows.is_empty() {
            tx.commit()?;
            return Ok(None);
        }
        let batch_id = uuid_v7(now);
        let mut lease =
            tx.prepare_cached("UPDATE outbox SET lease_id = ?2, lease_until = ?3 WHERE id = ?1")?;
        let mut events = Vec::with_capacity(rows.len());
        for (id, json) in rows {
            lease.execute(params![id, batch_id, now + LEASE_MS])?;
            events.push(serde_json::from_str(&json).unwrap_or(Value::Null));
        }
        drop(lease);
        tx.commit()?;
        Ok(Some(Batch { batch_id, events }))
    }

    /// Whether `take` reads consent: for a third-party collector (the
    /// `sale_share` opt-outs), and whenever events need `analytics` consent
    /// (a subject who withdrew it since the event was queued).
    fn outbox_reads_consent(&self) -> bool {
        self.config.outbox.is_some_and(|o| o.third_party) || self.privacy.requires(ANALYTICS)
    }

    /// Removes (and counts as withheld) the queued events whose subject
    /// withdrew `analytics` consent since they were queued (when the engine
    /// requires it), or, for a third-party collector, opted out of
    /// `sale_share`; returns the others. Consent withdrawn on the device
    /// stops the shipping of what was waiting.
    fn withhold_opted_out(
        &self,
        tx: &Connection,
        rows: Vec<(i64, String)>,
    ) -> Result<Vec<(i64, String)>> {
        if !self.outbox_reads_consent() {
            return Ok(rows);
        }
        let third_party = self.config.outbox.is_some_and(|o| o.third_party);
        let gated = self.privacy.requires(ANALYTICS);
        let mut allowed: std::collections::HashMap<(Option<String>, Option<String>), bool> =
            Default::default();
        let mut kept = Vec::with_capacity(rows.len());
        let mut withheld = 0i64;
        for (id, json) in rows {
            let event: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
            let who = |k: &str| event.get(k).and_then(Value::as_str).map(str::to_owned);
            let key = (who("userId"), who("anonymousId"));
            let ok = match allowed.get(&key) {
                Some(ok) => *ok,
                None => {
                    let ids: Vec<&str> = [key.0.as_deref(), key.1.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect();
                    let source = self.consent_source(tx);
                    let ok = (!gated || source.allows(self.privacy, &ids, ANALYTICS)?)
                        && (!third_party || source.sale_allowed(self.privacy, &ids)?);
                    allowed.insert(key, ok);
                    ok
                }
            };
            if ok {
                kept.push((id, json));
            } else {
                tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")?
                    .execute([id])?;
                withheld += 1;
            }
        }
        if withheld > 0 {
            tx.prepare_cached(
                "INSERT INTO counters (name, value) VALUES ('outbox.withheld', ?1) \
                 ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            )?
            .execute([withheld])?;
        }
        Ok(kept)
    }

    /// Removes a delivered batch. Returns how many events it held.
    pub fn outbox_ack(&self, batch_id: &str) -> Result<u64> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM outbox WHERE lease_id = ?1")
            .and_then(|mut s| s.execute([batch_id]))?;
        if n == 0 {
            return Err(not_found(batch_id));
        }
        Ok(n as u64)
    }

    /// Returns a batch to the queue, each event due again after its backoff.
    pub fn outbox_nack(&self, batch_id: &str) -> Result<u64> {
        let now = self.clock.now_ms();
        let tx = Transaction::new_unchecked(self.conn, TransactionBehavior::Immediate)?;
        let rows: Vec<(i64, i64)> = tx
            .prepare_cached("SELECT id, attempts FROM outbox WHERE lease_id = ?1")?
            .query_map([batch_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        if rows.is_empty() {
            return Err(not_found(batch_id));
        }
        let mut retry = tx
            .prepare_cached(
                "UPDATE outbox SET attempts = ?2, available_at = ?3, lease_id = NULL, lease_until = NULL \
                 WHERE id = ?1",
            )?;
        for (id, attempts) in &rows {
            let attempt = attempts + 1;
            retry.execute(params![id, attempt, now + backoff_ms(attempt)])?;
        }
        drop(retry);
        tx.commit()?;
        Ok(rows.len() as u64)
    }

    /// Queue sizes and the count of dropped events.
    pub fn outbox_stats(&self) -> Result<OutboxStats> {
        let now = self.clock.now_ms();
        let (queued, leased): (i64, i64) = self
            .conn
            .query_row(
                "SELECT count(*), count(*) FILTER (WHERE lease_id IS NOT NULL AND lease_until > ?1) FROM outbox",
                [now],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
        let counter = |name: &str| -> Result<u64> {
            let n: i64 = self.conn.query_row(
                "SELECT coalesce((SELECT value FROM counters WHERE name = ?1), 0)",
                [name],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        };
        Ok(OutboxStats {
            queued: queued as u64,
            leased: leased as u64,
            dropped: counter("outbox.dropped")?,
            withheld: counter("outbox.withheld")?,
        })
    }
}

fn not_found(batch_id: &str) -> crate::error::Error {
    TrackingError::NotFound {
        what: format!("outbox batch {batch_id:?} (acknowledged already, or its lease expired and it was taken again)"),
    }
    .into()
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn backoff_doubles_from_3s_caps_at_30min_and_jitters_in_the_upper_half() {
        for (attempt, full) in [
            (1, 3_000),
            (2, 6_000),
            (3, 12_000),
            (10, 1_536_000),
            (11, 1_800_000),
            (40, 1_800_000),
        ] {
            for _ in 0..50 {
                let d = backoff_ms(attempt);
                assert!((full / 2..=full).contains(&d), "attempt {attempt}: {d}");
            }
        }
    }
}
