//! Reading option objects from JS with serde, strictly.

use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;

use crate::error::Error;

/// An options object JS passes in.
pub(crate) trait JsOptions: DeserializeOwned + Default {
    /// The struct's fields as JS spells them. serde-wasm-bindgen only looks
    /// up the fields a struct names, so `deny_unknown_fields` never fires;
    /// [`read`] refuses other keys itself, so a misspelt option is an error,
    /// not silently ignored.
    const KEYS: &'static [&'static str];
}

/// Reads the plain object `value` into `T`, refusing keys outside `T::KEYS`.
pub(crate) fn read<T: JsOptions>(value: JsValue, field: &str) -> crate::Result<T> {
    let known = T::KEYS;
    if !value.is_object() || js_sys::Array::is_array(&value) {
        return Err(Error::invalid(field, "must be a plain object"));
    }
    let keys = js_sys::Object::keys(value.unchecked_ref::<js_sys::Object>());
    for key in keys.iter().filter_map(|k| k.as_string()) {
        if !known.contains(&key.as_str()) {
            return Err(Error::invalid(
                field,
                format!("unknown option {key:?}; known: {}", known.join(", ")),
            ));
        }
    }
    serde_wasm_bindgen::from_value(value).map_err(|e| Error::invalid(field, e.to_string()))
}

/// Copies a `Uint8Array` (a Node `Buffer` is one); anything else is
/// `INVALID_INPUT` for `field`.
pub(crate) fn uint8array(value: JsValue, field: &str) -> crate::Result<Vec<u8>> {
    value
        .dyn_into::<js_sys::Uint8Array>()
        .map(|b| b.to_vec())
        .map_err(|_| Error::invalid(field, "must be a Uint8Array"))
}

/// A string argument; anything else is `INVALID_INPUT` for `field`.
pub(crate) fn string(value: &JsValue, field: &str) -> crate::Result<String> {
    value
        .as_string()
        .ok_or_else(|| Error::invalid(field, "must be a string"))
}

/// An optional options object: missing, `undefined` and `null` read as the
/// default.
pub(crate) fn read_opt<T: JsOptions>(value: Option<JsValue>, field: &str) -> crate::Result<T> {
    match value {
        Some(v) if !v.is_undefined() && !v.is_null() => read(v, field),
        _ => Ok(T::default()),
    }
}
