//! Per-engine tracking settings.

use serde::Deserialize;

use super::event::EventType;
use crate::error::Error;

/// What happens to an event that fails its schema, or sets an undefined
/// dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidationMode {
    /// Rejected with a typed error naming the field. The default.
    #[default]
    Strict,
    /// Stored anyway; undefined dimensions are kept as plain properties.
    Lenient,
    /// Kept aside in the quarantine, to inspect and retry.
    Quarantine,
}

/// Keep a fraction of matching events, decided per user (or anonymous id),
/// so a user's journey is kept or dropped whole.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SamplingRule {
    /// Only events with this name; `None` matches any.
    pub name: Option<String>,
    /// Only events of this type; `None` matches any.
    #[serde(rename = "type")]
    pub event_type: Option<EventType>,
    /// The fraction kept, in (0, 1].
    pub rate: f64,
}

/// The outbox: every stored event is also queued for the app's collector.
/// Read from JS as `true`, `false`, `null` or `{ cap }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    /// Queued events kept at most; the oldest are dropped first. Default 10,000.
    pub cap: u32,
    /// The collector is a third party (another company's service): events
    /// of a subject who opted out of `sale_share` (a withdrawal, or a Global
    /// Privacy Control signal) are withheld, never handed out by `take`, and
    /// counted in `stats().withheld`. Default false: the app's own collector.
    #[serde(rename = "thirdParty")]
    pub third_party: bool,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            cap: 10_000,
            third_party: false,
        }
    }
}

/// The analytics pipeline an engine takes part in (a collector, a
/// partition, or an app server pumping its outbox): how many partition
/// streams there are, and how long a stream may grow as a safety net. Every
/// engine of one pipeline must say the same. Read from JS as
/// `tracking.pipeline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PipelineConfig {
    /// The number of partitions, 1 to 1024. Fixed for a pipeline's life:
    /// a subject's partition is a hash of its id modulo this. Default 4.
    pub partitions: u32,
    /// Each stream is capped near this many entries only as a safety net:
    /// workers trim what they committed. Past the cap the oldest entries go
    /// (in chunks of a tenth of it), and a copy that had not read them is
    /// told (`REPLICA_BEHIND`). Default 1,000,000.
    pub stream_cap: u64,
    /// A collector refuses an event older than this, by its own clock (a
    /// device offline for longer loses those events). Default 30 days.
    pub max_age_secs: u32,
    /// A collector refuses an event further in the future than this, by
    /// its own clock. Default 300 (5 minutes).
    pub max_ahead_secs: u32,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            partitions: 4,
            stream_cap: 1_000_000,
            max_age_secs: 30 * 86_400,
            max_ahead_secs: 300,
        }
    }
}

/// Tracking settings for an engine. Read from JS as `tracking` in the open
/// options: camelCase keys, unknown keys refused, every key optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TrackingConfig {
    /// What to do with events that fail their schema. Default strict.
    pub validation: ValidationMode,
    /// Sampling rules; the first that matches an event applies.
    pub sampling: Vec<SamplingRule>,
    /// Keep the raw user agent string too (default: only its parsed form).
    pub store_raw_user_agent: bool,
    /// Queue stored events for upload. Default off.
    #[serde(deserialize_with = "outbox_switch")]
    pub outbox: Option<OutboxConfig>,
    /// Record the engine's own session events (`login`, `logout`,
    /// `session_expired`, of type `session`), so analytics can count logins
    /// without app code. Consent-gated like any event. Default on.
    pub session_events: bool,
    /// The analytics pipeline's shape (with a shared store). Default 4
    /// partitions.
    pub pipeline: PipelineConfig,
}

/// `outbox`: `true` (the default settings), `false` or `null` (off), or
/// `{ cap }`.
fn outbox_switch<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<OutboxConfig>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "true, false, null or { cap }")]
    enum Switch {
        On(bool),
        Settings(OutboxConfig),
    }
    Ok(match Option::<Switch>::deserialize(d)? {
        None | Some(Switch::On(false)) => None,
        Some(Switch::On(true)) => Some(OutboxConfig::default()),
        Some(Switch::Settings(s)) => Some(s),
    })
}

impl Default for TrackingConfig {
    fn default() -> Self {
        Self {
            validation: ValidationMode::default(),
            sampling: Vec::new(),
            store_raw_user_agent: false,
            outbox: None,
            session_events: true,
            pipeline: PipelineConfig::default(),
        }
    }
}

impl TrackingConfig {
    /// Checks the settings, naming the first one out of range.
    pub fn validate(&self) -> Result<(), Error> {
        for rule in &self.sampling {
            if !(rule.rate > 0.0 && rule.rate <= 1.0) {
                return Err(Error::invalid(
                    "tracking.sampling.rate",
                    "must be in (0, 1]",
                ));
            }
        }
        if self.outbox.is_some_and(|o| o.cap == 0) {
            return Err(Error::invalid("tracking.outbox.cap", "must be at least 1"));
        }
        if !(1..=1024).contains(&self.pipeline.partitions) {
            return Err(Error::invalid(
                "tracking.pipeline.partitions",
                "must be 1 to 1024",
            ));
        }
        if self.pipeline.stream_cap < 1000 {
            return Err(Error::invalid(
                "tracking.pipeline.streamCap",
                "must be at least 1000",
            ));
        }
        if self.pipeline.max_age_secs == 0 || self.pipeline.max_age_secs > 400 * 86_400 {
            return Err(Error::invalid(
                "tracking.pipeline.maxAgeSecs",
                "must be 1 to 34560000 (400 days)",
            ));
        }
        if self.pipeline.max_ahead_secs > 86_400 {
            return Err(Error::invalid(
                "tracking.pipeline.maxAheadSecs",
                "must be 0 to 86400 (a day)",
            ));
        }
        Ok(())
    }
}
