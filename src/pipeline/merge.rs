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

/// The most partials one merge takes: four times the most partitions a
/// pipeline has.
pub const MAX_PARTIALS: usize = 4096;

/// A partial's JSON text read as `T`; a fault in it is `INVALID_INPUT` on
/// `field` with serde's reason (a partial is a tagged enum, which serde
/// reads through a copy that keeps no path inside it).
fn read<T: serde::de::DeserializeOwned>(text: &str, field: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| Error::invalid(field, crate::error::serde_reason(&e.to_string())))
}

/// The `query` a partial's text names, read without building the rest.
fn query_of(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Tag {
        query: Option<String>,
    }
    serde_json::from_str::<Tag>(text).ok()?.query
}

/// [`merge`] of partials given as JSON texts, each read only when the ones
/// before it are merged (the wasm binding reads them from JS one at a
/// time), so that a merge holds one partial's text whole at a time: a
/// partial may be as large as one argument may be, and the partials
/// together larger. `texts` yields `partials[i]`'s text or the error of
/// reading it.
pub fn merge_texts(texts: impl IntoIterator<Item = Result<String>>) -> Result<Value> {
    let mut texts = texts.into_iter().enumerate().peekable();
    let experiment = match texts.peek() {
        Some((_, Ok(text))) => query_of(text).as_deref() == Some(EXPERIMENT_RESULTS),
        _ => false,
    };
    if experiment {
        let mut results = Vec::new();
        for (i, text) in texts {
            let ExperimentPartial::ExperimentResults { results: r } =
                read(&text?, &format!("partials[{i}]"))?;
            results.push(r);
        }
        return to_value(&merge_results(results)?);
    }
    partial::merge_each(texts.map(|(i, text)| read::<Partial>(&text?, &format!("partials[{i}]"))))
}

/// The answer of several engines' partials of one query (all of the same
/// query): what one engine holding all their events would answer. As
/// [`merge_texts`] reads them, from each partial's JSON.
pub fn merge(parts: Vec<Value>) -> Result<Value> {
    merge_texts(parts.into_iter().map(|p| Ok(p.to_string())))
}
