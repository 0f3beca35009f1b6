//! The `Prefs` JS class (`trail.prefs`): a thin shell over
//! [`crate::prefs::Prefs`].

use serde::Deserialize;
use wasm_bindgen::prelude::*;

use super::input::js_out;
use super::input::{self, to_js};
use super::user_trail::{promise, Handle};
use crate::prefs::PrefDefinition;
use js_sys::Promise;

/// Why an `undefined` value is refused, and the call that does what it may mean.
const RESET_HINT: &str = "is required (to go back to the default, call prefs.reset(userId, key))";

/// `{ source }`: who changed a preference, for its history (default `'api'`).
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct SourceJs {
    source: Option<String>,
}

impl SourceJs {
    fn source(&self) -> &str {
        self.source.as_deref().unwrap_or("api")
    }
}

/// `{ category }`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct CategoryJs {
    category: Option<String>,
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
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn define(
        &self,
        #[wasm_bindgen(unchecked_param_type = "PrefDefinition")] definition: JsValue,
    ) -> Promise {
        promise(|| {
            let def: PrefDefinition = input::parse(&definition, "definition")?;

            // The definition's own checks name its options as the reading
            // of it does (`definition.default`), as for any argument.
            Ok(self
                .0
                .now(move |t| js_out(t.prefs().define(&def).map_err(|e| e.within("definition")))))
        })
    }

    /// The definitions, of one category or all.
    #[wasm_bindgen(unchecked_return_type = "Promise<PrefDefinition[]>")]
    pub fn definitions(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ category?: string }")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        promise(|| {
            let o: CategoryJs = input::options(&options.unwrap_or_default(), "options")?;

            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.prefs().definitions(o.category.as_deref())?))))
        })
    }

    /// A subject's effective value for one preference.
    #[wasm_bindgen(unchecked_return_type = "Promise<PrefValue>")]
    pub fn get(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
    ) -> Promise {
        promise(|| {
            let user_id = input::string(&user_id, "userId")?;
            let key = input::string(&key, "key")?;

            Ok(self.0.run(move |open| async move {
                let t = &open.trail;
                js_out(to_js(&t.prefs().get(&user_id, &key).await?))
            }))
        })
    }

    /// A subject's effective values, of one category or all.
    ///
    /// ```javascript
    /// const values = await trail.prefs.getAll(userId, { category: 'notifications' });
    /// ```
    #[wasm_bindgen(js_name = getAll, unchecked_return_type = "Promise<PrefValue[]>")]
    pub fn get_all(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ category?: string }")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        promise(|| {
            let user_id = input::string(&user_id, "userId")?;
            let o: CategoryJs = input::options(&options.unwrap_or_default(), "options")?;

            Ok(self.0.run(move |open| async move {
                let t = &open.trail;
                js_out(to_js(
                    &t.prefs().get_all(&user_id, o.category.as_deref()).await?,
                ))
            }))
        })
    }

    /// Sets one preference; `source` (default `'api'`) goes into the history.
    #[wasm_bindgen(unchecked_return_type = "Promise<PrefValue>")]
    pub fn set(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "{} | null")] value: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ source?: string }")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        promise(|| {
            let user_id = input::string(&user_id, "userId")?;
            let key = input::string(&key, "key")?;
            if value.is_undefined() {
                return Err(crate::Error::invalid(key, RESET_HINT));
            }
            // Read as text: the key's definition bounds the value before
            // it is built (a million small objects for a 4 KiB value).
            let value = input::value_text(&value, &key)?;
            let o: SourceJs = input::options(&options.unwrap_or_default(), "options")?;

            Ok(self.0.run(move |open| async move {
                let t = &open.trail;
                js_out(to_js(
                    &t.prefs()
                        .set_json(&user_id, &key, &value, o.source())
                        .await?,
                ))
            }))
        })
    }

    /// Sets several preferences: all checked, then all written, or none.
    ///
    /// ```javascript
    /// await trail.prefs.setMany(userId, { 'appearance.theme': 'dark', 'locale.language': 'fr-CA' });
    /// ```
    #[wasm_bindgen(js_name = setMany, unchecked_return_type = "Promise<void>")]
    pub fn set_many(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Record<string, {} | null>")] values: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ source?: string }")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        promise(|| {
            let user_id = input::string(&user_id, "userId")?;
            // A refusal inside an entry is named by its key (and the path
            // in it), as the engine's checks of the values name them.
            let values = input::object_texts(&values, "values").map_err(|e| match e {
                crate::Error::InvalidInput { field, reason } if field.starts_with("values.") => {
                    let reason = if reason == "is required" {
                        RESET_HINT.to_owned()
                    } else {
                        reason
                    };
                    crate::Error::invalid(&field["values.".len()..], reason)
                }
                e => e,
            })?;
            let o: SourceJs = input::options(&options.unwrap_or_default(), "options")?;

            Ok(self.0.run(move |open| async move {
                let t = &open.trail;
                let values: Vec<(String, &str)> =
                    values.iter().map(|(k, v)| (k.clone(), v.get())).collect();
                js_out(t.prefs().set_many_json(&user_id, &values, o.source()).await)
            }))
        })
    }

    /// Returns one preference, or all, to the default. Returns how many.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn reset(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "string")] key: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "{ source?: string }")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        promise(|| {
            let user_id = input::string(&user_id, "userId")?;
            let key = input::opt_string(&key.unwrap_or_default(), "key")?;
            let o: SourceJs = input::options(&options.unwrap_or_default(), "options")?;

            Ok(self.0.run(move |open| async move {
                let t = &open.trail;
                {
                    js_out({
                        let n = t
                            .prefs()
                            .reset(&user_id, key.as_deref(), o.source())
                            .await?;
                        Ok(n as f64)
                    })
                }
            }))
        })
    }

    /// Every change of a subject's preferences, oldest first.
    #[wasm_bindgen(unchecked_return_type = "Promise<PrefChange[]>")]
    pub fn history(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
    ) -> Promise {
        promise(|| {
            let user_id = input::string(&user_id, "userId")?;

            Ok(self.0.run(move |open| async move {
                let t = &open.trail;
                js_out(to_js(&t.prefs().history(&user_id).await?))
            }))
        })
    }
}
