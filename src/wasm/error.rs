//! Core errors become `UserTrailError`, a JS `Error` subclass with `code`.

use wasm_bindgen::prelude::*;

use crate::error::{Error, ErrorCode};

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
        let field = e.field().map(str::to_owned);
        JsUserTrailError::new(e.code(), &e.to_string(), field).into()
    }
}

/// Shorthand for bindings: a core result with the error thrown as a
/// `UserTrailError`.
pub(crate) fn js<T>(r: crate::Result<T>) -> Result<T, JsValue> {
    r.map_err(JsValue::from)
}
