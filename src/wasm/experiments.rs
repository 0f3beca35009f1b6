//! The `Experiments` JS class (`trail.experiments`): a thin shell over
//! [`crate::experiments::Experiments`].

use wasm_bindgen::prelude::*;

use super::input::js_out;
use super::input::{self, to_js};
use super::user_trail::{promise, Handle};
use crate::experiments::{Experiment, ResultsOptions};
use js_sys::Promise;

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
    /// await trail.experiments.define({ key: 'buy_button', variants: [{ name: 'blue', weight: 1 }, { name: 'green', weight: 1 }] });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn define(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Experiment")] experiment: JsValue,
    ) -> Promise {
        promise(|| {
            let e: Experiment = input::parse(&experiment, "experiment")?;

            Ok(self.0.now(move |t| js_out(t.experiments().define(&e))))
        })
    }

    /// One experiment; `EXPERIMENT_NOT_FOUND` if there is none.
    #[wasm_bindgen(unchecked_return_type = "Promise<Experiment>")]
    pub fn get(&self, #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue) -> Promise {
        promise(|| {
            let key = input::string(&key, "key")?;

            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.experiments().get(&key)?))))
        })
    }

    /// Every experiment, by key.
    #[wasm_bindgen(unchecked_return_type = "Promise<Experiment[]>")]
    pub fn list(&self) -> Promise {
        promise(|| Ok(self.0.now(move |t| js_out(to_js(&t.experiments().list()?)))))
    }

    /// The variant a user (or anonymous id) sees: deterministic, stored,
    /// and recorded once as an `experiment.exposure` event.
    ///
    /// ```javascript
    /// const color = await trail.experiments.assign('buy_button', userId);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn assign(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
    ) -> Promise {
        promise(|| {
            let key = input::string(&key, "key")?;
            let user_id = input::string(&user_id, "userId")?;

            Ok(self.0.run(move |open| async move {
                let t = &open.trail;
                js_out(t.assign(&key, &user_id).await)
            }))
        })
    }

    /// Exposures, conversions and rate per variant, with a two-proportion
    /// z-test of each against the control.
    ///
    /// ```javascript
    /// const { variants } = await trail.experiments.results('buy_button', { goal: 'purchase' });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<ExperimentResults>")]
    pub fn results(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "ExperimentResultsOptions")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let key = input::string(&key, "key")?;
            let o: ResultsOptions = input::parse(&options, "options")?;

            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.experiments().results(&key, &o)?))))
        })
    }
}
