//! The event model: what callers send, checks on it, and what is stored.

use std::sync::atomic::{AtomicU16, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;

/// An event's category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// Session lifecycle: login, logout, expired.
    Session,
    /// Page views and leaves.
    Page,
    /// Clicks, submits and custom actions.
    Action,
    /// Engine and app events.
    System,
}

impl EventType {
    /// The lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Page => "page",
            Self::Action => "action",
            Self::System => "system",
        }
    }
}

/// An event as a caller sends it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventInput {
    /// A UUID to use as the event id (and idempotency key); drawn if absent.
    pub event_id: Option<String>,
    /// The category.
    #[serde(rename = "type")]
    pub event_type: Option<EventType>,
    /// The event's name, such as `"page_view"`. 1 to 200 characters.
    pub name: String,
    /// Free-form properties: a JSON object of at most 32 KiB, depth 8.
    pub properties: Option<Map<String, Value>>,
    /// Values of registered custom dimensions.
    pub dimensions: Option<Map<String, Value>>,
    /// The page URL.
    pub url: Option<String>,
    /// The page path.
    pub path: Option<String>,
    /// The referrer.
    pub referrer: Option<String>,
    /// The user, if known.
    pub user_id: Option<String>,
    /// The anonymous visitor id, if no user (or before identify).
    pub anonymous_id: Option<String>,
    /// A session token; the event is linked to its session if it is live.
    pub session_token: Option<String>,
    /// A session id, when the caller has it instead of the token.
    pub session_id: Option<String>,
    /// When it happened, ms since the epoch; the clock if absent. Present
    /// but `null` (as `NaN` becomes in JSON) is refused.
    #[serde(default, deserialize_with = "present_number")]
    pub ts: Option<i64>,
    /// The client's IP address; masked before storage.
    pub ip: Option<String>,
    /// The client's user agent; parsed before storage.
    pub user_agent: Option<String>,
}

/// Reads a field that may be missing but, when present, must be an integer.
fn present_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Value::deserialize(d)?;
    match v.as_i64() {
        Some(n) => Ok(Some(n)),
        None => Err(serde::de::Error::custom(format!(
            "ts must be an integer number of ms, not {v}"
        ))),
    }
}

/// Parses an event from JSON text, as JS hosts send it.
pub fn parse(json: &str) -> Result<EventInput, Error> {
    serde_json::from_str(json).map_err(|e| Error::invalid("event", e.to_string()))
}

/// Longest event name, in characters.
pub const MAX_NAME: usize = 200;
/// Largest properties object, as JSON bytes.
pub const MAX_PROPERTIES: usize = 32 * 1024;
/// Deepest nesting of properties.
pub const MAX_DEPTH: usize = 8;
/// Longest URL, path or referrer, in bytes.
pub const MAX_URL: usize = 4096;
/// Latest accepted timestamp: the year 2286.
pub const MAX_TS: i64 = 9_999_999_999_999;

/// The client of a stored event, minimised.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventClient {
    /// The masked IP address.
    pub ip: Option<String>,
    /// Browser family and major version.
    pub browser: Option<String>,
    /// OS family.
    pub os: Option<String>,
    /// Device class.
    pub device: Option<String>,
}

/// A stored event, as history and the outbox return it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The UUIDv7 id.
    pub event_id: String,
    /// When it happened.
    pub ts: i64,
    /// The category.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The name.
    pub name: String,
    /// The user (after identify, also for earlier anonymous events).
    pub user_id: Option<String>,
    /// The anonymous id.
    pub anonymous_id: Option<String>,
    /// The session id.
    pub session_id: Option<String>,
    /// The page URL.
    pub url: Option<String>,
    /// The page path.
    pub path: Option<String>,
    /// The referrer.
    pub referrer: Option<String>,
    /// The properties.
    pub properties: Value,
    /// Registered dimensions set on the event.
    pub dimensions: Option<Value>,
    /// The client, minimised.
    pub client: EventClient,
    /// The raw user agent, only when the config keeps it.
    pub user_agent: Option<String>,
    /// The sampling rate it was kept at: weight counts by 1/rate.
    pub sample_rate: f64,
    /// When the engine stored it.
    pub received_at: i64,
}

/// Sequence for the 12 "rand_a" bits of UUIDv7s made in this process, so
/// that ids drawn in the same millisecond still sort in the order they were
/// made (RFC 9562, 6.2, method 1). Their 62 random bits keep them unique.
static SEQUENCE: AtomicU16 = AtomicU16::new(0);

/// 16 random bytes for an event id, from a pool refilled 4 KiB at a time:
/// on wasm each draw from the OS source is a call out to JS, which cost
/// more than the rest of an event's id. Session tokens do not use this.
fn pooled_random() -> [u8; 16] {
    thread_local! {
        static POOL: std::cell::RefCell<(Box<[u8; 4096]>, usize)> =
            std::cell::RefCell::new((Box::new([0; 4096]), 4096));
    }
    POOL.with(|pool| {
        let (bytes, used) = &mut *pool.borrow_mut();
        if *used + 16 > bytes.len() {
            getrandom::fill(&mut bytes[..]).expect("the platform has no secure random source");
            *used = 0;
        }
        let mut out = [0u8; 16];
        out.copy_from_slice(&bytes[*used..*used + 16]);
        // Each byte is handed out once.
        bytes[*used..*used + 16].fill(0);
        *used += 16;
        out
    })
}

