//! Storing events: `track` and `trackBatch`.

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;
use serde_json::{Map, Value};

use super::config::ValidationMode;
use super::event::{self, EventClient, EventInput};
use super::{blocks, outbox, rollup, sampling, Tracking, TrackingError};
use crate::consent::{self, PrivacyConfig, ANALYTICS};
use crate::error::{Error, ErrorCode, Result};
use crate::kernel::{ids, net, redact, url, useragent};
use crate::store::identity;

/// The most events one batch may hold ([`Tracking::track_batch_parsed`],
/// and a collector's batch at most).
pub const BATCH_CAP: usize = 10_000;

/// Refuses a batch of more than `max` events as `INVALID_INPUT` naming
/// `events` (a collector answers 413).
pub fn check_batch(len: usize, max: usize) -> Result<()> {
    if len > max {
        return Err(Error::invalid(
            "events",
            format!("at most {max} events per batch"),
        ));
    }
    Ok(())
}

/// What became of a tracked event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackStatus {
    /// Stored.
    Stored,
    /// An event with this id was stored before; nothing changed.
    Duplicate,
    /// Dropped by a sampling rule.
    SampledOut,
    /// Failed its schema and was kept in the quarantine.
    Quarantined,
    /// Not stored: the engine requires `analytics` consent and the subject
    /// has not given it. Counted in `consent.dropped`.
    NoConsent,
}

/// One event's outcome in a batch.
#[derive(Debug)]
pub struct ItemResult {
    /// The event id, if the event got as far as having one.
    pub event_id: Option<String>,
    /// Its status, or why it was refused.
    pub outcome: Result<TrackStatus>,
}

/// An event that passed its checks, ready to store.
struct Ready {
    event_id: String,
    input: EventInput,
    properties: Map<String, Value>,
    /// `properties` as JSON, computed once.
    properties_json: String,
    dimensions: Map<String, Value>,
    /// Set when the event goes to the quarantine instead.
    quarantine: Option<TrackingError>,
}

/// Prefixes a field name with the event's place in a batch.
fn at(index: Option<usize>, e: Error) -> Error {
    match index {
        Some(i) => e.in_element(&format!("events[{i}]"), "event"),
        None => e,
    }
}

