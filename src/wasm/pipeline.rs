//! The `Pipeline` JS class (`trail.pipeline`): a thin shell over
//! [`crate::pipeline::Pipeline`] and the analytics merge. The loops and the
//! HTTP live in `pkg/collector.js` and `pkg/pipeline.js`.

use js_sys::Promise;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;

use super::input::{self, to_js};
use super::user_trail::{promise, Handle};
use crate::error::ErrorCode;
use crate::pipeline::lease::{Held, Member, Want};
use crate::pipeline::{CollectStatus, Pipeline, Trim};
use crate::tracking::Event;

/// The analytics pipeline: `trail.pipeline`.
#[wasm_bindgen(js_name = Pipeline)]
pub struct JsPipeline(Handle);

impl JsPipeline {
    pub(crate) fn new(handle: Handle) -> Self {
        Self(handle)
    }
}

/// `{ max, trim, copy }` of `consume`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct ConsumeJs {
    max: Option<u32>,
    trim: Option<String>,
    copy: Option<CopyJs>,
}

/// `{ worker, token, ttlMs }`: a copy among several (a pipeline worker's).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CopyJs {
    worker: String,
    token: u64,
    ttl_ms: u32,
}

/// `{ worker, url, ttlMs }` of `roster`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RosterJs {
    worker: String,
    url: String,
    ttl_ms: u32,
}

/// `{ worker, url, want, ttlMs }` of `lease`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LeaseJs {
    worker: String,
    url: String,
    want: Want,
    ttl_ms: u32,
}

/// `{ me, members, copies, held }` of `plan`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PlanJs {
    me: String,
    members: Vec<Member>,
    copies: u32,
    held: Vec<Held>,
}

/// `{ maxEvents }` of `collect`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct CollectOptionsJs {
    max_events: Option<u32>,
}

