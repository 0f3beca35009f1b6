//! A/B experiments: deterministic assignment, exposure events, and results
//! with a two-proportion z-test against the control.
//!
//! Experiments write (assignments, and exposure events through tracking),
//! so they are their own concern beside the read-only analytics.
//!
//! ```
//! use std::sync::Arc;
//! use usertrail::clock::ManualClock;
//! use usertrail::experiments::{Experiment, Variant};
//! use usertrail::{OpenOptions, Storage, UserTrail};
//!
//! let trail = UserTrail::open(
//!     OpenOptions::new(Storage::Memory).clock(Arc::new(ManualClock::new(1_000))),
//! ).unwrap();
//! let arm = |name: &str| Variant { name: name.into(), weight: 1.0 };
//! let ex = trail.experiments();
//! ex.define(&Experiment { key: "buy_button".into(), variants: vec![arm("blue"), arm("green")] }).unwrap();
//! let seen = ex.assign("buy_button", "ann").unwrap();
//! assert_eq!(ex.assign("buy_button", "ann").unwrap(), seen, "assignments are sticky");
//! ```

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::kernel::stats::Comparison;

use crate::consent::PERSONALIZATION;
use crate::error::{Error, ExperimentError, Result};
use crate::kernel::clock::Clock;
use crate::kernel::ids::{fnv1a, uuid_text};
use crate::kernel::stats::z_test;
use crate::kernel::text::check as check_text;
use crate::tracking::{EventInput, EventType, Tracking};

/// The name of the event [`Experiments::assign`] records on first exposure.
pub const EXPOSURE_EVENT: &str = crate::store::identity::EXPOSURE_EVENT;

/// One arm of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Variant {
    /// Its name, unique within the experiment.
    pub name: String,
    /// Its relative weight, a positive number.
    pub weight: f64,
}

/// An experiment: a key and 2 to 20 variants, the first being the control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Experiment {
    /// Its key, 1 to 128 bytes.
    pub key: String,
    /// The variants; the first is the control.
    pub variants: Vec<Variant>,
}

/// Options of [`Experiments::results`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResultsOptions {
    /// The event name that counts as a conversion.
    pub goal: String,
    /// Count exposures from this time (default: all).
    pub since: Option<i64>,
    /// Count exposures and conversions before this time (default: now).
    pub until: Option<i64>,
}

/// One variant's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VariantResult {
    /// The variant.
    pub name: String,
    /// True for the control (the first variant).
    pub is_control: bool,
    /// Users assigned to it.
    pub exposures: u64,
    /// Of those, users with a goal event at or after their assignment.
    pub conversions: u64,
    /// `conversions / exposures`; 0 without exposures.
    pub rate: f64,
    /// The z-test against the control; `null` for the control and when
    /// undefined.
    pub vs_control: Option<Comparison>,
}

/// An experiment's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExperimentResults {
    /// The experiment.
    pub key: String,
    /// The goal event.
    pub goal: String,
    /// Per variant, in definition order.
    pub variants: Vec<VariantResult>,
}

/// The experiments of one engine.
pub struct Experiments<'a> {
    conn: &'a Connection,
    clock: &'a dyn Clock,
    tracking: Tracking<'a>,
}

