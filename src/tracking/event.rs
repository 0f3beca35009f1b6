//! The event model: what callers send, checks on it, and what is stored.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::kernel::{net, text, useragent};

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

    /// The type's number in a packed block of events
    /// ([`crate::tracking::blocks`]): 1 to 4, in the order above.
    pub fn code(self) -> u8 {
        match self {
            Self::Session => 1,
            Self::Page => 2,
            Self::Action => 3,
            Self::System => 4,
        }
    }

    /// The type of a code [`EventType::code`] gives; `None` for any other
    /// (0 stands for a type not known in a packed block).
    pub fn of_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Session),
            2 => Some(Self::Page),
            3 => Some(Self::Action),
            4 => Some(Self::System),
            _ => None,
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
    /// The client already reduced (a masked IP, a browser, an OS, a device
    /// class), for an event without `userAgent` or `ip`: as another engine
    /// or the quarantine keeps it.
    pub client: Option<EventClient>,
}

/// Reads a field that may be missing but, when present, must be an integer.
fn present_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Value::deserialize(d)?;
    match v.as_i64() {
        Some(n) => Ok(Some(n)),
        None => Err(serde::de::Error::custom(crate::kernel::calendar::not_ms(
            &v,
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

/// The client of a stored event, minimised. An event may also come with
/// one (as another engine stored it, or as the quarantine keeps it): it is
/// used when the event has no `userAgent` of its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
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

/// A stored event, as history and the outbox return it, and as one engine
/// forwards it to another (a collector, a partition): read back with every
/// field checked and unknown ones refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
    #[serde(default = "empty_object")]
    pub properties: Value,
    /// Registered dimensions set on the event.
    #[serde(default)]
    pub dimensions: Option<Value>,
    /// The client, minimised.
    #[serde(default)]
    pub client: EventClient,
    /// The raw user agent, only when the config keeps it.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The sampling rate it was kept at: weight counts by 1/rate.
    #[serde(default = "one")]
    pub sample_rate: f64,
    /// When the engine stored it.
    #[serde(default)]
    pub received_at: i64,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

fn one() -> f64 {
    1.0
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
        if crate::kernel::bytes::is_bytes(props) {
            return Err(Error::invalid(
                "properties",
                "must be a plain object, not bytes",
            ));
        }
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
                format!("must be ms since the epoch, from 0 to {MAX_TS} (the year 2286)"),
            ));
        }
    }
    text::check_opt("url", e.url.as_deref(), MAX_URL)?;
    text::check_opt("path", e.path.as_deref(), MAX_URL)?;
    text::check_opt("referrer", e.referrer.as_deref(), MAX_URL)?;
    for (field, v) in [
        ("userId", &e.user_id),
        ("anonymousId", &e.anonymous_id),
        ("sessionId", &e.session_id),
    ] {
        text::check_opt(field, v.as_deref(), 256)?;
    }
    if let Some(ua) = &e.user_agent {
        useragent::check(ua)?;
    }
    if let Some(ip) = &e.ip {
        net::parse("ip", ip)?;
    }
    if let Some(c) = &e.client {
        if let Some(ip) = &c.ip {
            net::parse("client.ip", ip)?;
        }
        text::check_opt("client.browser", c.browser.as_deref(), 128)?;
        text::check_opt("client.os", c.os.as_deref(), 128)?;
        if let Some(d) = &c.device {
            if useragent::DeviceClass::from_name(d).as_str() != d {
                return Err(Error::invalid(
                    "client.device",
                    "must be desktop, mobile, tablet, bot or unknown",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn uuid_v7s_pass_the_check() {
        let id = crate::kernel::ids::uuid_v7(0x0123_4567_89AB);
        assert_eq!(check_uuid(&id).unwrap(), id);
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
