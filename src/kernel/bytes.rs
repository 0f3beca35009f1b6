//! Byte strings inside JSON option objects.
//!
//! Hosts read option objects as JSON; a byte string (a JS `Uint8Array`,
//! such as a session key) travels as `{"$bytes": "<base64>"}`, which is
//! what the bindings write for one. Anything else where bytes are expected
//! (a plain array of numbers, a string) is refused, so a key cannot be
//! passed in a form that was never meant to be one.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// The key that marks a byte string in JSON.
pub const MARKER: &str = "$bytes";

/// Whether `map` is a byte string as the bindings write one
/// (`{"$bytes": "<base64>"}`), not a plain object: its text is not text to
/// redact, and it is not an object of properties or state.
pub fn is_bytes(map: &serde_json::Map<String, serde_json::Value>) -> bool {
    map.len() == 1
        && map
            .get(MARKER)
            .and_then(serde_json::Value::as_str)
            .is_some_and(is_base64)
}

/// Whether `text` is standard base64 with padding, as the bindings write
/// it: so a `{"$bytes": …}` written by hand around other text (an email) is
/// an ordinary object, whose text is redacted like any other.
fn is_base64(text: &str) -> bool {
    let body = text.trim_end_matches('=');
    text.len().is_multiple_of(4)
        && text.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// A byte string read from `{"$bytes": "<base64>"}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys travel as bytes: never print them.
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a Uint8Array")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Bytes, A::Error> {
                let key: Option<String> = map.next_key()?;
                if key.as_deref() != Some(MARKER) {
                    return Err(de::Error::custom("expected a Uint8Array"));
                }
                let text: String = map.next_value()?;
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom("expected a Uint8Array"));
                }
                STANDARD
                    .decode(text)
                    .map(Bytes)
                    .map_err(|_| de::Error::custom("expected a Uint8Array"))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn bytes_are_told_from_objects_that_look_like_them() {
        let map = |v: serde_json::Value| v.as_object().cloned().unwrap();
        assert!(is_bytes(&map(serde_json::json!({ "$bytes": "AQr/" }))));
        assert!(is_bytes(&map(serde_json::json!({ "$bytes": "" }))));
        assert!(is_bytes(&map(serde_json::json!({ "$bytes": "AQ==" }))));
        for not in [
            serde_json::json!({ "$bytes": "bob@example.com" }),
            serde_json::json!({ "$bytes": "+1 415 555 0100" }),
            serde_json::json!({ "$bytes": "AQr" }),
            serde_json::json!({ "$bytes": "A===" }),
            serde_json::json!({ "$bytes": 5 }),
            serde_json::json!({ "$bytes": "AQr/", "x": 1 }),
        ] {
            assert!(!is_bytes(&map(not.clone())), "{not}");
        }
    }

    #[test]
    fn only_the_marker_reads_as_bytes() {
        let b: Bytes = serde_json::from_str(r#"{"$bytes":"AQID"}"#).unwrap();
        assert_eq!(b.0, [1, 2, 3]);
        for bad in [
            r#"[1,2,3]"#,
            r#""AQID""#,
            r#"{"bytes":"AQID"}"#,
            r#"{"$bytes":"!!"}"#,
        ] {
            assert!(serde_json::from_str::<Bytes>(bad).is_err(), "{bad}");
        }
        assert_eq!(format!("{b:?}"), "Bytes(3 bytes)");
    }
}
