//! Reading option objects from JS with serde, strictly.

use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;

use crate::error::Error;

/// Reads the plain object `value` into `T`, refusing keys outside `known`.
///
/// serde-wasm-bindgen only looks up the fields a struct names, so
/// `deny_unknown_fields` never fires; a misspelt option would be silently
/// ignored. `known` lists the struct's fields as JS spells them.
pub(crate) fn read<T: DeserializeOwned>(
    value: JsValue,
    field: &str,
    known: &[&str],
) -> crate::Result<T> {
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
