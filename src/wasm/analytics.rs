//! The `Analytics` JS class (`trail.analytics`): a thin shell over
//! [`crate::analytics::Analytics`]. Each method takes one options object,
//! which the core splits into the shared query and the method's own
//! options.

use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;

use super::input::js_out;
use super::input::{self, to_js};
use super::user_trail::{promise, Handle};
use crate::analytics::{
    split, ActiveUsersOptions, BreakdownOptions, CohortsOptions, FeatureUsageOptions,
    FunnelOptions, NoOptions, PathsOptions, PatternsOptions, Query, RealtimeOptions,
    RetentionOptions, TopPagesOptions,
};
use js_sys::Promise;

/// The shared query and a method's own options, from one optional object.
fn options<T: DeserializeOwned + Default>(value: Option<JsValue>) -> crate::Result<(Query, T)> {
    match value {
        Some(v) if !v.is_undefined() && !v.is_null() => split(input::object(&v, "options")?),
        _ => Ok((Query::default(), T::default())),
    }
}

/// Analytics computed on the device: `trail.analytics`. Read-only.
#[wasm_bindgen(js_name = Analytics)]
pub struct JsAnalytics(Handle);

impl JsAnalytics {
    pub(crate) fn new(handle: Handle) -> Self {
        Self(handle)
    }
}

#[wasm_bindgen(js_class = Analytics)]
impl JsAnalytics {
    /// Events, distinct users and sessions in the range, and their ratios.
    ///
    /// ```javascript
    /// const s = await trail.analytics.summary({ since: Date.now() - 7 * 864e5 });
    /// ```
    #[wasm_bindgen(js_name = summary, unchecked_return_type = "Promise<Summary>")]
    pub fn summary(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "AnalyticsQuery")] options: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let (q, _): (Query, NoOptions) = self::options(options)?;

            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.analytics().summary(&q)?))))
        })
    }

    /// Distinct users per day, week or month, and DAU/MAU stickiness.
    ///
    /// ```javascript
    /// const { buckets, stickiness } = await trail.analytics.activeUsers({ interval: 'day', timezone: -300 });
    /// ```
    #[wasm_bindgen(js_name = activeUsers, unchecked_return_type = "Promise<ActiveUsers>")]
    pub fn active_users(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "AnalyticsQuery & { interval?: Interval }")]
        options: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let (q, o): (Query, ActiveUsersOptions) = self::options(options)?;

            Ok(self.0.now(move |t| {
                js_out({
                    to_js(
                        &t.analytics()
                            .active_users(&q, o.interval.unwrap_or_default())?,
                    )
                })
            }))
        })
    }

    /// Users and events over the last `windowSecs` (default 300), per minute.
    #[wasm_bindgen(js_name = realtime, unchecked_return_type = "Promise<Realtime>")]
    pub fn realtime(
        &self,
        #[wasm_bindgen(
            unchecked_optional_param_type = "AnalyticsFilters & { windowSecs?: number }"
        )]
        options: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let (q, o): (Query, RealtimeOptions) = self::options(options)?;

            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.analytics().realtime(&q, &o)?))))
        })
    }

    /// Views, unique viewers and mean time on page, per page.
    #[wasm_bindgen(js_name = topPages, unchecked_return_type = "Promise<TopPages>")]
    pub fn top_pages(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "AnalyticsQuery & { limit?: number }")]
        options: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let (q, o): (Query, TopPagesOptions) = self::options(options)?;

            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.analytics().top_pages(&q, &o)?))))
        })
    }

    /// Session duration statistics and histogram.
    #[wasm_bindgen(js_name = sessionDurations, unchecked_return_type = "Promise<SessionDurations>")]
    pub fn session_durations(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "AnalyticsQuery")] options: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let (q, _): (Query, NoOptions) = self::options(options)?;

            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.analytics().session_durations(&q)?))))
        })
    }

    /// Events and users grouped by `type`, `name` (default) or a dimension.
    #[wasm_bindgen(js_name = eventBreakdown, unchecked_return_type = "Promise<Breakdown>")]
    pub fn event_breakdown(
        &self,
        #[wasm_bindgen(
            unchecked_optional_param_type = "AnalyticsQuery & { by?: string; limit?: number }"
        )]
        options: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let (q, o): (Query, BreakdownOptions) = self::options(options)?;

            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.analytics().event_breakdown(&q, &o)?))))
        })
    }

    /// Users, uses and adoption per feature (an event name).
    #[wasm_bindgen(js_name = featureUsage, unchecked_return_type = "Promise<FeatureUsage>")]
    pub fn feature_usage(
        &self,
        #[wasm_bindgen(
            unchecked_optional_param_type = "AnalyticsQuery & ({ features: string[] } | { prefix: string })"
        )]
        options: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let (q, o): (Query, FeatureUsageOptions) = self::options(options)?;

            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.analytics().feature_usage(&q, &o)?))))
        })
    }

    /// The top journeys and their next-step transitions (Sankey data).
    ///
    /// ```javascript
    /// const { journeys, transitions } = await trail.analytics.paths({ startAt: '/', steps: 4 });
    /// ```
    #[wasm_bindgen(js_name = paths, unchecked_return_type = "Promise<Paths>")]
    pub fn paths(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "AnalyticsQuery & PathsOptions")]
        options: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let (q, o): (Query, PathsOptions) = self::options(options)?;

            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.analytics().paths(&q, &o)?))))
        })
    }

    /// The most frequent sequences of event names within sessions.
    #[wasm_bindgen(js_name = patterns, unchecked_return_type = "Promise<Patterns>")]
    pub fn patterns(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "AnalyticsQuery & PatternsOptions")] options: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let (q, o): (Query, PatternsOptions) = self::options(options)?;

            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.analytics().patterns(&q, &o)?))))
        })
    }

    /// Users reaching each step, conversion, and median time between steps.
    ///
    /// ```javascript
    /// const f = await trail.analytics.funnel({ steps: ['product_view', 'add_to_cart', 'purchase'], windowSecs: 3600 });
    /// ```
    #[wasm_bindgen(js_name = funnel, unchecked_return_type = "Promise<Funnel>")]
    pub fn funnel(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "AnalyticsQuery & FunnelOptions")]
        options: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let (q, o): (Query, FunnelOptions) = self::options(options)?;

            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.analytics().funnel(&q, &o)?))))
        })
    }

    /// The retention matrix: cohorts by first period, returns per period after.
    ///
    /// ```javascript
    /// const r = await trail.analytics.retention({ cohort: 'week', periods: 8 });
    /// ```
    #[wasm_bindgen(js_name = retention, unchecked_return_type = "Promise<Retention>")]
    pub fn retention(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "AnalyticsQuery & RetentionOptions")]
        options: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let (q, o): (Query, RetentionOptions) = self::options(options)?;

            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.analytics().retention(&q, &o)?))))
        })
    }

    /// New users per period, optionally split by a dimension of their first event.
    #[wasm_bindgen(js_name = cohorts, unchecked_return_type = "Promise<Cohorts>")]
    pub fn cohorts(
        &self,
        #[wasm_bindgen(
            unchecked_optional_param_type = "AnalyticsQuery & { period?: Interval; by?: string }"
        )]
        options: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let (q, o): (Query, CohortsOptions) = self::options(options)?;

            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.analytics().cohorts(&q, &o)?))))
        })
    }
}
