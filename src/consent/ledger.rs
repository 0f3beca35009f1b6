//! Consent decisions per purpose and their proof in the ledger.

use std::collections::BTreeMap;

use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::config::{compare_versions, NECESSARY};
use super::Consent;
use crate::error::{Error, Result};
use crate::kernel::ids::hex;
use crate::kernel::{net, text};
use crate::store::chain::{self, ChainReport};
use crate::store::{audit, subject_hash as subject};

const TABLE: &str = "consent_ledger";

/// What `grant` records.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantOptions {
    /// The purposes consented to.
    pub purposes: Vec<String>,
    /// The policy version the subject saw; default the engine's current one.
    pub policy_version: Option<String>,
    /// Where the consent was given, such as `"banner"` or `"settings"`.
    pub source: String,
    /// The text shown; only its SHA-256 is kept.
    pub text: Option<String>,
    /// The client's IP address; only its masked form is kept.
    pub ip: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// Who recorded it, for the audit log (default `"subject"`).
    pub actor: Option<String>,
}

/// What `withdraw` records.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WithdrawOptions {
    /// The purposes withdrawn.
    pub purposes: Vec<String>,
    /// Where it was withdrawn.
    pub source: String,
    /// Also delete what these purposes collected about the subject.
    #[serde(default)]
    pub erase: bool,
    /// The client's IP address; only its masked form is kept.
    pub ip: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// Who recorded it, for the audit log (default `"subject"`).
    pub actor: Option<String>,
    /// With `erase` and a shared store: wait up to this many ms (at most
    /// 60,000) for every engine sharing it to apply the erasure.
    pub wait_ms: Option<u32>,
}

/// One purpose's state for a subject.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PurposeState {
    /// Whether it is granted now. `necessary` always is; others are not
    /// until granted.
    pub granted: bool,
    /// Whether the subject ever decided on it.
    pub decided: bool,
    /// The policy version of the last decision.
    pub policy_version: Option<String>,
    /// When the last decision was made.
    pub at: Option<i64>,
    /// Where it was made.
    pub source: Option<String>,
    /// The last decision was under an older policy version than the current one.
    pub needs_reconsent: bool,
}

/// A subject's consent, per purpose.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentStatus {
    /// The subject.
    pub subject: String,
    /// The engine's current policy version.
    pub policy_version: String,
    /// The subject decided on at least one purpose besides `necessary`.
    pub decided: bool,
    /// Some decision was made under an older policy version: ask again.
    pub needs_reconsent: bool,
    /// CCPA: `sale_share` is not granted (opted out, or never opted in).
    pub do_not_sell: bool,
    /// Every known purpose.
    pub purposes: BTreeMap<String, PurposeState>,
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    /// Its place in the ledger, from 1.
    pub seq: i64,
    /// When.
    pub at: i64,
    /// The subject; `None` once erased or anonymised.
    pub subject: Option<String>,
    /// The subject's salted hash.
    pub subject_hash: String,
    /// `grant`, `withdraw` or `gpc` (a Global Privacy Control signal).
    pub action: String,
    /// The purposes decided.
    pub purposes: Vec<String>,
    /// The policy version decided under.
    pub policy_version: String,
    /// Where.
    pub source: String,
    /// SHA-256 of the text shown, hex.
    pub text_hash: Option<String>,
    /// The masked IP address.
    pub ip_masked: Option<String>,
    /// The user agent.
    pub user_agent: Option<String>,
}

/// A decision about to be recorded.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    /// `grant`, `withdraw` or `gpc`.
    pub action: &'a str,
    /// The purposes decided, checked and de-duplicated.
    pub purposes: Vec<String>,
    /// The policy version decided under.
    pub policy_version: String,
    /// Where it was made.
    pub source: &'a str,
    /// The text shown; only its hash is kept.
    pub text: Option<&'a str>,
    /// The client's IP address; only its masked form is kept.
    pub ip: Option<&'a str>,
    /// The client's user agent.
    pub user_agent: Option<&'a str>,
    /// Who recorded it, for the audit log.
    pub actor: &'a str,
}