impl Tracking<'_> {
    /// Stores one event. Tracking the same `eventId` twice stores it once.
    pub fn track(&self, input: EventInput) -> Result<(String, TrackStatus)> {
        let mut results = self.ingest(vec![Ok(input)], false, false)?;
        let r = results.remove(0);
        Ok((r.event_id.unwrap_or_default(), r.outcome?))
    }

    /// Stores a batch in one transaction. Without `partial`, one bad event
    /// fails the whole batch and nothing is stored; with it, a bad event
    /// fails only itself.
    pub fn track_batch(&self, inputs: Vec<EventInput>, partial: bool) -> Result<Vec<ItemResult>> {
        self.track_batch_parsed(inputs.into_iter().map(Ok).collect(), partial)
    }

    /// [`Tracking::track_batch`] for events a host parsed itself (see
    /// [`super::parse_event`]), some of which may have failed to parse:
    /// those count as bad events.
    pub fn track_batch_parsed(
        &self,
        inputs: Vec<Result<EventInput>>,
        partial: bool,
    ) -> Result<Vec<ItemResult>> {
        check_batch(inputs.len(), BATCH_CAP)?;
        self.ingest(inputs, partial, true)
    }

    fn ingest(
        &self,
        inputs: Vec<Result<EventInput>>,
        partial: bool,
        in_batch: bool,
    ) -> Result<Vec<ItemResult>> {
        if let Some(m) = self.maintenance {
            m.before_write()?;
        }
        let now = self.clock.now_ms();
        let registry = self.registry()?;
        let prepared: Vec<Result<Ready>> = inputs
            .into_iter()
            .enumerate()
            .map(|(i, input)| {
                input
                    .and_then(|input| self.prepare(input, now, &registry))
                    .map_err(|e| at(in_batch.then_some(i), e))
            })
            .collect();
        if !partial {
            if let Some(Err(_)) = prepared.iter().find(|r| r.is_err()) {
                let first = prepared.into_iter().find_map(|r| r.err());
                return Err(first.expect("found above"));
            }
        }
        let tx = Transaction::new_unchecked(self.conn, TransactionBehavior::Immediate)?;
        blocks::before_insert(&tx)?;
        let mut results = Vec::with_capacity(prepared.len());
        let mut queued = false;
        let mut rollup = rollup::Pending::default();
        let mut gate = Gate::new(self.privacy, self.consent);
        for ready in prepared {
            let result = match ready {
                Err(e) => ItemResult {
                    event_id: None,
                    outcome: Err(e),
                },
                Ok(ready) => {
                    let mut event_id = ready.event_id.clone();
                    let outcome = match gate.allows(&tx, &ready.input) {
                        Ok(true) => {
                            self.store(&tx, ready, now, &mut queued, &mut rollup, &mut event_id)
                        }
                        Ok(false) => Ok(TrackStatus::NoConsent),
                        Err(e) => Err(e),
                    };
                    if outcome.is_err() && !partial {
                        return outcome.map(|_| Vec::new());
                    }
                    ItemResult {
                        event_id: Some(event_id),
                        outcome,
                    }
                }
            };
            results.push(result);
        }
        rollup.flush(&tx)?;
        blocks::settle(&tx)?;
        gate.flush(&tx)?;
        if queued {
            if let Some(cfg) = self.config.outbox {
                outbox::enforce_cap(&tx, cfg.cap)?;
            }
        }
        tx.commit()?;
        Ok(results)
    }

    /// Checks an event and applies the validation mode, without touching
    /// the database.
    fn prepare(
        &self,
        mut input: EventInput,
        now: i64,
        registry: &super::Registry,
    ) -> Result<Ready> {
        event::check_limits(&input)?;
        let event_id = match &input.event_id {
            Some(id) => event::check_uuid(id)?,
            None => ids::uuid_v7(input.ts.unwrap_or(now)),
        };
        let mut properties = input.properties.take().unwrap_or_default();
        let mut dimensions = input.dimensions.take().unwrap_or_default();
        if self.config.validation == ValidationMode::Lenient {
            // Undefined dimensions stay with the event, as plain properties.
            let unknown: Vec<String> = dimensions
                .keys()
                .filter(|d| !registry.has_dimension(d))
                .cloned()
                .collect();
            for d in unknown {
                if let Some(v) = dimensions.remove(&d) {
                    properties.entry(d).or_insert(v);
                }
            }
        }
        let mut quarantine = None;
        if let Err(e) = registry.check(&input.name, &properties, &dimensions) {
            match self.config.validation {
                ValidationMode::Strict => return Err(e.into()),
                ValidationMode::Lenient => {}
                ValidationMode::Quarantine => quarantine = Some(e),
            }
        }
        if self.privacy.redact_pii {
            for v in properties.values_mut().chain(dimensions.values_mut()) {
                redact::redact_value(v);
            }
            let keep = &self.privacy.keep_url_params;
            for field in [&mut input.url, &mut input.path, &mut input.referrer] {
                if let Some(r) = field.as_deref().and_then(|u| url::redact_url(u, keep)) {
                    *field = Some(r);
                }
            }
        }
        let properties_json = event::properties_json(&properties)?;
        Ok(Ready {
            event_id,
            input,
            properties,
            properties_json,
            dimensions,
            quarantine,
        })
    }

    /// Writes one prepared event (or its quarantine row). `stored_id` is
    /// set to the id it was stored under, when another subject's event
    /// holds its own (see [`insert_event`]).
    fn store(
        &self,
        tx: &Connection,
        r: Ready,
        now: i64,
        queued: &mut bool,
        rollup: &mut rollup::Pending,
        stored_id: &mut String,
    ) -> Result<TrackStatus> {
        // The token itself is never stored: only the session it resolves to.
        // A token that resolves to no live session (expired, revoked, not
        // one) leaves the session id given beside it, if any.
        let session_id: Option<String> = match (&r.input.session_token, &r.input.session_id) {
            (Some(t), id) => match self.sessions {
                Some(sessions) => sessions.session_id(t)?.or_else(|| id.clone()),
                None => id.clone(),
            },
            (None, id) => id.clone(),
        };
        if let Some(why) = r.quarantine {
            let field = why.field().map(str::to_owned);
            let mut original = r.input.clone();
            original.event_id = Some(r.event_id.clone());
            original.session_token = None;
            original.session_id = session_id;
            // Minimised exactly as a stored event would be: a masked IP and
            // a reduced user agent (raw only when the settings keep it).
            original.client = Some(self.client(&original)?);
            original.ip = None;
            if !self.config.store_raw_user_agent {
                original.user_agent = None;
            }
            let json = quarantine_json(&original, &r.properties, &r.dimensions);
            tx.prepare_cached(
                "INSERT INTO quarantine (event_id, received_at, code, field, reason, event) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (event_id) DO NOTHING",
            )?
            .execute(params![
                r.event_id,
                now,
                why.code(),
                field,
                why.to_string(),
                json
            ])?;
            return Ok(TrackStatus::Quarantined);
        }
        let e = &r.input;
        let mut user_id = e.user_id.clone();
        if user_id.is_none() {
            if let Some(anon) = &e.anonymous_id {
                user_id = identity::user_of(tx, anon)?;
            }
        }
        let subject = user_id
            .as_deref()
            .or(e.anonymous_id.as_deref())
            .unwrap_or(&r.event_id);
        let Some(rate) = sampling::decide(&self.config.sampling, e, subject) else {
            return Ok(TrackStatus::SampledOut);
        };
        let client = self.client(e)?;
        let raw_ua = e
            .user_agent
            .clone()
            .filter(|_| self.config.store_raw_user_agent);
        let mut event = super::event::Event {
            event_id: r.event_id,
            ts: e.ts.unwrap_or(now),
            event_type: e
                .event_type
                .unwrap_or(super::EventType::Action)
                .as_str()
                .to_owned(),
            name: e.name.clone(),
            user_id,
            anonymous_id: e.anonymous_id.clone(),
            session_id,
            url: e.url.clone(),
            path: e.path.clone(),
            referrer: e.referrer.clone(),
            properties: Value::Object(r.properties),
            dimensions: (!r.dimensions.is_empty()).then_some(Value::Object(r.dimensions)),
            client,
            user_agent: raw_ua,
            sample_rate: rate,
            received_at: now,
        };
        if !insert_event(tx, &mut event, &r.properties_json)? {
            return Ok(TrackStatus::Duplicate);
        }
        stored_id.clone_from(&event.event_id);
        rollup.add(&event);
        if self.config.outbox.is_some() {
            outbox::enqueue(tx, &event, now)?;
            *queued = true;
        }
        Ok(TrackStatus::Stored)
    }
}