/// A new UUIDv7 for time `ms`: 48 bits of time, a 12-bit sequence, then 62
/// random bits. Ids made in one process sort by time, then by creation.
pub fn uuid_v7(ms: i64) -> String {
    let mut b: [u8; 16] = pooled_random();
    let ms = (ms.max(0) as u64) & 0xFFFF_FFFF_FFFF;
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed) & 0x0FFF;
    b[6] = 0x70 | (seq >> 8) as u8;
    b[7] = seq as u8;
    b[8] = 0x80 | (b[8] & 0x3F);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0x0F)] as char);
    }
    out
}

/// The properties as JSON text, refused past [`MAX_PROPERTIES`] bytes.
pub fn properties_json(props: &Map<String, Value>) -> Result<String, Error> {
    let json =
        serde_json::to_string(props).map_err(|e| Error::invalid("properties", e.to_string()))?;
    if json.len() > MAX_PROPERTIES {
        return Err(Error::invalid(
            "properties",
            format!("must be at most {MAX_PROPERTIES} bytes of JSON"),
        ));
    }
    Ok(json)
}

/// Checks a caller's UUID and returns it in lowercase.
pub fn check_uuid(id: &str) -> Result<String, Error> {
    let ok = id.len() == 36
        && id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if ok {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(Error::invalid(
            "eventId",
            "must be a UUID (8-4-4-4-12 hex digits)",
        ))
    }
}

/// Checks an optional text field's length and control characters.
pub fn check_text(field: &str, value: Option<&str>, max: usize) -> Result<(), Error> {
    let Some(v) = value else { return Ok(()) };
    if v.is_empty() || v.len() > max {
        return Err(Error::invalid(field, format!("must be 1 to {max} bytes")));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// Nesting depth of a JSON value: 0 for a scalar.
pub fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The limits every event meets in every mode.
pub fn check_limits(e: &EventInput) -> Result<(), Error> {
    if e.name.is_empty() || e.name.chars().count() > MAX_NAME {
        return Err(Error::invalid(
            "name",
            format!("must be 1 to {MAX_NAME} characters"),
        ));
    }
    if e.name.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    if let Some(props) = &e.properties {
        if 1 + props.values().map(depth).max().unwrap_or(0) > MAX_DEPTH {
            return Err(Error::invalid(
                "properties",
                format!("must nest at most {MAX_DEPTH} deep"),
            ));
        }
    }
    if let Some(ts) = e.ts {
        if !(0..=MAX_TS).contains(&ts) {
            return Err(Error::invalid(
                "ts",
                "must be ms since the epoch, 0 or later",
            ));
        }
    }
    check_text("url", e.url.as_deref(), MAX_URL)?;
    check_text("path", e.path.as_deref(), MAX_URL)?;
    check_text("referrer", e.referrer.as_deref(), MAX_URL)?;
    for (field, v) in [
        ("userId", &e.user_id),
        ("anonymousId", &e.anonymous_id),
        ("sessionId", &e.session_id),
    ] {
        check_text(field, v.as_deref(), 256)?;
    }
    if let Some(ua) = &e.user_agent {
        crate::privacy::useragent::check(ua)?;
    }
    if let Some(ip) = &e.ip {
        crate::privacy::ip::parse("ip", ip)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn uuid_v7_carries_the_time_and_the_version() {
        let id = uuid_v7(0x0123_4567_89AB);
        assert_eq!(&id[..13], "01234567-89ab");
        assert_eq!(&id[14..15], "7");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(check_uuid(&id).unwrap(), id);
        assert!(uuid_v7(1) < uuid_v7(2), "v7 ids sort by time");
    }

    #[test]
    fn uuid_v7s_made_in_one_millisecond_sort_in_creation_order() {
        let ids: Vec<String> = (0..200).map(|_| uuid_v7(5)).collect();
        // The 12-bit sequence may wrap once (other tests draw ids too).
        let inversions = ids.windows(2).filter(|w| w[0] >= w[1]).count();
        assert!(inversions <= 1, "{inversions} out-of-order ids");
    }

    #[test]
    fn uuids_are_checked() {
        assert!(check_uuid("0190D4A2-0000-7000-8000-000000000000").is_ok());
        for bad in [
            "",
            "x",
            "0190d4a2000070008000000000000000",
            "0190d4a2-0000-7000-8000-00000000000g",
        ] {
            assert!(check_uuid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(depth(&serde_json::json!(1)), 0);
        assert_eq!(depth(&serde_json::json!({ "a": [1, { "b": {} }] })), 4);
        assert_eq!(depth(&serde_json::json!({ "a": [] })), 2);
    }
}
