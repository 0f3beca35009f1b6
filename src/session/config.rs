//! Per-engine session settings.

use serde::Deserialize;

use super::Keyring;
use crate::error::Error;

/// What to do when a request's user agent or network differs from the one
/// the session was created from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FingerprintPolicy {
    /// Do not compare.
    Off,
    /// Accept the session, and flag it (`fingerprintMismatch: true`).
    #[default]
    Warn,
    /// Destroy the session and treat the token as invalid.
    Strict,
}

impl FingerprintPolicy {
    /// Reads `"off"`, `"warn"` or `"strict"`.
    pub fn from_name(name: &str) -> Result<Self, Error> {
        match name {
            "off" => Ok(Self::Off),
            "warn" => Ok(Self::Warn),
            "strict" => Ok(Self::Strict),
            _ => Err(Error::invalid(
                "sessions.fingerprint",
                "must be 'off', 'warn' or 'strict'",
            )),
        }
    }
}

/// The longest timeout accepted, in seconds: 400 days.
pub const MAX_TIMEOUT_SECS: u32 = 400 * 24 * 3600;
/// The largest state size limit accepted: 16 MiB.
pub const MAX_STATE_LIMIT: usize = 16 << 20;

/// Session settings for an engine. Each timeout can be overridden per
/// session at creation ("remember me"). Read from JS as `sessions` in the
/// open options: camelCase keys, unknown keys refused, every key optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SessionConfig {
    /// Idle timeout in seconds. Default 1800 (30 min).
    pub idle_timeout_secs: u32,
    /// Absolute timeout in seconds. Default 43200 (12 h).
    pub absolute_timeout_secs: u32,
    /// Activity is written at most once per this many seconds. Default 60.
    pub touch_interval_secs: u32,
    /// Sessions kept per user; creating one more evicts the least recently
    /// used. Default: no limit.
    pub max_sessions_per_user: Option<u32>,
    /// User agent and network binding. Default [`FingerprintPolicy::Warn`].
    pub fingerprint: FingerprintPolicy,
    /// State size limit in bytes of JSON. Default 65536. Read saturating,
    /// so that a value too large says the range on every target.
    #[serde(deserialize_with = "saturating_usize")]
    pub max_state_bytes: usize,
    /// Keys that seal session state; empty stores it as plaintext JSON.
    pub keys: Keyring,
    /// "Remember me": the idle timeout of a session logged in with
    /// `remember`, in seconds. Default 1,209,600 (14 days).
    pub remember_idle_timeout_secs: u32,
    /// "Remember me": the absolute lifetime of a session logged in with
    /// `remember`, in seconds from the login. Default 2,592,000 (30 days).
    pub remember_absolute_timeout_secs: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 30 * 60,
            absolute_timeout_secs: 12 * 3600,
            touch_interval_secs: 60,
            max_sessions_per_user: None,
            fingerprint: FingerprintPolicy::Warn,
            max_state_bytes: 64 * 1024,
            keys: Keyring::default(),
            remember_idle_timeout_secs: 14 * 86_400,
            remember_absolute_timeout_secs: 30 * 86_400,
        }
    }
}

impl SessionConfig {
    /// Checks the settings, naming the first one out of range.
    pub fn validate(&self) -> Result<(), Error> {
        check_timeout("sessions.idleTimeoutSecs", self.idle_timeout_secs)?;
        check_timeout("sessions.absoluteTimeoutSecs", self.absolute_timeout_secs)?;
        check_timeout(
            "sessions.rememberIdleTimeoutSecs",
            self.remember_idle_timeout_secs,
        )?;
        check_timeout(
            "sessions.rememberAbsoluteTimeoutSecs",
            self.remember_absolute_timeout_secs,
        )?;
        if self.touch_interval_secs > self.idle_timeout_secs {
            return Err(Error::invalid(
                "sessions.touchIntervalSecs",
                "must not exceed the idle timeout",
            ));
        }
        if self.max_sessions_per_user == Some(0) {
            return Err(Error::invalid(
                "sessions.maxSessionsPerUser",
                "must be at least 1",
            ));
        }
        if !(2..=MAX_STATE_LIMIT).contains(&self.max_state_bytes) {
            return Err(Error::invalid(
                "sessions.maxStateBytes",
                format!("must be 2 to {MAX_STATE_LIMIT}"),
            ));
        }
        Ok(())
    }
}

/// A count read as any integer of 0 or more, past `usize` kept at its
/// largest (which [`SessionConfig::validate`] then refuses by its range).
fn saturating_usize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = u64::deserialize(d)?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// A timeout must be 1 second to [`MAX_TIMEOUT_SECS`].
pub(super) fn check_timeout(field: &str, secs: u32) -> Result<(), Error> {
    if (1..=MAX_TIMEOUT_SECS).contains(&secs) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("must be 1 to {MAX_TIMEOUT_SECS} seconds"),
        ))
    }
}
