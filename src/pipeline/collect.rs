//! The collector's step: check a batch of forwarded events with the
//! engine's rules, and append each to its subject's partition stream.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Pipeline;
use crate::consent::{Source, ANALYTICS};
use crate::error::{Error, Result};
use crate::tracking::Event;

pub use crate::tracking::check_batch;

/// The most events one batch may hold.
pub const MAX_BATCH: usize = crate::tracking::BATCH_CAP;

/// What became of one event of a batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "status",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum CollectStatus {
    /// In its partition's stream.
    Accepted {
        /// The event's id.
        event_id: String,
        /// Its partition.
        partition: u32,
    },
    /// Its subject has not consented (the collector's engine gates by a
    /// shared store's decisions); not forwarded.
    NoConsent {
        /// The event's id.
        event_id: String,
    },
}

/// Each event's outcome, in the batch's order: accepted, not consented, or
/// refused with a typed error naming the field.
pub type Collected = Vec<Result<CollectStatus>>;

/// The cap on one batch's events: `max` (1 to [`MAX_BATCH`]), or
/// [`MAX_BATCH`] when not given. A cap out of range is `INVALID_INPUT`
/// naming `maxEvents`.
pub fn batch_cap(max: Option<u32>) -> Result<usize> {
    match max.map(|m| m as usize) {
        None => Ok(MAX_BATCH),
        Some(m) if (1..=MAX_BATCH).contains(&m) => Ok(m),
        Some(_) => Err(Error::invalid(
            "maxEvents",
            format!("must be 1 to {MAX_BATCH}"),
        )),
    }
}

/// A batch as a collector receives it: `{ events, batchId?, sentAt? }`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Body {
    events: Vec<serde_json::Value>,
    #[allow(dead_code)] // accepted, for the sender's logs
    batch_id: Option<String>,
    #[allow(dead_code)]
    sent_at: Option<i64>,
}

/// The events of a batch's JSON text (`{ events: [...] }`), each parsed on
/// its own so that one bad event is refused alone. The body's shape is
/// `INVALID_INPUT`; past `max` events, `PAYLOAD_TOO_LARGE`-worthy input is
/// refused as `INVALID_INPUT` naming `events`.
pub fn parse_body(text: &str, max: usize) -> Result<Vec<Result<Event>>> {
    let body: Body = serde_json::from_str(text)
        .map_err(|e| Error::invalid("body", format!("must be {{ events: [...] }}: {e}")))?;
    check_batch(body.events.len(), max)?;
    Ok(body
        .events
        .into_iter()
        .map(|v| serde_json::from_value(v).map_err(|e| Error::invalid("event", e.to_string())))
        .collect())
}

impl Pipeline<'_> {
    /// Refuses an event whose time is outside the window around this
    /// engine's clock: older than `maxAgeSecs` (a device that was offline
    /// longer) or ahead by more than `maxAheadSecs` (a clock wrong, or a
    /// forger's).
    fn check_time(&self, e: Event, now: i64) -> Result<Event> {
        let oldest = now.saturating_sub(i64::from(self.config.max_age_secs) * 1000);
        let newest = now.saturating_add(i64::from(self.config.max_ahead_secs) * 1000);
        if e.ts < oldest || e.ts > newest {
            return Err(Error::invalid(
                "ts",
                format!(
                    "must be within {} s before and {} s after the collector's clock \
                     (tracking.pipeline.maxAgeSecs, maxAheadSecs)",
                    self.config.max_age_secs, self.config.max_ahead_secs
                ),
            ));
        }
        Ok(e)
    }

    /// Checks each event ([`crate::tracking::Tracking::normalize_forwarded`]),
    /// and appends the good ones to their partitions' streams (one script
    /// per partition touched). Returns only once Redis holds them all; if
    /// an append fails the whole call fails (a retry is harmless: event ids
    /// make duplicates no-ops). Events whose subject has not consented to
    /// `analytics`, when this engine requires it, are left out.
    pub async fn collect(&self, events: Vec<Result<Event>>) -> Result<Collected> {
        check_batch(events.len(), MAX_BATCH)?;
        let tracking = self.trail.tracking();
        let now = self.trail.clock().now_ms();
        let checked: Vec<Result<Event>> = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                e.and_then(|e| self.check_time(e, now))
                    .and_then(|e| tracking.normalize_forwarded(e))
                    .map_err(|err| err.in_element(&format!("events[{i}]"), "event"))
            })
            .collect();
        let privacy = self.trail.privacy();
        let gated = privacy.config().requires(ANALYTICS);
        let snapshot = if gated {
            let subjects = checked
                .iter()
                .flatten()
                .flat_map(|e| [e.user_id.as_deref(), e.anonymous_id.as_deref()])
                .flatten();
            self.trail.consent_snapshot(subjects).await?
        } else {
            None
        };
        let conn = self.trail.store().conn();
        let source = match &snapshot {
            Some(s) => Source::Shared(s),
            None => Source::Local(conn),
        };
        let mut groups: BTreeMap<u32, Vec<(&str, String)>> = BTreeMap::new();
        let mut out: Collected = Vec::with_capacity(checked.len());
        for e in checked {
            let e = match e {
                Ok(e) => e,
                Err(err) => {
                    out.push(Err(err));
                    continue;
                }
            };
            if gated {
                let ids: Vec<&str> = [e.user_id.as_deref(), e.anonymous_id.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect();
                if !source.allows(privacy.config(), &ids, ANALYTICS)? {
                    out.push(Ok(CollectStatus::NoConsent {
                        event_id: e.event_id,
                    }));
                    continue;
                }
            }
            let subject = e
                .user_id
                .as_deref()
                .or(e.anonymous_id.as_deref())
                .unwrap_or(&e.event_id);
            let partition = self.partition_of(subject);
            let json =
                serde_json::to_string(&e).map_err(|e| Error::invalid("event", e.to_string()))?;
            groups.entry(partition).or_default().push(("e", json));
            out.push(Ok(CollectStatus::Accepted {
                event_id: e.event_id,
                partition,
            }));
        }
        for (partition, entries) in &groups {
            self.append(*partition, entries).await?;
        }
        Ok(out)
    }
}