impl Tracking<'_> {
    /// An event's client, minimised: its IP masked and its user agent
    /// reduced; where it has neither, the reduced client it came with.
    fn client(&self, e: &EventInput) -> Result<EventClient> {
        let given = e.client.clone().unwrap_or_default();
        let ip = match e.ip.as_deref().or(given.ip.as_deref()) {
            Some(ip) => Some(net::mask(ip, self.ip_mask)?),
            None => None,
        };
        Ok(match e.user_agent.as_deref().map(useragent::parse) {
            Some(ua) => EventClient {
                ip,
                browser: Some(ua.browser),
                os: Some(ua.os),
                device: Some(ua.device.as_str().to_owned()),
            },
            None => EventClient { ip, ..given },
        })
    }
}

/// Inserts a stored event's row; `false` if it is already there (a
/// replay). Event ids are idempotency keys *per subject*: an id already
/// held by another subject's event (someone who knew or guessed it sent it
/// first) does not make this one a duplicate. It is stored under an id
/// derived from its own and its subject, the same at every replay, which
/// `event.event_id` is changed to.
pub(super) fn insert_event(
    tx: &Connection,
    event: &mut event::Event,
    properties_json: &str,
) -> Result<bool> {
    if insert_row(tx, event, properties_json)? {
        return Ok(true);
    }
    let holder: Option<(Option<String>, Option<String>)> = tx
        .prepare_cached("SELECT user_id, anonymous_id FROM events WHERE event_id = unhex(?1, '-')")?
        .query_row([&event.event_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((user, anonymous)) = holder else {
        return Ok(false);
    };
    let same = |stored: &Option<String>, given: &Option<String>| given.is_some() && stored == given;
    let nobody = event.user_id.is_none() && event.anonymous_id.is_none();
    if nobody || same(&anonymous, &event.anonymous_id) || same(&user, &event.user_id) {
        return Ok(false);
    }
    let subject = event
        .anonymous_id
        .as_deref()
        .or(event.user_id.as_deref())
        .unwrap_or_default();
    event.event_id = ids::derived_uuid(&event.event_id, &[b"event of", subject.as_bytes()]);
    insert_row(tx, event, properties_json)
}

/// Inserts an event's row; `false` if its id is taken.
fn insert_row(tx: &Connection, event: &event::Event, properties_json: &str) -> Result<bool> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO events (event_id, ts, type, name, user_id, anonymous_id, session_id, url, path, \
             referrer, properties, dimensions, ip_masked, browser, os, device, user_agent, sample_rate, \
             received_at) VALUES (unhex(?1, '-'), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, \
             ?14, ?15, ?16, ?17, ?18, ?19) ON CONFLICT (event_id) DO NOTHING",
        )?
        .execute(params![
            event.event_id,
            event.ts,
            event.event_type,
            event.name,
            event.user_id,
            event.anonymous_id,
            event.session_id,
            event.url,
            event.path,
            event.referrer,
            properties_json,
            event.dimensions.as_ref().map(Value::to_string),
            event.client.ip,
            event.client.browser,
            event.client.os,
            event.client.device,
            event.user_agent,
            event.sample_rate,
            event.received_at,
        ])?;
    Ok(inserted == 1)
}

