//! Reading `UserTrail.open`'s options object into the core's options.

use std::sync::Arc;

use serde::Deserialize;
use wasm_bindgen::prelude::*;

use super::clock::{DateClock, FnClock};
use super::opfs::{self, OpfsOptions};
use super::options::{read, read_opt, uint8array, JsOptions};
use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::privacy::ip::IpMask;
use crate::privacy::PrivacyConfig;
use crate::session::{FingerprintPolicy, Keyring, SessionConfig};
use crate::store::StoreOptions;
use crate::tracking::{OutboxConfig, SamplingRule, TrackingConfig, ValidationMode};
use crate::{OpenOptions, Storage};

const STORAGE_KINDS: &str = "must be 'memory', 'opfs', { opfs: { name?, pool?, directory? } }, \
     { bytes: Uint8Array } or { file: path } (Node, Deno, Bun)";

/// The options object of `UserTrail.open`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OpenOptionsJs {
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    storage: JsValue,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    clock: JsValue,
    busy_timeout_ms: Option<u32>,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    sessions: JsValue,
    ip_mask: Option<IpMaskJs>,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    tracking: JsValue,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    privacy: JsValue,
}

impl JsOptions for OpenOptionsJs {
    const KEYS: &'static [&'static str] = &[
        "storage",
        "clock",
        "busyTimeoutMs",
        "sessions",
        "ipMask",
        "tracking",
        "privacy",
    ];
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IpMaskJs {
    v4_bits: Option<u8>,
    v6_bits: Option<u8>,
}

/// `sessions` in the open options.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SessionsJs {
    idle_timeout_secs: Option<u32>,
    absolute_timeout_secs: Option<u32>,
    touch_interval_secs: Option<u32>,
    max_sessions_per_user: Option<u32>,
    fingerprint: Option<String>,
    max_state_bytes: Option<u32>,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    keys: JsValue,
}

impl JsOptions for SessionsJs {
    const KEYS: &'static [&'static str] = &[
        "idleTimeoutSecs",
        "absoluteTimeoutSecs",
        "touchIntervalSecs",
        "maxSessionsPerUser",
        "fingerprint",
        "maxStateBytes",
        "keys",
    ];
}

/// The options, read; OPFS, if asked for, is installed by [`Parsed::storage`].
pub(crate) struct Parsed {
    storage: StorageOption,
    options: OpenOptions,
}

enum StorageOption {
    Memory,
    Bytes(Vec<u8>),
    Opfs(OpfsOptions),
    File(String, super::hostfs::HostFs),
}

/// Reads the options object (`undefined` means all defaults).
pub(crate) fn parse(value: JsValue) -> Result<Parsed> {
    let js: OpenOptionsJs = read_opt(Some(value), "options")?;
    #[allow(clippy::arc_with_non_send_sync)] // wasm is single-threaded
    let clock: SharedClock = if js.clock.is_undefined() {
        Arc::new(DateClock)
    } else {
        Arc::new(FnClock::new(js.clock)?)
    };
    let mut sessions = sessions(js.sessions)?;
    let mut tracking = tracking(js.tracking)?;
    if let Some(mask) = js.ip_mask {
        sessions.ip_mask = IpMask {
            v4_bits: mask.v4_bits.unwrap_or(IpMask::default().v4_bits),
            v6_bits: mask.v6_bits.unwrap_or(IpMask::default().v6_bits),
        };
    }
    tracking.ip_mask = sessions.ip_mask;
    let mut options = OpenOptions::new(Storage::Memory)
        .clock(clock)
        .sessions(sessions)
        .tracking(tracking)
        .privacy(privacy(js.privacy)?);
    if let Some(ms) = js.busy_timeout_ms {
        options.store = StoreOptions {
            busy_timeout_ms: ms,
        };
    }
    Ok(Parsed {
        storage: storage_option(&js.storage)?,
        options,
    })
}

impl Parsed {
    /// The core options, with OPFS installed if asked for, and the lease that
    /// keeps a second engine in this worker off the OPFS file.
    pub(crate) async fn resolve(mut self) -> Result<(OpenOptions, Option<opfs::Lease>)> {
        let (storage, lease) = match self.storage {
            StorageOption::Memory => (Storage::Memory, None),
            StorageOption::Bytes(bytes) => (Storage::Bytes(bytes), None),
            StorageOption::Opfs(o) => {
                let (storage, lease) = opfs::storage(o).await?;
                (storage, Some(lease))
            }
            StorageOption::File(name, fs) => {
                super::hostfs::install(fs)?;
                let vfs = super::hostfs::VFS_NAME.to_owned();
                (Storage::Vfs { name, vfs }, None)
            }
        };
        self.options.storage = storage;
        Ok((self.options, lease))
    }
}

