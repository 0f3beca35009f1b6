//! The `Tracking`, `Outbox` and `Quarantine` JS classes (`trail.tracking`,
//! `trail.tracking.outbox`, `trail.tracking.quarantine`): thin shells over
//! [`crate::tracking::Tracking`].

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use super::input::js_out;
use super::input::{self, to_js};
use super::user_trail::{promise, Handle};
use crate::error::ErrorCode;
use crate::tracking::{EventInput, EventSchema, EventType, HistoryFilter, SimpleType};
use js_sys::Promise;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Outcome<'a> {
    event_id: Option<&'a str>,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorJs>,
}

#[derive(Serialize)]
struct ErrorJs {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

fn status_name(s: crate::tracking::TrackStatus) -> &'static str {
    use crate::tracking::TrackStatus::*;
    match s {
        Stored => "stored",
        Duplicate => "duplicate",
        SampledOut => "sampled_out",
        Quarantined => "quarantined",
        NoConsent => "no_consent",
    }
}

/// `{ partial }`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct BatchJs {
    partial: Option<bool>,
}

/// The query of `history`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct HistoryJs {
    user_id: Option<String>,
    anonymous_id: Option<String>,
    session_id: Option<String>,
    types: Option<Vec<EventType>>,
    names: Option<Vec<String>>,
    since: Option<i64>,
    until: Option<i64>,
    limit: Option<u32>,
    cursor: Option<String>,
}

impl HistoryJs {
    fn filter(self) -> (HistoryFilter, Option<u32>, Option<String>) {
        let filter = HistoryFilter {
            user_id: self.user_id,
            anonymous_id: self.anonymous_id,
            session_id: self.session_id,
            types: self.types.unwrap_or_default(),
            names: self.names.unwrap_or_default(),
            since: self.since,
            until: self.until,
        };
        (filter, self.limit, self.cursor)
    }
}

/// The options of `packBlocks`.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct PackJs {
    max: Option<u32>,
}

/// The filter of `count`: `history`'s without `limit` and `cursor`.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct CountJs {
    user_id: Option<String>,
    anonymous_id: Option<String>,
    session_id: Option<String>,
    types: Option<Vec<EventType>>,
    names: Option<Vec<String>>,
    since: Option<i64>,
    until: Option<i64>,
}

impl CountJs {
    fn filter(self) -> HistoryFilter {
        HistoryFilter {
            user_id: self.user_id,
            anonymous_id: self.anonymous_id,
            session_id: self.session_id,
            types: self.types.unwrap_or_default(),
            names: self.names.unwrap_or_default(),
            since: self.since,
            until: self.until,
        }
    }
}

/// `{ name, type }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DimensionJs {
    name: String,
    #[serde(rename = "type")]
    ty: Option<DimensionType>,
}

/// The types a dimension takes: a [`SimpleType`] but an object, so that
/// serde's message on another lists only these.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum DimensionType {
    String,
    Number,
    Bool,
}

impl From<DimensionType> for SimpleType {
    fn from(t: DimensionType) -> Self {
        match t {
            DimensionType::String => SimpleType::String,
            DimensionType::Number => SimpleType::Number,
            DimensionType::Bool => SimpleType::Bool,
        }
    }
}

/// Activity tracking: `trail.tracking`.
#[wasm_bindgen(js_name = Tracking)]
pub struct JsTracking(Handle);

impl JsTracking {
    pub(crate) fn new(handle: Handle) -> Self {
        Self(handle)
    }
}

#[wasm_bindgen(js_class = Tracking)]
impl JsTracking {
    /// Stores one event. The same `eventId` twice is stored once.
    ///
    /// ```javascript
    /// const { eventId, status } = await trail.tracking.track({
    ///   type: 'page', name: 'page_view', path: location.pathname, anonymousId,
    /// });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<TrackResult>")]
    pub fn track(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TrackEvent")] event_js: JsValue,
    ) -> Promise {
        promise(|| {
            let event: EventInput = input::event(&event_js, "event")?;

            Ok(self.0.run(move |open| async move {
                let t = &open.trail;
                {
                    js_out({
                        let (id, status) = t.track(event).await?;
                        to_js(&Outcome {
                            event_id: Some(&id),
                            status: status_name(status),
                            error: None,
                        })
                    })
                }
            }))
        })
    }

