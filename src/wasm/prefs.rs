//! The `Prefs` JS class (`trail.prefs`): a thin shell over
//! [`crate::prefs::Prefs`].

use serde::Deserialize;
use serde_json::Value;
use wasm_bindgen::prelude::*;

use super::json::{self, to_js};
use super::options::{read_opt, string, JsOptions};
use super::user_trail::Handle;
use crate::error::Result;
use crate::prefs::PrefDefinition;

#[derive(Deserialize, Default)]
struct SourceJs {
    source: Option<String>,
}

impl JsOptions for SourceJs {
    const KEYS: &'static [&'static str] = &["source"];
}

impl SourceJs {
    fn source(&self) -> &str {
        self.source.as_deref().unwrap_or("api")
    }
}

#[derive(Deserialize, Default)]
struct CategoryJs {
    category: Option<String>,
}

impl JsOptions for CategoryJs {
    const KEYS: &'static [&'static str] = &["category"];
}

/// User preferences: `trail.prefs`. Subjects are user ids or anonymous ids.
#[wasm_bindgen(js_name = Prefs)]
pub struct JsPrefs(Handle);

impl JsPrefs {
    pub(crate) fn new(handle: Handle) -> Self {
        Self(handle)
    }
}

#[wasm_bindgen(js_class = Prefs)]
impl JsPrefs {
    /// Defines or redefines a preference. A new default reaches only the
    /// subjects who never set it.
    ///
    /// ```javascript
    /// await trail.prefs.define({ key: 'editor.fontSize', category: 'editor', type: 'number', default: 14, min: 8, max: 32 });
    /// ```
    pub fn define(
        &self,
        #[wasm_bindgen(unchecked_param_type = "PrefDefinition")] definition: JsValue,
    ) -> Result<(), JsValue> {
        self.0.with(|t| {
            let def: PrefDefinition = json::from_js(&definition, "definition")?;
            t.prefs().define(&def)
        })
    }

    /// The definitions, of one category or all.
    #[wasm_bindgen(unchecked_return_type = "PrefDefinition[]")]
    pub fn definitions(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ category?: string }")] options: Option<
            JsValue,
        >,
    ) -> Result<JsValue, JsValue> {
        self.0.with(|t| {
            let o: CategoryJs = read_opt(options, "options")?;
            to_js(&t.prefs().definitions(o.category.as_deref())?)
        })
    }

    /// A subject's effective value for one preference.
    #[wasm_bindgen(unchecked_return_type = "PrefValue")]
    pub fn get(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.0.with(|t| {
            to_js(
                &t.prefs()
                    .get(&string(&user_id, "userId")?, &string(&key, "key")?)?,
            )
        })
    }

    /// A subject's effective values, of one category or all.
    ///
    /// ```javascript
    /// const values = await trail.prefs.getAll(userId, { category: 'notifications' });
    /// ```
    #[wasm_bindgen(js_name = getAll, unchecked_return_type = "PrefValue[]")]
    pub fn get_all(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ category?: string }")] options: Option<
            JsValue,
        >,
    ) -> Result<JsValue, JsValue> {
        self.0.with(|t| {
            let o: CategoryJs = read_opt(options, "options")?;
            to_js(
                &t.prefs()
                    .get_all(&string(&user_id, "userId")?, o.category.as_deref())?,
            )
        })
    }

    /// Sets one preference; `source` (default `'api'`) goes into the history.
    #[wasm_bindgen(unchecked_return_type = "PrefValue")]
    pub fn set(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ source?: string }")] options: Option<
            JsValue,
        >,
    ) -> Result<JsValue, JsValue> {
        self.0.with(|t| {
            let o: SourceJs = read_opt(options, "options")?;
            let key = string(&key, "key")?;
            let value: Value = json::from_js(&value, &key)?;
            to_js(
                &t.prefs()
                    .set(&string(&user_id, "userId")?, &key, &value, o.source())?,
            )
        })
    }

    /// Sets several preferences: all checked, then all written, or none.
    ///
    /// ```javascript
    /// await trail.prefs.setMany(userId, { 'appearance.theme': 'dark', 'locale.language': 'fr-CA' });
    /// ```
    #[wasm_bindgen(js_name = setMany)]
    pub fn set_many(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Record<string, unknown>")] values: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ source?: string }")] options: Option<
            JsValue,
        >,
    ) -> Result<(), JsValue> {
        self.0.with(|t| {
            let o: SourceJs = read_opt(options, "options")?;
            let values = json::object(&values, "values")?;
            t.prefs()
                .set_many(&string(&user_id, "userId")?, &values, o.source())
        })
    }

    /// Returns one preference, or all, to the default. Returns how many.
    pub fn reset(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "string")] key: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "{ source?: string }")] options: Option<
            JsValue,
        >,
    ) -> Result<f64, JsValue> {
        self.0.with(|t| {
            let o: SourceJs = read_opt(options, "options")?;
            let key = key
                .filter(|k| !k.is_undefined() && !k.is_null())
                .map(|k| string(&k, "key"))
                .transpose()?;
            let n = t
                .prefs()
                .reset(&string(&user_id, "userId")?, key.as_deref(), o.source())?;
            Ok(n as f64)
        })
    }

    /// Every change of a subject's preferences, oldest first.
    #[wasm_bindgen(unchecked_return_type = "PrefChange[]")]
    pub fn history(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.0
            .with(|t| to_js(&t.prefs().history(&string(&user_id, "userId")?)?))
    }
}