/// The input of a quarantined event, as JSON, for inspection and retry.
fn quarantine_json(
    e: &EventInput,
    properties: &Map<String, Value>,
    dimensions: &Map<String, Value>,
) -> String {
    let mut v = serde_json::json!({
        "eventId": e.event_id, "type": e.event_type, "name": e.name,
        "properties": properties, "url": e.url, "path": e.path, "referrer": e.referrer,
        "userId": e.user_id, "anonymousId": e.anonymous_id, "sessionId": e.session_id, "ts": e.ts,
        "client": e.client, "userAgent": e.user_agent,
    });
    if !dimensions.is_empty() {
        v["dimensions"] = Value::Object(dimensions.clone());
    }
    if let Value::Object(m) = &mut v {
        m.retain(|_, x| !x.is_null());
    }
    v.to_string()
}

/// Consent gating for one batch: whether each event's subject has
/// `analytics` consent, asked once per subject.
struct Gate<'a> {
    on: bool,
    config: &'a PrivacyConfig,
    shared: Option<&'a crate::consent::redis::Snapshot>,
    known: std::collections::HashMap<(Option<String>, Option<String>), bool>,
    dropped: i64,
}

impl<'a> Gate<'a> {
    fn new(config: &'a PrivacyConfig, shared: Option<&'a crate::consent::redis::Snapshot>) -> Self {
        Self {
            on: config.requires(ANALYTICS),
            config,
            shared,
            known: Default::default(),
            dropped: 0,
        }
    }

    /// Whether `e` may be stored. Every event of a subject who has not
    /// consented is gated, whatever its type (session events too); an event
    /// with no subject cannot carry consent and does not pass.
    fn allows(&mut self, tx: &Connection, e: &EventInput) -> Result<bool> {
        if !self.on {
            return Ok(true);
        }
        let key = (e.user_id.clone(), e.anonymous_id.clone());
        let ok = match self.known.get(&key) {
            Some(&ok) => ok,
            None => {
                let ids: Vec<&str> = [e.user_id.as_deref(), e.anonymous_id.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect();
                let source = match self.shared {
                    Some(s) => consent::Source::Shared(s),
                    None => consent::Source::Local(tx),
                };
                let ok = source.allows(self.config, &ids, ANALYTICS)?;
                self.known.insert(key, ok);
                ok
            }
        };
        if !ok {
            self.dropped += 1;
        }
        Ok(ok)
    }

    /// Adds this batch's drops to the `consent.dropped` counter.
    fn flush(&self, tx: &Connection) -> Result<()> {
        if self.dropped > 0 {
            tx.prepare_cached(
                "INSERT INTO counters (name, value) VALUES ('consent.dropped', ?1) \
                 ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            )?
            .execute([self.dropped])?;
        }
        Ok(())
    }
}
