//! Values crossing the boundary as JSON text: `JSON.stringify` on the way
//! in, `JSON.parse` on the way out. One call each way, rather than one per
//! field, and the JSON semantics callers expect (`Date`s become strings,
//! functions inside objects are dropped).

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;

use crate::error::{Error, Result};

/// A JS value as JSON text. What `JSON.stringify` cannot write (`undefined`,
/// a function, a `BigInt`, a cycle) is `INVALID_INPUT` for `field`.
pub(crate) fn stringify(value: &JsValue, field: &str) -> Result<String> {
    js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| {
            Error::invalid(
                field,
                "must be JSON-serialisable (not undefined, a function, a BigInt or a cycle)",
            )
        })
}

/// A JS value read as `T` through its JSON text.
pub(crate) fn from_js<T: DeserializeOwned>(value: &JsValue, field: &str) -> Result<T> {
    serde_json::from_str(&stringify(value, field)?)
        .map_err(|e| Error::invalid(field, e.to_string()))
}

/// A JS value that must be a plain object.
pub(crate) fn object(value: &JsValue, field: &str) -> Result<Map<String, Value>> {
    match from_js(value, field)? {
        Value::Object(map) => Ok(map),
        _ => Err(Error::invalid(field, "must be a plain object")),
    }
}

/// A core value as a plain JS value (numbers, not BigInts).
pub(crate) fn to_js<T: Serialize>(value: &T) -> Result<JsValue> {
    let text = serde_json::to_string(value).map_err(|e| Error::invalid("result", e.to_string()))?;
    js_sys::JSON::parse(&text).map_err(|_| Error::invalid("result", "is not JSON"))
}
