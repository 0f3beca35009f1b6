//! Core errors become `UserTrailError`, a JS `Error` subclass with `code`.

use wasm_bindgen::prelude::*;

use crate::error::{Error, ErrorCode};
use crate::store::StoreError;

#[wasm_bindgen(module = "/src/wasm/error.js")]
extern "C" {
    /// The JS class `UserTrailError extends Error`.
    #[wasm_bindgen(js_name = UserTrailError)]
    type JsUserTrailError;

    #[wasm_bindgen(constructor, js_class = UserTrailError)]
    fn new(code: &str, message: &str, field: Option<String>) -> JsUserTrailError;
}

impl From<Error> for JsValue {
    fn from(e: Error) -> Self {
        let field = match &e {
            Error::InvalidInput { field, .. }
            | Error::Store(StoreError::InvalidInput { field, .. }) => Some(field.clone()),
            _ => None,
        };
        JsUserTrailError::new(e.code(), &e.to_string(), field).into()
    }
}

/// Shorthand for bindings: a core result with the error thrown as a
/// `UserTrailError`.
pub(crate) fn js<T>(r: crate::Result<T>) -> Result<T, JsValue> {
    r.map_err(JsValue::from)
}