/// Reads `storage`: a kind's name, `{ bytes }` or `{ opfs }`.
fn storage_option(value: &JsValue) -> Result<StorageOption> {
    if value.is_undefined() || value.is_null() {
        return Ok(StorageOption::Memory);
    }
    if let Some(kind) = value.as_string() {
        return match kind.as_str() {
            "memory" => Ok(StorageOption::Memory),
            "opfs" => Ok(StorageOption::Opfs(OpfsOptions::default())),
            _ => Err(Error::invalid("storage", STORAGE_KINDS)),
        };
    }
    if !value.is_object() {
        return Err(Error::invalid("storage", STORAGE_KINDS));
    }
    let get = |key: &str| js_sys::Reflect::get(value, &key.into()).unwrap_or(JsValue::UNDEFINED);
    let (bytes, opfs, file) = (get("bytes"), get("opfs"), get("file"));
    if !file.is_undefined() {
        let path = file
            .as_string()
            .ok_or_else(|| Error::invalid("storage.file", "must be a path"))?;
        let fs = get("fs");
        if !fs.is_object() {
            return Err(Error::from(crate::store::StoreError::Unsupported {
                what: "file storage needs a host file API (Node, Deno or Bun)".into(),
            }));
        }
        return Ok(StorageOption::File(path, fs.unchecked_into()));
    }
    match (bytes.is_undefined(), opfs.is_undefined()) {
        (false, true) => uint8array(bytes, "storage.bytes").map(StorageOption::Bytes),
        (true, false) => read(opfs, "storage.opfs").map(StorageOption::Opfs),
        _ => Err(Error::invalid("storage", STORAGE_KINDS)),
    }
}

/// Reads `sessions` into the core's settings.
fn sessions(value: JsValue) -> Result<SessionConfig> {
    let mut config = SessionConfig::default();
    let js: SessionsJs = read_opt(Some(value), "sessions")?;
    config.idle_timeout_secs = js.idle_timeout_secs.unwrap_or(config.idle_timeout_secs);
    config.absolute_timeout_secs = js
        .absolute_timeout_secs
        .unwrap_or(config.absolute_timeout_secs);
    config.touch_interval_secs = js.touch_interval_secs.unwrap_or(config.touch_interval_secs);
    config.max_sessions_per_user = js.max_sessions_per_user;
    if let Some(name) = js.fingerprint {
        config.fingerprint = FingerprintPolicy::from_name(&name)?;
    }
    if let Some(bytes) = js.max_state_bytes {
        config.max_state_bytes = bytes as usize;
    }
    if !js.keys.is_undefined() {
        config.keys = keys(js.keys)?;
    }
    Ok(config)
}

/// `tracking` in the open options.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TrackingJs {
    validation: Option<ValidationMode>,
    sampling: Option<Vec<SamplingRule>>,
    store_raw_user_agent: Option<bool>,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    outbox: JsValue,
}

impl JsOptions for TrackingJs {
    const KEYS: &'static [&'static str] =
        &["validation", "sampling", "storeRawUserAgent", "outbox"];
}

#[derive(Deserialize, Default)]
struct OutboxJs {
    cap: Option<u32>,
}

impl JsOptions for OutboxJs {
    const KEYS: &'static [&'static str] = &["cap"];
}

/// Reads `tracking` into the core's settings.
fn tracking(value: JsValue) -> Result<TrackingConfig> {
    let js: TrackingJs = read_opt(Some(value), "tracking")?;
    let outbox = match js.outbox.as_bool() {
        Some(true) => Some(OutboxConfig::default()),
        Some(false) => None,
        None if js.outbox.is_undefined() || js.outbox.is_null() => None,
        None => {
            let o: OutboxJs = read(js.outbox, "tracking.outbox")?;
            Some(OutboxConfig {
                cap: o.cap.unwrap_or(OutboxConfig::default().cap),
            })
        }
    };
    Ok(TrackingConfig {
        validation: js.validation.unwrap_or_default(),
        sampling: js.sampling.unwrap_or_default(),
        store_raw_user_agent: js.store_raw_user_agent.unwrap_or(false),
        outbox,
        ip_mask: IpMask::default(),
    })
}

/// `privacy` in the open options.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PrivacyJs {
    policy_version: Option<String>,
    require_consent: Option<Vec<String>>,
    redact_pii: Option<bool>,
    purposes: Option<Vec<String>>,
    retention_interval_secs: Option<u64>,
}

impl JsOptions for PrivacyJs {
    const KEYS: &'static [&'static str] = &[
        "policyVersion",
        "requireConsent",
        "redactPii",
        "purposes",
        "retentionIntervalSecs",
    ];
}

/// Reads `privacy` into the core's settings.
fn privacy(value: JsValue) -> Result<PrivacyConfig> {
    let js: PrivacyJs = read_opt(Some(value), "privacy")?;
    let d = PrivacyConfig::default();
    Ok(PrivacyConfig {
        policy_version: js.policy_version.unwrap_or(d.policy_version),
        require_consent: js.require_consent.unwrap_or(d.require_consent),
        redact_pii: js.redact_pii.unwrap_or(d.redact_pii),
        purposes: js.purposes.unwrap_or(d.purposes),
        retention_interval_secs: js
            .retention_interval_secs
            .unwrap_or(d.retention_interval_secs),
    })
}

/// Reads `[{ id, key: Uint8Array }]`, newest first.
fn keys(value: JsValue) -> Result<Keyring> {
    let list: js_sys::Array = value
        .dyn_into()
        .map_err(|_| Error::invalid("sessions.keys", "must be an array of { id, key }"))?;
    let mut pairs = Vec::new();
    for entry in list.iter() {
        if !entry.is_object() {
            return Err(Error::invalid(
                "sessions.keys",
                "must be an array of { id, key }",
            ));
        }
        let get = |k: &str| js_sys::Reflect::get(&entry, &k.into()).unwrap_or(JsValue::UNDEFINED);
        let id = get("id")
            .as_string()
            .ok_or_else(|| Error::invalid("sessions.keys.id", "must be a string"))?;
        pairs.push((id, uint8array(get("key"), "sessions.keys.key")?));
    }
    Keyring::new(pairs)
}