pub(super) fn sha_hex(parts: &[Option<&str>]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        match p {
            Some(s) => {
                h.update([1]);
                h.update((s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
            None => h.update([0]),
        }
    }
    hex(&h.finalize())
}

/// Checks free text such as a source or an actor: 1 to 128 bytes.
pub fn check_label(field: &str, v: &str) -> Result<()> {
    Ok(text::check(field, v, 128)?)
}

/// What a decision is recorded as, checked and minimised.
pub(super) struct Prepared {
    pub at: i64,
    pub subject_hash: String,
    /// The purposes, as a JSON array.
    pub purposes: String,
    pub text_hash: Option<String>,
    pub ip_masked: Option<String>,
    pub details_hash: String,
}

impl Consent<'_> {
    /// Checks a decision's labels and client, and computes what the ledger
    /// keeps of it: the subject's salted hash, the text's hash, the masked
    /// IP, and the hash binding the subject, IP and user agent to the row.
    pub(super) fn prepare(&self, salt: &str, subject: &str, d: &Decision<'_>) -> Result<Prepared> {
        check_label("source", d.source)?;
        check_label("actor", d.actor)?;
        let ip_masked = d.ip.map(|i| net::mask(i, self.ip_mask)).transpose()?;
        if d.user_agent.is_some_and(|u| u.len() > 1024) {
            return Err(Error::invalid("userAgent", "must be at most 1024 bytes"));
        }
        Ok(Prepared {
            at: self.clock.now_ms(),
            subject_hash: subject::hash(salt, subject),
            purposes: serde_json::to_string(&d.purposes).unwrap_or_default(),
            text_hash: d.text.map(|t| sha_hex(&[Some(t)])),
            details_hash: sha_hex(&[Some(subject), ip_masked.as_deref(), d.user_agent]),
            ip_masked,
        })
    }

    /// Checks and de-duplicates a list of purposes.
    pub fn purposes(&self, purposes: &[String]) -> Result<Vec<String>> {
        if purposes.is_empty() {
            return Err(Error::invalid("purposes", "must name at least one purpose"));
        }
        if purposes.len() > 64 {
            return Err(Error::invalid("purposes", "at most 64 purposes"));
        }
        let mut out: Vec<String> = Vec::with_capacity(purposes.len());
        for p in purposes {
            self.config.check_purpose(p)?;
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
        Ok(out)
    }

    /// Appends a decision to the ledger, updates the current state, and
    /// audits it. Runs inside the caller's transaction.
    pub fn record(&self, tx: &Connection, subject: &str, d: &Decision<'_>) -> Result<i64> {
        let salt = subject::salt(tx)?;
        let Prepared {
            at,
            subject_hash,
            purposes,
            text_hash,
            ip_masked,
            details_hash,
        } = self.prepare(&salt, subject, d)?;
        let head = chain::head(tx, TABLE)?;
        let seq = head.seq + 1;
        let f = ledger_fields(
            seq,
            at,
            &subject_hash,
            d.action,
            &purposes,
            &d.policy_version,
            d.source,
            text_hash.as_deref(),
            &details_hash,
        );
        let refs: Vec<&str> = f.iter().map(String::as_str).collect();
        let key = chain::key_for_append(tx, TABLE, seq, self.config.chain_key())?;
        let hash = chain::link(key, &head.hash, &refs);
        tx.prepare_cached(
            "INSERT INTO consent_ledger (seq, at, subject, subject_hash, action, purposes, policy_version, \
             source, text_hash, ip_masked, user_agent, details_hash, prev_hash, hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?
        .execute(params![
            seq,
            at,
            subject,
            subject_hash,
            d.action,
            purposes,
            d.policy_version,
            d.source,
            text_hash,
            ip_masked,
            d.user_agent,
            details_hash,
            head.hash,
            hash
        ])?;
        chain::set_head(tx, TABLE, &chain::Mark { seq, hash })?;
        let granted = d.action == "grant";
        let mut upsert = tx.prepare_cached(
            "INSERT INTO consents (subject, purpose, granted, policy_version, source, at, seq) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (subject, purpose) DO UPDATE SET \
             granted = excluded.granted, policy_version = excluded.policy_version, \
             source = excluded.source, at = excluded.at, seq = excluded.seq",
        )?;
        for p in &d.purposes {
            upsert.execute(params![
                subject,
                p,
                granted,
                d.policy_version,
                d.source,
                at,
                seq
            ])?;
        }
        audit::Log::new(tx, self.config.chain_key()).append_hashed(
            at,
            d.actor,
            &format!("consent.{}", d.action),
            Some(subject),
            Some(&subject_hash),
            &serde_json::json!({
                "purposes": d.purposes, "policyVersion": d.policy_version,
                "source": d.source, "ledgerSeq": seq,
            }),
        )?;
        Ok(seq)
    }

    /// `subject`'s consent per purpose, over `ids`: the subject and the
    /// anonymous ids linked to it (the latest decision wins).
    pub fn status(&self, subject: &str, ids: &[String]) -> Result<ConsentStatus> {
        let ids = serde_json::to_string(ids).unwrap_or_default();
        let mut stmt = self.conn.prepare_cached(
            "SELECT purpose, granted, policy_version, source, at FROM consents \
             WHERE subject IN (SELECT value FROM json_each(?1)) ORDER BY at, seq",
        )?;
        let mut latest: BTreeMap<String, (bool, String, String, i64)> = BTreeMap::new();
        let rows = stmt.query_map([ids], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?),
            ))
        })?;
        for row in rows {
            let (purpose, state) = row?;
            latest.insert(purpose, state);
        }
        Ok(self.status_from(subject, latest))
    }

    /// The status of `subject` from its latest decision per purpose:
    /// `(granted, policy version, source, at)`.
    pub fn status_from(
        &self,
        subject: &str,
        mut latest: BTreeMap<String, (bool, String, String, i64)>,
    ) -> ConsentStatus {
        let current = &self.config.policy_version;
        let mut purposes = BTreeMap::new();
        for p in self.config.all_purposes() {
            let state = match latest.remove(&p) {
                Some((granted, version, source, at)) => {
                    let stale = compare_versions(&version, current).is_lt();
                    PurposeState {
                        granted: (granted && !(stale && self.config.require_current_policy))
                            || p == NECESSARY,
                        decided: true,
                        needs_reconsent: stale,
                        policy_version: Some(version),
                        at: Some(at),
                        source: Some(source),
                    }
                }
                None => PurposeState {
                    granted: p == NECESSARY,
                    decided: false,
                    policy_version: None,
                    at: None,
                    source: None,
                    needs_reconsent: false,
                },
            };
            purposes.insert(p, state);
        }
        ConsentStatus {
            subject: subject.to_owned(),
            policy_version: current.clone(),
            decided: purposes.iter().any(|(p, s)| p != NECESSARY && s.decided),
            needs_reconsent: purposes.values().any(|s| s.needs_reconsent),
            do_not_sell: !purposes.get(super::SALE_SHARE).is_some_and(|s| s.granted),
            purposes,
        }
    }

    /// Ledger rows, oldest first: all of them, or those whose subject hash
    /// is in `hashes` (a JSON array).
    pub fn ledger(
        &self,
        hashes: Option<String>,
        after_seq: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<LedgerEntry>> {
        let limit = limit.unwrap_or(100);
        if !(1..=10_000).contains(&limit) {
            return Err(Error::invalid("limit", "must be 1 to 10000"));
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, at, subject, subject_hash, action, purposes, policy_version, source, text_hash, \
             ip_masked, user_agent FROM consent_ledger \
             WHERE (?1 IS NULL OR (subject_hash IN (SELECT value ->> 0 FROM json_each(?1)) AND at <= \
               coalesce((SELECT value ->> 1 FROM json_each(?1) WHERE value ->> 0 = subject_hash), \
               9223372036854775807))) AND seq > ?2 \
             ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![hashes, after_seq.unwrap_or(0), limit], |r| {
            let purposes: String = r.get(5)?;
            Ok(LedgerEntry {
                seq: r.get(0)?,
                at: r.get(1)?,
                subject: r.get(2)?,
                subject_hash: r.get(3)?,
                action: r.get(4)?,
                purposes: serde_json::from_str(&purposes).unwrap_or_default(),
                policy_version: r.get(6)?,
                source: r.get(7)?,
                text_hash: r.get(8)?,
                ip_masked: r.get(9)?,
                user_agent: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The newest ledger row's `seq` and hash, to keep outside the database
    /// and check the ledger against later.
    pub fn ledger_head(&self) -> Result<chain::Mark> {
        chain::head(self.conn, TABLE)
    }

    /// Checks the whole consent ledger: links, hashes, both ends, that each
    /// row's subject, IP and user agent still match their hashes, and, with
    /// `anchor`, that it still holds the head recorded outside the database.
    pub fn verify_ledger(&self, anchor: Option<&chain::Mark>) -> Result<ChainReport> {
        let salt = subject::salt(self.conn)?;
        let mut stmt = self.conn.prepare(
            "SELECT seq, at, subject, subject_hash, action, purposes, policy_version, source, text_hash, \
             ip_masked, user_agent, details_hash, prev_hash, hash FROM consent_ledger ORDER BY seq",
        )?;
        let rows = stmt.query_map([], |r| {
            let seq: i64 = r.get(0)?;
            let subject: Option<String> = r.get(2)?;
            let subject_hash: String = r.get(3)?;
            let ip: Option<String> = r.get(9)?;
            let ua: Option<String> = r.get(10)?;
            let details_hash: String = r.get(11)?;
            let f = ledger_fields(
                seq,
                r.get(1)?,
                &subject_hash,
                &r.get::<_, String>(4)?,
                &r.get::<_, String>(5)?,
                &r.get::<_, String>(6)?,
                &r.get::<_, String>(7)?,
                r.get::<_, Option<String>>(8)?.as_deref(),
                &details_hash,
            );
            let prev: String = r.get(12)?;
            let other = match &subject {
                Some(s) if subject::hash(&salt, s) != subject_hash => {
                    Some("the subject does not match its hash".to_owned())
                }
                Some(s) if sha_hex(&[Some(s), ip.as_deref(), ua.as_deref()]) != details_hash => {
                    Some("the IP address or user agent was edited".to_owned())
                }
                None if ip.is_some() || ua.is_some() => {
                    Some("client details without a subject".to_owned())
                }
                _ => None,
            };
            Ok((seq, prev, r.get(13)?, f.to_vec(), other))
        })?;
        chain::verify(
            self.conn,
            TABLE,
            self.config.chain_key(),
            anchor,
            rows.map(|r| r.map_err(Error::from)),
        )
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn ledger_fields(
    seq: i64,
    at: i64,
    subject_hash: &str,
    action: &str,
    purposes: &str,
    policy_version: &str,
    source: &str,
    text_hash: Option<&str>,
    details_hash: &str,
) -> [String; 9] {
    [
        seq.to_string(),
        at.to_string(),
        subject_hash.to_owned(),
        action.to_owned(),
        purposes.to_owned(),
        policy_version.to_owned(),
        source.to_owned(),
        text_hash.unwrap_or("").to_owned(),
        details_hash.to_owned(),
    ]
}
