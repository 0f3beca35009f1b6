//! The `Experiments` JS class (`trail.experiments`): a thin shell over
//! [`crate::experiments::Experiments`].

use wasm_bindgen::prelude::*;

use super::input::{self, to_js};
use super::user_trail::Handle;
use crate::experiments::{Experiment, ResultsOptions};

/// A/B experiments: `trail.experiments`.
#[wasm_bindgen(js_name = Experiments)]
pub struct JsExperiments(Handle);

impl JsExperiments {
    pub(crate) fn new(handle: Handle) -> Self {
        Self(handle)
    }
}

#[wasm_bindgen(js_class = Experiments)]
impl JsExperiments {
    /// Defines or redefines an experiment; the first variant is the
    /// control. Users already assigned keep their variant.
    ///
    /// ```javascript
    /// trail.experiments.define({ key: 'buy_button', variants: [{ name: 'blue', weight: 1 }, { name: 'green', weight: 1 }] });
    /// ```
    pub fn define(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Experiment")] experiment: JsValue,
    ) -> Result<(), JsValue> {
        let e: Experiment = input::parse(&experiment, "experiment")?;
        self.0.with(|t| t.experiments().define(&e))
    }

    /// One experiment; `EXPERIMENT_NOT_FOUND` if there is none.
    #[wasm_bindgen(unchecked_return_type = "Experiment")]
    pub fn get(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
    ) -> Result<JsValue, JsValue> {
        let key = input::string(&key, "key")?;
        self.0.with(|t| to_js(&t.experiments().get(&key)?))
    }

    /// Every experiment, by key.
    #[wasm_bindgen(unchecked_return_type = "Experiment[]")]
    pub fn list(&self) -> Result<JsValue, JsValue> {
        self.0.with(|t| to_js(&t.experiments().list()?))
    }

    /// The variant a user (or anonymous id) sees: deterministic, stored,
    /// and recorded once as an `experiment.exposure` event.
    ///
    /// ```javascript
    /// const color = trail.experiments.assign('buy_button', userId);
    /// ```
    pub fn assign(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
    ) -> Result<String, JsValue> {
        let key = input::string(&key, "key")?;
        let user_id = input::string(&user_id, "userId")?;
        self.0.with(|t| t.experiments().assign(&key, &user_id))
    }

    /// Exposures, conversions and rate per variant, with a two-proportion
    /// z-test of each against the control.
    ///
    /// ```javascript
    /// const { variants } = trail.experiments.results('buy_button', { goal: 'purchase' });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "ExperimentResults")]
    pub fn results(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "ExperimentResultsOptions")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        let key = input::string(&key, "key")?;
        let o: ResultsOptions = input::parse(&options, "options")?;
        self.0.with(|t| to_js(&t.experiments().results(&key, &o)?))
    }
}
