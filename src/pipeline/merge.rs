//! Analytics across partitions: each partition answers a query in a
//! mergeable partial form, and [`merge`] sums them. Partitions hold disjoint
//! subjects, so per-subject counts add up exactly.
//!
//! The analytics queries' partials are [`crate::analytics::partial`]'s;
//! this module adds the experiments' (`experimentResults`: exposures and
//! conversions per variant, counted from the exposure events, summed, and
//! the z-tests recomputed on the sums) and dispatches by the `query` tag.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::analytics::partial::{self, Partial};
use crate::error::{Error, Result};
use crate::experiments::{merge_results, ExperimentResults, ResultsOptions};
use crate::UserTrail;

/// The `query` of an experiment's partial.
pub const EXPERIMENT_RESULTS: &str = "experimentResults";

/// An experiment's results on one engine, tagged for the merge.
#[derive(Serialize, Deserialize)]
#[serde(tag = "query", rename_all = "camelCase", deny_unknown_fields)]
enum ExperimentPartial {
    ExperimentResults { results: ExperimentResults },
}

/// `{ key, goal, since?, until? }` of an experiment's partial.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExperimentQuery {
    key: String,
    #[serde(flatten)]
    results: ResultsOptions,
}

fn to_value<T: Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::invalid("partial", e.to_string()))
}

/// This engine's answer to `query` in a form that merges: an analytics
/// query ([`crate::analytics::Analytics::partial`]) or `experimentResults`
/// (options `{ key, goal, since?, until? }`; the experiment must be defined
/// on this engine).
pub fn partial(trail: &UserTrail, query: &str, options: Map<String, Value>) -> Result<Value> {
    if query != EXPERIMENT_RESULTS {
        if !crate::analytics::partial::MERGEABLE.contains(&query) {
            return Err(Error::invalid(
                "query",
                format!(
                    "must be one of {}, {EXPERIMENT_RESULTS}",
                    crate::analytics::partial::MERGEABLE.join(", ")
                ),
            ));
        }
        return to_value(&trail.analytics().partial(query, options)?);
    }
    let q: ExperimentQuery = serde_json::from_value(Value::Object(options))
        .map_err(|e| Error::invalid("options", e.to_string()))?;
    let results = trail
        .experiments()
        .results_from_events(&q.key, &q.results)?;
    to_value(&ExperimentPartial::ExperimentResults { results })
}

/// The answer of several engines' partials of one query (all of the same
/// query): what one engine holding all their events would answer.
pub fn merge(parts: Vec<Value>) -> Result<Value> {
    let experiment = |p: &Value| p.get("query").and_then(Value::as_str) == Some(EXPERIMENT_RESULTS);
    if parts.first().is_some_and(experiment) {
        let mut results = Vec::with_capacity(parts.len());
        for (i, p) in parts.into_iter().enumerate() {
            let ExperimentPartial::ExperimentResults { results: r } = serde_json::from_value(p)
                .map_err(|e| Error::invalid(format!("partials[{i}]"), e.to_string()))?;
            results.push(r);
        }
        return to_value(&merge_results(results)?);
    }
    let parts: Vec<Partial> = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            serde_json::from_value(p)
                .map_err(|e| Error::invalid(format!("partials[{i}]"), e.to_string()))
        })
        .collect::<Result<_>>()?;
    partial::merge(parts)
}