/// Mixes the bits of `h` (the splitmix64 finaliser).
fn mix(mut h: u64) -> u64 {
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The index of the variant `user` gets in experiment `key`: a hash of the
/// two picks a point in [0, 1), and the variants split that interval by
/// weight. The same inputs give the same answer on every target and
/// release.
pub fn variant_for(key: &str, user: &str, variants: &[Variant]) -> usize {
    let h = mix(fnv1a(&[key.as_bytes(), user.as_bytes()]));
    let x = (h >> 11) as f64 / (1u64 << 53) as f64;
    let total: f64 = variants.iter().map(|v| v.weight).sum();
    let mut acc = 0.0;
    for (i, v) in variants.iter().enumerate() {
        acc += v.weight / total;
        if x < acc {
            return i;
        }
    }
    variants.len() - 1
}

/// A UUID derived from the experiment and user, so a retried exposure is
/// the same event and is stored once.
fn exposure_id(key: &str, user: &str) -> String {
    let mut d = Sha256::new();
    for part in ["usertrail.exposure", key, user] {
        d.update(part.as_bytes());
        d.update([0]);
    }
    let mut b: [u8; 16] = d.finalize()[..16].try_into().expect("16 bytes");
    b[6] = 0x80 | (b[6] & 0x0F);
    b[8] = 0x80 | (b[8] & 0x3F);
    uuid_text(&b)
}

impl Experiment {
    fn check(&self) -> Result<()> {
        check_text("key", &self.key, 128)?;
        if !(2..=20).contains(&self.variants.len()) {
            return Err(Error::invalid("variants", "must be 2 to 20 variants"));
        }
        for (i, v) in self.variants.iter().enumerate() {
            check_text(&format!("variants[{i}].name"), &v.name, 128)?;
            if !(v.weight.is_finite() && v.weight > 0.0) {
                return Err(Error::invalid(
                    format!("variants[{i}].weight"),
                    "must be a positive number",
                ));
            }
            if self.variants[..i].iter().any(|o| o.name == v.name) {
                return Err(Error::invalid(
                    format!("variants[{i}].name"),
                    "is a duplicate",
                ));
            }
        }
        Ok(())
    }
}

impl<'a> Experiments<'a> {
    /// Experiments on `conn`, recording exposures through `tracking`.
    pub fn new(conn: &'a Connection, clock: &'a dyn Clock, tracking: Tracking<'a>) -> Self {
        Self {
            conn,
            clock,
            tracking,
        }
    }

    /// Defines an experiment, or redefines it. Users already assigned keep
    /// their variant.
    pub fn define(&self, e: &Experiment) -> Result<()> {
        e.check()?;
        let variants = serde_json::to_string(&e.variants)
            .map_err(|x| Error::invalid("variants", x.to_string()))?;
        self.conn.execute(
            "INSERT INTO experiments (key, variants, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET variants = excluded.variants",
            params![e.key, variants, self.clock.now_ms()],
        )?;
        Ok(())
    }

    /// One experiment, or `EXPERIMENT_NOT_FOUND`.
    pub fn get(&self, key: &str) -> Result<Experiment> {
        check_text("key", key, 128)?;
        let variants: Option<String> = self
            .conn
            .prepare_cached("SELECT variants FROM experiments WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?;
        let variants = variants.ok_or_else(|| ExperimentError::NotFound { key: key.into() })?;
        Ok(Experiment {
            key: key.into(),
            variants: parse_variants(&variants)?,
        })
    }

    /// Every experiment, by key.
    pub fn list(&self) -> Result<Vec<Experiment>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT key, variants FROM experiments ORDER BY key")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (key, variants) = row?;
            out.push(Experiment {
                key,
                variants: parse_variants(&variants)?,
            });
        }
        Ok(out)
    }

    /// The variant `user_id` (a user or anonymous id) sees. The first call
    /// stores the assignment and records an `experiment.exposure` event;
    /// later calls return the stored variant. When the engine requires
    /// `personalization` consent and the subject has not given it, the
    /// answer is the control and nothing is stored.
    pub fn assign(&self, key: &str, user_id: &str) -> Result<String> {
        check_text("userId", user_id, 256)?;
        let e = self.get(key)?;
        let stored: Option<String> = self
            .conn
            .prepare_cached(
                "SELECT variant FROM experiment_assignments WHERE key = ?1 AND user_id = ?2",
            )?
            .query_row([key, user_id], |r| r.get(0))
            .optional()?;
        if let Some(v) = stored {
            return Ok(v);
        }
        // Without personalization consent where it is required: the
        // control, with nothing stored and no exposure recorded.
        let privacy = self.tracking.privacy();
        if privacy.requires(PERSONALIZATION)
            && !self.tracking.consent_source(self.conn).allows(
                privacy,
                &[user_id],
                PERSONALIZATION,
            )?
        {
            return Ok(e.variants[0].name.clone());
        }
        let variant = e.variants[variant_for(key, user_id, &e.variants)]
            .name
            .clone();
        // The event first, with an id derived from (key, user): if the
        // assignment write then fails, a retry stores the event once.
        let mut properties = serde_json::Map::new();
        properties.insert("experiment".into(), key.into());
        properties.insert("variant".into(), variant.clone().into());
        self.tracking.track(EventInput {
            event_id: Some(exposure_id(key, user_id)),
            event_type: Some(EventType::System),
            name: EXPOSURE_EVENT.into(),
            user_id: Some(user_id.into()),
            properties: Some(properties),
            ..EventInput::default()
        })?;
        self.conn
            .prepare_cached(
                "INSERT INTO experiment_assignments (key, user_id, variant, assigned_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            )?
            .execute(params![key, user_id, variant, self.clock.now_ms()])?;
        Ok(variant)
    }

    /// Exposures, conversions and rate per variant, and each variant's
    /// two-proportion z-test against the control (p-value, 95% CI of the
    /// difference in rates).
    pub fn results(&self, key: &str, o: &ResultsOptions) -> Result<ExperimentResults> {
        check_text("goal", &o.goal, 800)?;
        let e = self.get(key)?;
        let (since, until) = self.window(o)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.variant, COUNT(*), SUM(EXISTS (SELECT 1 FROM events e \
               WHERE (e.user_id = a.user_id OR e.anonymous_id = a.user_id) AND e.name = ?2 \
               AND e.ts >= a.assigned_at AND e.ts < ?4)) \
             FROM experiment_assignments a WHERE a.key = ?1 AND a.assigned_at >= ?3 \
             AND a.assigned_at < ?4 GROUP BY a.variant",
        )?;
        let counts = variant_counts(&mut stmt, params![key, o.goal, since, until])?;
        Ok(tally(&e, &o.goal, &counts))
    }

    /// [`Self::results`] counted from the `experiment.exposure` events
    /// rather than from the assignments: what an engine that only receives
    /// events (a partition of the analytics pipeline) can answer. A subject's
    /// first exposure counts, with its variant. The experiment must be
    /// defined on this engine too (its variants and control). On an engine
    /// that assigned the subjects itself, equal to `results`.
    pub fn results_from_events(&self, key: &str, o: &ResultsOptions) -> Result<ExperimentResults> {
        check_text("goal", &o.goal, 800)?;
        let e = self.get(key)?;
        let (since, until) = self.window(o)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT x.v, COUNT(*), SUM(EXISTS (SELECT 1 FROM events e \
               WHERE (e.user_id = x.s OR e.anonymous_id = x.s) AND e.name = ?2 \
               AND e.ts >= x.at AND e.ts < ?4)) \
             FROM (SELECT user_id AS s, MIN(ts) AS at, \
                     json_extract(properties, '$.variant') AS v \
                   FROM events WHERE name = ?5 AND user_id IS NOT NULL \
                     AND json_extract(properties, '$.experiment') = ?1 \
                   GROUP BY user_id) x \
             WHERE x.at >= ?3 AND x.at < ?4 AND x.v IS NOT NULL GROUP BY x.v",
        )?;
        let counts = variant_counts(
            &mut stmt,
            params![key, o.goal, since, until, EXPOSURE_EVENT],
        )?;
        Ok(tally(&e, &o.goal, &counts))
    }

    fn window(&self, o: &ResultsOptions) -> Result<(i64, i64)> {
        let since = o.since.unwrap_or(0);
        let until = o.until.unwrap_or(self.clock.now_ms() + 1);
        if since < 0 || until <= since {
            return Err(Error::invalid(
                "until",
                "must be after since, and neither negative",
            ));
        }
        Ok((since, until))
    }
}