    /// Stores events in one transaction. Without `partial`, one bad event
    /// throws and nothing is stored; with `partial: true`, each event gets
    /// its own result, `'rejected'` with an `error` for the bad ones.
    ///
    /// ```javascript
    /// const results = await trail.tracking.trackBatch(queue, { partial: true });
    /// ```
    #[wasm_bindgen(js_name = trackBatch, unchecked_return_type = "Promise<TrackResult[]>")]
    pub fn track_batch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TrackEvent[]")] events: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ partial?: boolean }")] options: Option<
            JsValue,
        >,
    ) -> Promise {
        promise(|| {
            let o: BatchJs = input::options(&options.unwrap_or_default(), "options")?;
            let inputs: Vec<crate::Result<EventInput>> =
                input::each(&events, "events", "event", crate::tracking::BATCH_CAP)?;

            Ok(self.0.run(move |open| async move {
                let t = &open.trail;
                {
                    js_out({
                        let results = t.track_batch(inputs, o.partial.unwrap_or(false)).await?;
                        let out: Vec<Outcome<'_>> = results
                            .iter()
                            .map(|r| match &r.outcome {
                                Ok(s) => Outcome {
                                    event_id: r.event_id.as_deref(),
                                    status: status_name(*s),
                                    error: None,
                                },
                                Err(e) => Outcome {
                                    event_id: r.event_id.as_deref(),
                                    status: "rejected",
                                    error: Some(ErrorJs {
                                        code: e.code(),
                                        message: e.to_string(),
                                        field: e.field().map(str::to_owned),
                                    }),
                                },
                            })
                            .collect();
                        to_js(&out)
                    })
                }
            }))
        })
    }

    /// Declares the properties events named `name` must and may have.
    ///
    /// ```javascript
    /// await trail.tracking.defineEvent('checkout', {
    ///   required: { total: 'number', currency: { enum: ['EUR', 'USD'] } },
    ///   optional: { coupon: 'string' },
    /// });
    /// ```
    #[wasm_bindgen(js_name = defineEvent, unchecked_return_type = "Promise<void>")]
    pub fn define_event(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        #[wasm_bindgen(unchecked_param_type = "EventSchema")] schema: JsValue,
    ) -> Promise {
        promise(|| {
            let name = input::string(&name, "name")?;
            let schema: EventSchema = input::parse(&schema, "schema")?;

            Ok(self
                .0
                .now(move |t| js_out(t.tracking().define_event(&name, &schema))))
        })
    }

    /// Declares a custom dimension (`type`: `'string'`, `'number'` or
    /// `'bool'`; default `'string'`).
    #[wasm_bindgen(js_name = defineDimension, unchecked_return_type = "Promise<void>")]
    pub fn define_dimension(
        &self,
        #[wasm_bindgen(unchecked_param_type = "DimensionDefinition")] definition: JsValue,
    ) -> Promise {
        promise(|| {
            let d: DimensionJs = input::parse(&definition, "definition")?;

            Ok(self.0.now(move |t| {
                js_out({
                    t.tracking()
                        .define_dimension(&d.name, d.ty.map_or(SimpleType::String, Into::into))
                        .map_err(|e| e.within("definition"))
                })
            }))
        })
    }

    /// One person's (or session's) events, newest first, a page at a time.
    ///
    /// ```javascript
    /// let page = await trail.tracking.history({ userId: 'alice', limit: 50 });
    /// while (page.nextCursor) page = await trail.tracking.history({ userId: 'alice', cursor: page.nextCursor });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<HistoryPage>")]
    pub fn history(
        &self,
        #[wasm_bindgen(unchecked_param_type = "HistoryQuery")] query: JsValue,
    ) -> Promise {
        promise(|| {
            let q: HistoryJs = input::options(&query, "query")?;
            let (filter, limit, cursor) = q.filter();

            Ok(self.0.now(move |t| {
                js_out(to_js(&t.tracking().history(
                    &filter,
                    limit,
                    cursor.as_deref(),
                )?))
            }))
        })
    }

    /// How many events match: `history`'s filter without paging. With no
    /// subject (or no argument) every event counts, still narrowed by
    /// `types`, `names`, `since` and `until`.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn count(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "CountQuery")] query: JsValue,
    ) -> Promise {
        promise(|| {
            let q: CountJs = input::options(&query, "query")?;
            let filter = q.filter();

            Ok(self
                .0
                .now(move |t| js_out(Ok(t.tracking().count(&filter)? as f64))))
        })
    }

    /// Does up to `max` (1 to 10,000; default 64) pieces of the work left
    /// on the blocks of events that analytics reads: packs the missing
    /// blocks (a database from before schema version 13 has none until
    /// ingest, a few per call, or this packs them), then packs again the
    /// blocks of an older format (a database from before schema version 15
    /// keeps them without event types, so a query filtered by `eventType`
    /// reads the events' rows until then), then writes the spans of blocks
    /// without them (before version 19), then their rows by name (before
    /// version 20), then their events' dimensions (before version 21):
    /// each block packed, given its spans, its rows by name or its
    /// dimensions is one piece. One transaction per call, so it can be stopped
    /// and resumed; resolves to `{ packed, remaining }`.
    #[wasm_bindgen(js_name = packBlocks, unchecked_return_type = "Promise<PackedBlocks>")]
    pub fn pack_blocks(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "{ max?: number }")] options: JsValue,
    ) -> Promise {
        promise(|| {
            let o: PackJs = input::options(&options, "options")?;
            let max = o.max.unwrap_or(64);
            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.tracking().pack_blocks(max)?))))
        })
    }

    /// Links an anonymous id to a user, earlier and later events alike.
    /// Returns how many earlier events were linked.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
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
                let t = &open.trail;
                js_out(Ok(t.identify(&anonymous_id, &user_id).await? as f64))
            }))
        })
    }

    /// The outbox, when enabled with `tracking: { outbox: true }`.
    #[wasm_bindgen(getter)]
    pub fn outbox(&self) -> JsOutbox {
        JsOutbox(self.0.clone())
    }

    /// Events that failed their schema in quarantine mode.
    #[wasm_bindgen(getter)]
    pub fn quarantine(&self) -> JsQuarantine {
        JsQuarantine(self.0.clone())
    }
}