/// `{ reason }` of `erase`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct EraseJs {
    reason: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorJs {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase", untagged)]
enum CollectJs {
    Done(CollectStatus),
    Rejected {
        status: &'static str,
        error: ErrorJs,
    },
}

#[wasm_bindgen(js_class = Pipeline)]
impl JsPipeline {
    /// The collector's step: checks each forwarded event (as a device's
    /// outbox leased it) and appends the good ones to their subjects'
    /// partition streams. Resolves once Redis holds them, with one result
    /// per event: `accepted` (with its partition), `no_consent`, or
    /// `rejected` with an `error` naming the field.
    ///
    /// ```javascript
    /// const results = await collector.pipeline.collect(batch.events);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<CollectResult[]>")]
    pub fn collect(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ForwardedEvent[] | string")] events: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ maxEvents?: number }")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let o: CollectOptionsJs = input::options(&options, "options")?;
            let max = crate::pipeline::batch_cap(o.max_events)?;
            // A collector hands over the body's text as it came (`{ events }`
            // JSON): parsed in one step.
            let events: Vec<crate::Result<Event>> = match events.is_string() {
                true => crate::pipeline::parse_body(&input::string(&events, "events")?, max)?,
                false => {
                    // Refused past `max` before any event is read.
                    input::each(&events, "events", "event", max)?
                }
            };
            Ok(self.0.run(move |open| async move {
                let pipeline = Pipeline::new(&open.trail)?;
                let results = pipeline.collect(events).await?;
                let out: Vec<CollectJs> = results
                    .into_iter()
                    .map(|r| match r {
                        Ok(s) => CollectJs::Done(s),
                        Err(e) => CollectJs::Rejected {
                            status: "rejected",
                            error: ErrorJs {
                                code: e.code(),
                                message: e.to_string(),
                                field: e.field().map(str::to_owned),
                            },
                        },
                    })
                    .collect();
                to_js(&out)
            }))
        })
    }

    /// A partition's step: reads up to `max` (default 500) entries after
    /// the position it committed, stores them and commits the new position
    /// in one transaction, then trims the stream (`trim`: `'committed'`,
    /// the default; `'snapshot'`; `'none'`).
    #[wasm_bindgen(unchecked_return_type = "Promise<Consumed>")]
    pub fn consume(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] partition: JsValue,
        #[wasm_bindgen(
            unchecked_optional_param_type = "{ max?: number; trim?: 'committed' | 'snapshot' | 'none'; copy?: { worker: string; token: number; ttlMs: number } }"
        )]
        options: JsValue,
    ) -> Promise {
        promise(|| {
            let partition = input::integer(&partition, "partition", 0, 1023)? as u32;
            let o: ConsumeJs = input::options(&options, "options")?;
            let trim = match (o.trim.as_deref(), o.copy) {
                (Some(_), Some(_)) => {
                    return Err(crate::Error::invalid(
                        "copy",
                        "a copy's trims are the lease holder's: give trim or copy, not both",
                    ))
                }
                (None, Some(c)) => Trim::Copy {
                    worker: c.worker,
                    token: c.token,
                    ttl_ms: c.ttl_ms,
                },
                (None | Some("committed"), None) => Trim::Committed,
                (Some("snapshot"), None) => Trim::Snapshot,
                (Some("none"), None) => Trim::None,
                (Some(_), None) => {
                    return Err(crate::Error::invalid(
                        "trim",
                        "must be 'committed', 'snapshot' or 'none'",
                    ))
                }
            };
            Ok(self.0.run(move |open| async move {
                let pipeline = Pipeline::new(&open.trail)?;
                to_js(
                    &pipeline
                        .consume(partition, o.max.unwrap_or(500), trim.clone())
                        .await?,
                )
            }))
        })
    }

    /// The position a partition committed (`'0-0'` before its first step).
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn position(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] partition: JsValue,
    ) -> Promise {
        promise(|| {
            let partition = input::integer(&partition, "partition", 0, 1023)? as u32;
            Ok(self.0.run(move |open| async move {
                Ok(JsValue::from(
                    Pipeline::new(&open.trail)?.position(partition)?,
                ))
            }))
        })
    }

    /// A snapshot of a partition's engine, `{ bytes, position }`: keep it,
    /// and a lost partition is rebuilt by opening it and consuming again.
    #[wasm_bindgen(unchecked_return_type = "Promise<{ bytes: Uint8Array; position: string }>")]
    pub fn snapshot(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] partition: JsValue,
    ) -> Promise {
        promise(|| {
            let partition = input::integer(&partition, "partition", 0, 1023)? as u32;
            Ok(self.0.run(move |open| async move {
                let (bytes, position) = Pipeline::new(&open.trail)?.snapshot(partition)?;
                let out = js_sys::Object::new();
                let _ = js_sys::Reflect::set(
                    &out,
                    &"bytes".into(),
                    &js_sys::Uint8Array::from(&bytes[..]),
                );
                let _ = js_sys::Reflect::set(&out, &"position".into(), &position.into());
                Ok(out.into())
            }))
        })
    }

    /// The partition of a subject (a user id, else an anonymous id).
    #[wasm_bindgen(js_name = partitionOf, unchecked_return_type = "Promise<number>")]
    pub fn partition_of(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] subject: JsValue,
    ) -> Promise {
        promise(|| {
            let subject = input::string(&subject, "subject")?;
            Ok(self.0.run(move |open| async move {
                Ok(JsValue::from(
                    Pipeline::new(&open.trail)?.partition_of(&subject),
                ))
            }))
        })
    }

    /// Sends an identify through the pipeline: the anonymous id's events
    /// move to the user's partition, and later ones follow.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn identify(
        &self,
        #[wasm_bindgen(js_name = anonymousId, unchecked_param_type = "string")]
        anonymous_id: JsValue,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
    ) -> Promise {
        promise(|| {
            let anonymous_id = input::string(&anonymous_id, "anonymousId")?;
            let user_id = input::string(&user_id, "userId")?;
            Ok(self.0.run(move |open| async move {
                Pipeline::new(&open.trail)?
                    .identify(&anonymous_id, &user_id)
                    .await?;
                Ok(JsValue::UNDEFINED)
            }))
        })
    }

    /// Sends an erasure through every partition's stream: each erases what
    /// it holds of the subject and drops its events still in flight.
    /// Resolves with the number of partitions told.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn erase(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] subject: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ reason?: string }")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let subject = input::string(&subject, "subject")?;
            let o: EraseJs = input::options(&options, "options")?;
            Ok(self.0.run(move |open| async move {
                let reason = o.reason.unwrap_or_else(|| "erasure request".into());
                let n = Pipeline::new(&open.trail)?.erase(&subject, &reason).await?;
                Ok(JsValue::from(n))
            }))
        })
    }

    /// Announces a pipeline worker (`{ worker, url, ttlMs }`; `ttlMs: 0`
    /// takes it out) and resolves with the live workers: what `runWorker`
    /// calls each tick.
    #[wasm_bindgen(unchecked_return_type = "Promise<PipelineMember[]>")]
    pub fn roster(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{ worker: string; url: string; ttlMs: number }")]
        options: JsValue,
    ) -> Promise {
        promise(|| {
            let o: RosterJs = input::parse(&options, "options")?;
            Ok(self.0.run(move |open| async move {
                to_js(
                    &Pipeline::new(&open.trail)?
                        .roster(&o.worker, &o.url, o.ttl_ms)
                        .await?,
                )
            }))
        })
    }

    /// Records this engine's copy of `partition` (its committed position),
    /// asks the partition's lease for `want` (`'own'`, `'standby'`,
    /// `'leave'`), and resolves with the lease's holder and the live copies.
    #[wasm_bindgen(unchecked_return_type = "Promise<PartitionLease>")]
    pub fn lease(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] partition: JsValue,
        #[wasm_bindgen(
            unchecked_param_type = "{ worker: string; url: string; want: 'own' | 'standby' | 'loading' | 'leave'; ttlMs: number }"
        )]
        options: JsValue,
    ) -> Promise {
        promise(|| {
            let partition = input::integer(&partition, "partition", 0, 1023)? as u32;
            let o: LeaseJs = input::parse(&options, "options")?;
            Ok(self.0.run(move |open| async move {
                to_js(
                    &Pipeline::new(&open.trail)?
                        .lease(partition, &o.worker, &o.url, o.want, o.ttl_ms)
                        .await?,
                )
            }))
        })
    }

    /// Moves this copy's position of `partition` up to its stream's trim
    /// mark: the entries the stream lost before it are lost for this copy.
    /// For a partition none of whose copies is current, so that it is held
    /// again (`runWorker` does this by itself, and reports it). Resolves
    /// with the new position.
    #[wasm_bindgen(js_name = acceptLoss, unchecked_return_type = "Promise<string>")]
    pub fn accept_loss(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] partition: JsValue,
    ) -> Promise {
        promise(|| {
            let partition = input::integer(&partition, "partition", 0, 1023)? as u32;
            Ok(self.0.run(move |open| async move {
                Ok(JsValue::from(
                    Pipeline::new(&open.trail)?.accept_loss(partition).await?,
                ))
            }))
        })
    }

    /// Every partition's lease holder and live copies as Redis holds them
    /// now (one entry per partition, in order), changing nothing.
    #[wasm_bindgen(unchecked_return_type = "Promise<PartitionLease[]>")]
    pub fn owners(&self) -> Promise {
        promise(|| {
            Ok(self.0.run(move |open| async move {
                to_js(&Pipeline::new(&open.trail)?.owners().await?)
            }))
        })
    }

    /// A worker's next step from the live roster and the copies it holds:
    /// which partitions to open, which to drop, and what each kept copy
    /// asks of its lease. The same roster gives every worker the same
    /// assignment.
    #[wasm_bindgen(unchecked_return_type = "Promise<PartitionPlan>")]
    pub fn plan(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "{ me: string; members: PipelineMember[]; copies: number; held: HeldCopy[] }"
        )]
        options: JsValue,
    ) -> Promise {
        promise(|| {
            let o: PlanJs = input::parse(&options, "options")?;
            if !(1..=16).contains(&o.copies) {
                return Err(crate::Error::invalid("copies", "must be 1 to 16"));
            }
            Ok(self.0.now(move |t| {
                let partitions = Pipeline::new(t)?.partitions();
                to_js(&crate::pipeline::lease::plan(
                    &o.me, &o.members, partitions, o.copies, &o.held,
                ))
            }))
        })
    }

    /// This engine's answer to an analytics query, in a form that merges
    /// (`query`: `'summary'`, `'activeUsers'`, `'funnel'`, … with the
    /// query's usual options).
    /// Typed by query name in types/pipeline.d.ts (`Pipeline.partial`).
    #[wasm_bindgen(skip_typescript)]
    pub fn partial(&self, query: JsValue, options: JsValue) -> Promise {
        promise(|| {
            let query = input::string(&query, "query")?;
            let options: Map<String, Value> = if options.is_undefined() || options.is_null() {
                Map::new()
            } else {
                input::object(&options, "options")?
            };
            Ok(self
                .0
                .now(move |t| to_js(&crate::pipeline::merge::partial(t, &query, options)?)))
        })
    }

    /// The answer of several engines' partials of one query: what one
    /// engine holding all their events would answer.
    /// Typed by query name in types/pipeline.d.ts (`Pipeline.merge`).
    #[wasm_bindgen(skip_typescript)]
    pub fn merge(&self, partials: JsValue) -> Promise {
        promise(|| {
            use crate::pipeline::merge::{merge_texts, MAX_PARTIALS};
            self.0.open()?;
            // Each partial's text is read as the merge reaches it (one
            // argument's limit each), not the array's at once. A merge
            // reads no engine state, so it runs here, before this call
            // returns: never queued behind another call (whose partials
            // could change meanwhile), and with the engine not borrowed
            // while a partial's getters or `toJSON` run.
            let texts = input::texts_each(&partials, "partials", MAX_PARTIALS)?;
            Ok(Promise::resolve(&to_js(&merge_texts(texts)?)?))
        })
    }
}