/// (exposures, conversions) per variant, from rows of `(variant, exposures,
/// conversions)`.
fn variant_counts(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
) -> Result<HashMap<String, (u64, u64)>> {
    Ok(stmt
        .query_map(params, |r| {
            Ok((
                r.get::<_, String>(0)?,
                (r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64),
            ))
        })?
        .collect::<rusqlite::Result<_>>()?)
}

/// Results from per-variant (exposures, conversions): rates and each
/// variant's z-test against the control (the first variant).
fn tally(e: &Experiment, goal: &str, counts: &HashMap<String, (u64, u64)>) -> ExperimentResults {
    let get = |name: &str| counts.get(name).copied().unwrap_or((0, 0));
    let control = get(&e.variants[0].name);
    let variants = e
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let (n, x) = get(&v.name);
            VariantResult {
                name: v.name.clone(),
                is_control: i == 0,
                exposures: n,
                conversions: x,
                rate: if n > 0 { x as f64 / n as f64 } else { 0.0 },
                vs_control: (i > 0)
                    .then(|| z_test(x as f64, n as f64, control.1 as f64, control.0 as f64))
                    .flatten(),
            }
        })
        .collect();
    ExperimentResults {
        key: e.key.clone(),
        goal: goal.into(),
        variants,
    }
}

/// The results of several engines holding disjoint subjects (partitions):
/// exposures and conversions add up, and the rates and z-tests are
/// recomputed on the sums. The parts must be of the same experiment, goal
/// and variants.
pub fn merge_results(parts: Vec<ExperimentResults>) -> Result<ExperimentResults> {
    let mut parts = parts.into_iter();
    let first = parts
        .next()
        .ok_or_else(|| Error::invalid("partials", "must hold at least one partial"))?;
    let names: Vec<String> = first.variants.iter().map(|v| v.name.clone()).collect();
    let mut counts: HashMap<String, (u64, u64)> = first
        .variants
        .iter()
        .map(|v| (v.name.clone(), (v.exposures, v.conversions)))
        .collect();
    for p in parts {
        let same = p.key == first.key
            && p.goal == first.goal
            && p.variants.iter().map(|v| &v.name).eq(names.iter());
        if !same {
            return Err(Error::invalid(
                "partials",
                "must be of one experiment, goal and variants",
            ));
        }
        for v in p.variants {
            let c = counts.entry(v.name).or_default();
            c.0 += v.exposures;
            c.1 += v.conversions;
        }
    }
    let e = Experiment {
        key: first.key,
        variants: names
            .into_iter()
            .map(|name| Variant { name, weight: 1.0 })
            .collect(),
    };
    Ok(tally(&e, &first.goal, &counts))
}

fn parse_variants(json: &str) -> Result<Vec<Variant>> {
    serde_json::from_str(json).map_err(|e| {
        crate::store::StoreError::Corrupt {
            detail: format!("experiments.variants: {e}"),
        }
        .into()
    })
}

/// Moves an anonymous id's assignments to the user (part of `identify`),
/// unless the user already has one for that experiment.
pub fn move_subject(tx: &Connection, anonymous_id: &str, user_id: &str) -> Result<()> {
    tx.execute(
        "UPDATE OR IGNORE experiment_assignments SET user_id = ?2 WHERE user_id = ?1",
        [anonymous_id, user_id],
    )?;
    tx.execute(
        "DELETE FROM experiment_assignments WHERE user_id = ?1",
        [anonymous_id],
    )?;
    Ok(())
}
