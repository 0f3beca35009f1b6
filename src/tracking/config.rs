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
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self { cap: 10_000 }
    }
}

/// Tracking settings for an engine. Read from JS as `tracking` in the open
/// options: camelCase keys, unknown keys refused, every key optional.
#[derive(Debug, Clone, Default, Deserialize)]
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
        Ok(())
    }
}