/// Stored events queued for the app's own collector.
#[wasm_bindgen(js_name = Outbox)]
pub struct JsOutbox(Handle);

#[wasm_bindgen(js_class = Outbox)]
impl JsOutbox {
    /// Leases up to `max` due events, oldest first; `null` when none are due.
    ///
    /// ```javascript
    /// const batch = await trail.tracking.outbox.take(500);
    /// if (batch) {
    ///   const ok = await fetch('/collect', { method: 'POST', body: JSON.stringify(batch.events) }).then((r) => r.ok, () => false);
    ///   await (ok ? trail.tracking.outbox.ack(batch.batchId) : trail.tracking.outbox.nack(batch.batchId));
    /// }
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<OutboxBatch | null>")]
    pub fn take(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "number")] max: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let max = input::opt_integer(&max.unwrap_or_default(), "max", 0, u32::MAX.into())?;
            Ok(self.0.run(move |open| async move {
                let t = &open.trail;
                match t.outbox_take(max.unwrap_or(100) as u32).await? {
                    Some(batch) => to_js(&batch),
                    None => Ok(JsValue::NULL),
                }
            }))
        })
    }

    /// Removes a delivered batch. Throws `NOT_FOUND` if its lease expired.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn ack(
        &self,
        #[wasm_bindgen(js_name = batchId, unchecked_param_type = "string")] batch_id: JsValue,
    ) -> Promise {
        promise(|| {
            let batch_id = input::string(&batch_id, "batchId")?;

            Ok(self
                .0
                .now(move |t| js_out(Ok(t.tracking().outbox_ack(&batch_id)? as f64))))
        })
    }

    /// Returns a batch to the queue; each event is due again after
    /// 3 s·2ⁿ (at most 30 min), with jitter.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn nack(
        &self,
        #[wasm_bindgen(js_name = batchId, unchecked_param_type = "string")] batch_id: JsValue,
    ) -> Promise {
        promise(|| {
            let batch_id = input::string(&batch_id, "batchId")?;

            Ok(self
                .0
                .now(move |t| js_out(Ok(t.tracking().outbox_nack(&batch_id)? as f64))))
        })
    }

    /// `{ queued, leased, dropped, withheld }`: events waiting (leased or
    /// not), in a batch taken and not yet acknowledged, dropped because the
    /// queue was full (ever), and withheld from a third-party collector
    /// because their subject opted out of `sale_share` (ever).
    #[wasm_bindgen(unchecked_return_type = "Promise<OutboxStats>")]
    pub fn stats(&self) -> Promise {
        promise(|| {
            Ok(self
                .0
                .now(move |t| js_out(to_js(&t.tracking().outbox_stats()?))))
        })
    }
}

/// Events kept aside by quarantine mode.
#[wasm_bindgen(js_name = Quarantine)]
pub struct JsQuarantine(Handle);

#[wasm_bindgen(js_class = Quarantine)]
impl JsQuarantine {
    /// Quarantined events, oldest first.
    #[wasm_bindgen(unchecked_return_type = "Promise<QuarantinedEvent[]>")]
    pub fn list(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "number")] limit: Option<JsValue>,
    ) -> Promise {
        promise(|| {
            let limit =
                input::opt_integer(&limit.unwrap_or_default(), "limit", 0, u32::MAX.into())?;

            Ok(self.0.now(move |t| {
                js_out(to_js(
                    &t.tracking().quarantine_list(limit.map(|n| n as u32))?,
                ))
            }))
        })
    }

    /// Tracks a quarantined event again; on success it leaves the quarantine.
    #[wasm_bindgen(unchecked_return_type = "Promise<TrackStatus>")]
    pub fn retry(&self, #[wasm_bindgen(unchecked_param_type = "number")] id: JsValue) -> Promise {
        promise(|| {
            let id = input::integer(&id, "id", 0, i64::MAX >> 11)?;

            Ok(self.0.now(move |t| {
                js_out({
                    let status = t.tracking().quarantine_retry(id)?;
                    Ok(JsValue::from_str(status_name(status)))
                })
            }))
        })
    }

    /// Deletes a quarantined event. Returns whether it was there.
    #[wasm_bindgen(unchecked_return_type = "Promise<boolean>")]
    pub fn discard(&self, #[wasm_bindgen(unchecked_param_type = "number")] id: JsValue) -> Promise {
        promise(|| {
            let id = input::integer(&id, "id", 0, i64::MAX >> 11)?;

            Ok(self
                .0
                .now(move |t| js_out(t.tracking().quarantine_discard(id))))
        })
    }
}
