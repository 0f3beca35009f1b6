//! Events forwarded from one engine to another: a device's outbox to a
//! collector, a collector to a partition's engine. They arrive in the shape
//! the outbox leases ([`Event`]): already stored once, so already sampled,
//! with a minimised client.
//!
//! At the edge (a collector), [`Tracking::normalize_forwarded`] applies the
//! event rules again, since a device is not trusted: limits, ids, names,
//! types and timestamps checked; IP addresses masked and PII redacted again
//! (both idempotent), a raw user agent dropped unless this engine keeps
//! them. Sampling is not decided again: the sample rate travels with the
//! event, so weighted counts stay right. Inside the pipeline a partition
//! stores them as they are ([`Tracking::store_forwarded`]).

use rusqlite::Connection;
use serde_json::Value;

use super::event::{self, Event, EventInput, EventType};
use super::ingest::insert_event;
use super::{rollup, Tracking};
use crate::error::{Error, Result};
use crate::kernel::{net, redact, text, url};
use crate::store::identity;

/// How a batch of forwarded events was stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    /// New events.
    pub stored: u64,
    /// Events whose id was already there (a replay).
    pub duplicates: u64,
}

fn check_type(t: &str) -> Result<()> {
    serde_json::from_value::<EventType>(Value::String(t.to_owned()))
        .map(|_| ())
        .map_err(|_| Error::invalid("type", "must be session, page, action or system"))
}

impl Tracking<'_> {
    /// Checks and minimises an event arriving from another engine, as this
    /// engine's own `track` would (see the module docs). The event is
    /// returned ready to forward further.
    pub fn normalize_forwarded(&self, mut e: Event) -> Result<Event> {
        let Value::Object(properties) = std::mem::take(&mut e.properties) else {
            return Err(Error::invalid("properties", "must be an object"));
        };
        let dimensions = match e.dimensions.take() {
            None | Some(Value::Null) => None,
            Some(Value::Object(d)) => Some(d),
            Some(_) => return Err(Error::invalid("dimensions", "must be an object")),
        };
        // The same limits as `track`, through the same check.
        let probe = EventInput {
            name: e.name.clone(),
            properties: Some(properties),
            ts: Some(e.ts),
            url: e.url.take(),
            path: e.path.take(),
            referrer: e.referrer.take(),
            user_id: e.user_id.take(),
            anonymous_id: e.anonymous_id.take(),
            session_id: e.session_id.take(),
            user_agent: e.user_agent.take(),
            ..EventInput::default()
        };
        event::check_limits(&probe)?;
        e.event_id = event::check_uuid(&e.event_id)?;
        check_type(&e.event_type)?;
        if !(e.sample_rate > 0.0 && e.sample_rate <= 1.0) {
            return Err(Error::invalid("sampleRate", "must be in (0, 1]"));
        }
        if !(0..=event::MAX_TS).contains(&e.received_at) {
            return Err(Error::invalid("receivedAt", "must be ms since the epoch"));
        }
        for (field, v) in [
            ("client.browser", &e.client.browser),
            ("client.os", &e.client.os),
            ("client.device", &e.client.device),
        ] {
            text::check_opt(field, v.as_deref(), 64)?;
        }
        if let Some(ip) = e.client.ip.take() {
            e.client.ip = Some(
                net::mask(&ip, self.ip_mask)
                    .map_err(|_| Error::invalid("client.ip", "must be an IP address"))?,
            );
        }
        let mut properties = probe.properties.unwrap_or_default();
        let mut dimensions = dimensions.unwrap_or_default();
        let (mut u, mut p, mut r) = (probe.url, probe.path, probe.referrer);
        if self.privacy.redact_pii {
            for v in properties.values_mut().chain(dimensions.values_mut()) {
                redact::redact_value(v);
            }
            let keep = &self.privacy.keep_url_params;
            for field in [&mut u, &mut p, &mut r] {
                if let Some(x) = field.as_deref().and_then(|x| url::redact_url(x, keep)) {
                    *field = Some(x);
                }
            }
        }
        event::properties_json(&properties)?;
        e.properties = Value::Object(properties);
        e.dimensions = (!dimensions.is_empty()).then_some(Value::Object(dimensions));
        (e.url, e.path, e.referrer) = (u, p, r);
        (e.user_id, e.anonymous_id, e.session_id) =
            (probe.user_id, probe.anonymous_id, probe.session_id);
        e.user_agent = probe
            .user_agent
            .filter(|_| self.config.store_raw_user_agent);
        Ok(e)
    }

    /// Stores events forwarded inside the pipeline, in the caller's
    /// transaction `tx` (where the caller also records how far it read), as
    /// they are: their minimisation and sampling were done upstream. An
    /// anonymous event of an id linked to a user gets the user. Duplicates
    /// (a replay) are no-ops.
    pub fn store_forwarded(&self, tx: &Connection, events: &[Event], now: i64) -> Result<Stored> {
        let mut pending = rollup::Pending::default();
        let mut out = Stored::default();
        super::blocks::before_insert(tx)?;
        for e in events {
            let mut e = e.clone();
            if e.user_id.is_none() {
                if let Some(anon) = &e.anonymous_id {
                    e.user_id = identity::user_of(tx, anon)?;
                }
            }
            e.received_at = now;
            let properties = e.properties.to_string();
            if insert_event(tx, &mut e, &properties)? {
                pending.add(&e);
                out.stored += 1;
            } else {
                out.duplicates += 1;
            }
        }
        pending.flush(tx)?;
        super::blocks::settle(tx)?;
        Ok(out)
    }
}
