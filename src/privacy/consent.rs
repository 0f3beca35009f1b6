//! Consent, as data-subject requests see it: decisions recorded through
//! [`crate::consent`] (in the engine's database, or in the shared store),
//! status over a subject's linked ids, and withdrawal that can erase what
//! the purposes collected.

use std::collections::BTreeMap;

use super::subject::{self, Scope};
use super::Privacy;
use crate::consent::redis::RedisConsent;
use crate::consent::{
    check_version, Consent, ConsentStatus, Decision, GrantOptions, LedgerEntry, WithdrawOptions,
    MARKETING, NECESSARY, SALE_SHARE,
};
use crate::error::{Error, Result};
use crate::store::audit;
use crate::store::chain::{ChainReport, Mark};

/// What `withdraw` did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Withdrawal {
    /// The subject's consent after the withdrawal.
    pub status: ConsentStatus,
    /// With `erase`: the rows deleted here per table (and `shared_prefs`,
    /// the preferences deleted from a shared store).
    pub erased: BTreeMap<String, u64>,
    /// With `erase` and a shared store: the rights-log entry that carries
    /// the erasure to every engine sharing the store, and which have
    /// applied it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rights: Option<super::Receipt>,
}

impl Privacy<'_> {
    /// Consent on this engine's database.
    pub(crate) fn consent(&self) -> Consent<'_> {
        Consent::new(self.conn, self.clock, self.config, self.ip_mask)
    }

    /// Consent in the shared store, if the engine has one.
    pub(crate) fn shared_consent(&self) -> Option<RedisConsent<'_>> {
        self.shared
            .map(|s| RedisConsent::new(self.consent(), s.remote, s.salt))
    }

    /// Records `decision` about `subject` where consent lives, and returns
    /// the subject's status after it. In a shared store, the decision is
    /// audited in this engine's log.
    async fn decide(&self, subject: &str, decision: &Decision<'_>) -> Result<ConsentStatus> {
        let Some(shared) = self.shared_consent() else {
            self.in_tx(|tx| self.consent().record(tx, subject, decision).map(|_| ()))?;
            return self.status(subject).await;
        };
        let (seq, decisions) = shared.record(subject, decision).await?;
        self.record_audit(
            decision.actor,
            &format!("consent.{}", decision.action),
            Some(subject),
            &serde_json::json!({
                "purposes": decision.purposes, "policyVersion": decision.policy_version,
                "source": decision.source, "ledgerSeq": seq, "shared": true,
            }),
        )?;
        Ok(shared.status(subject, &decisions))
    }

    /// Records that `subject` consents to `options.purposes`.
    pub async fn grant(&self, subject: &str, options: &GrantOptions) -> Result<ConsentStatus> {
        subject::check("subject", subject)?;
        let version = options
            .policy_version
            .clone()
            .unwrap_or_else(|| self.config.policy_version.clone());
        check_version("policyVersion", &version)?;
        if options.text.as_ref().is_some_and(|t| t.len() > 1_000_000) {
            return Err(Error::invalid("text", "must be at most 1 MB"));
        }
        let decision = Decision {
            action: "grant",
            purposes: self.consent().purposes(&options.purposes)?,
            policy_version: version,
            source: &options.source,
            text: options.text.as_deref(),
            ip: options.ip.as_deref(),
            user_agent: options.user_agent.as_deref(),
            actor: options.actor.as_deref().unwrap_or("subject"),
        };
        self.decide(subject, &decision).await
    }

    /// Records that `subject` withdraws `options.purposes`, and with
    /// `erase`, deletes what those purposes collected: in this engine, and
    /// with a shared store in the store and (through the rights log) in
    /// every engine sharing it. Returns the status, with `erase` the rows
    /// deleted here per table, and with a shared store the receipt.
    pub async fn withdraw(&self, subject: &str, options: &WithdrawOptions) -> Result<Withdrawal> {
        subject::check("subject", subject)?;
        if options.wait_ms.is_some_and(|w| w > 60_000) {
            return Err(Error::invalid("waitMs", "must be at most 60000"));
        }
        let purposes = self.consent().purposes(&options.purposes)?;
        if purposes.iter().any(|p| p == NECESSARY) {
            return Err(Error::invalid(
                "purposes",
                "necessary processing cannot be withdrawn",
            ));
        }
        let decision = Decision {
            action: "withdraw",
            purposes,
            policy_version: self.config.policy_version.clone(),
            source: &options.source,
            text: None,
            ip: options.ip.as_deref(),
            user_agent: options.user_agent.as_deref(),
            actor: options.actor.as_deref().unwrap_or("subject"),
        };
        // The decision first (where consent lives), then the erasure here:
        // a failure between leaves the data withdrawn and still to erase,
        // never erased without the withdrawal on record.
        let status = self.decide(subject, &decision).await?;
        if !options.erase {
            return Ok(Withdrawal {
                status,
                erased: BTreeMap::new(),
                rights: None,
            });
        }
        if self.shared.is_some() {
            return self
                .withdraw_everywhere(subject, &decision, status, options.wait_ms.unwrap_or(0))
                .await;
        }
        let counts = self.in_tx(|tx| {
            let scope = Scope::resolve(tx, subject)?;
            let counts = super::erase::purpose_data(tx, &scope, &decision.purposes)?;
            audit::Log::new(tx, self.config.chain_key()).append(
                self.clock.now_ms(),
                decision.actor,
                "consent.erase",
                Some(subject),
                true,
                &serde_json::json!({ "purposes": decision.purposes, "counts": counts }),
            )?;
            Ok(counts)
        })?;
        // No rewrite (see `EraseOptions::vacuum`), but the log's copies of
        // the pages as they were go.
        crate::store::scrub::after_delete(self.conn, Some(false))?;
        Ok(Withdrawal {
            status,
            erased: counts,
            rights: None,
        })
    }

    /// A withdrawal's erasure with a shared store: the preferences the
    /// purposes serve go from the store, and the rights log carries the
    /// rest to every engine sharing it (this one included).
    async fn withdraw_everywhere(
        &self,
        subject: &str,
        decision: &Decision<'_>,
        status: ConsentStatus,
        wait_ms: u32,
    ) -> Result<Withdrawal> {
        let local = Scope::resolve(self.conn, subject)?.ids;
        let ids = self.shared_ids(subject, &local).await?;
        let hashes = self.store_hashes(&ids).await?;
        let mut data = self.entry(hashes)?;
        data.purposes = Some(decision.purposes.clone());
        let own = super::rights::Own::new(subject, None, Some(decision.actor));
        let id = self.publish("withdraw", own, &data, &[]).await?;
        let keys: Vec<String> = {
            let purposes = serde_json::to_string(&decision.purposes).unwrap_or_default();
            let mut stmt = self.conn.prepare_cached(
                "SELECT key FROM pref_definitions WHERE json_extract(definition, '$.purpose') \
                 IN (SELECT value FROM json_each(?1)) ORDER BY key",
            )?;
            let keys = stmt
                .query_map([purposes], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<_>>()?;
            keys
        };
        let prefs = crate::prefs::redis::RedisPrefs::new(
            self.shared
                .map(|s| s.remote)
                .ok_or_else(|| Error::invalid("shared", "needs a shared store"))?,
        );
        let mut forgotten = 0;
        for (i, id) in ids.iter().enumerate() {
            // A linked id that is another user's id keeps its preferences
            // (see `subject::Scope`).
            if i > 0 && self.another_user(id).await? {
                continue;
            }
            forgotten += prefs.forget(id, &keys).await?;
        }
        self.follow().await?;
        let mut counts = self.take_mine(&id).unwrap_or_default().counts;
        counts.insert("shared_prefs".into(), forgotten);
        let receipt = self.receipt_after(&id, wait_ms).await?;
        Ok(Withdrawal {
            status,
            erased: counts,
            rights: Some(receipt),
        })
    }

    /// Records a Global Privacy Control signal (`Sec-GPC: 1`) from
    /// `subject`: a withdrawal of `sale_share` and `marketing`.
    pub async fn apply_global_privacy_control(
        &self,
        subject: &str,
        source: Option<&str>,
    ) -> Result<ConsentStatus> {
        subject::check("subject", subject)?;
        let decision = Decision {
            action: "gpc",
            purposes: vec![SALE_SHARE.into(), MARKETING.into()],
            policy_version: self.config.policy_version.clone(),
            source: source.unwrap_or("gpc"),
            text: None,
            ip: None,
            user_agent: None,
            actor: "subject",
        };
        self.decide(subject, &decision).await
    }

    /// Consent rates per purpose and policy version, from the engine's
    /// current decisions. With a shared store the decisions live in it, and
    /// counting them would read every subject's: `UNSUPPORTED` there.
    pub fn consent_rates(&self) -> Result<Vec<crate::consent::rates::ConsentRate>> {
        if self.shared_consent().is_some() {
            return Err(crate::error::StoreError::Unsupported {
                what: "consent rates with a shared store: decisions live in Redis, one hash per subject".into(),
            }
            .into());
        }
        crate::consent::rates::rates(self.conn)
    }

    /// `subject`'s consent per purpose, over the subject and the anonymous
    /// ids linked to it (the latest decision wins). In a shared store: one
    /// round trip (an anonymous id's decisions join its user's at
    /// `identify`), two for an anonymous id linked to a user, whose
    /// decisions count too.
    pub async fn status(&self, subject: &str) -> Result<ConsentStatus> {
        subject::check("subject", subject)?;
        if let Some(shared) = self.shared_consent() {
            let decisions = shared.effective(subject).await?;
            return Ok(shared.status(subject, &decisions));
        }
        // The subject, the anonymous ids linked to it, and the user it is
        // linked to: the ids its gate reads.
        let ids = crate::store::identity::linked(self.conn, &[subject])?;
        self.consent().status(subject, &ids)
    }

    /// Ledger rows, oldest first: all of them, or `subject`'s (found by the
    /// hashes of its linked ids and earlier names). In a shared store each
    /// subject has its own ledger, so `subject` is required there.
    pub async fn ledger(
        &self,
        subject: Option<&str>,
        after_seq: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<LedgerEntry>> {
        if let Some(shared) = self.shared_consent() {
            let subject = shared_subject(subject)?;
            let limit = limit.unwrap_or(100);
            if !(1..=10_000).contains(&limit) {
                return Err(Error::invalid("limit", "must be 1 to 10000"));
            }
            let (_, entries) = shared.ledger(subject).await?;
            return Ok(entries
                .iter()
                .map(|e| e.view())
                .filter(|e| e.seq > after_seq.unwrap_or(0))
                .take(limit as usize)
                .collect());
        }
        let hashes = match subject {
            Some(s) => Some(Scope::resolve(self.conn, s)?.hashes_json()),
            None => None,
        };
        self.consent().ledger(hashes, after_seq, limit)
    }

    /// Checks the consent ledger: links, hashes, both ends, and that each
    /// row's subject, IP and user agent still match their hashes; with
    /// `anchor`, that it still holds a head the app recorded outside the
    /// database ([`Privacy::ledger_head`]): a ledger rewritten from the
    /// start is found this way. On SQLite the ledger is one chain, checked
    /// whole; in a shared store each subject's is its own, and `subject`
    /// names the one to check.
    pub async fn verify_ledger(
        &self,
        subject: Option<&str>,
        anchor: Option<&Mark>,
    ) -> Result<ChainReport> {
        match self.shared_consent() {
            Some(shared) => shared.verify(shared_subject(subject)?, anchor).await,
            None => self.consent().verify_ledger(anchor),
        }
    }

    /// The consent ledger's head: its newest row's `seq` and hash (of
    /// `subject`'s ledger, in a shared store). Keep it outside the store (a
    /// signed log) and check the ledger against it later.
    pub async fn ledger_head(&self, subject: Option<&str>) -> Result<Mark> {
        match self.shared_consent() {
            Some(shared) => Ok(shared.ledger(shared_subject(subject)?).await?.0),
            None => self.consent().ledger_head(),
        }
    }
}

/// The subject a shared-store ledger call needs.
fn shared_subject(subject: Option<&str>) -> Result<&str> {
    let subject = subject.ok_or_else(|| {
        Error::invalid(
            "subject",
            "is required with a shared store: each subject's ledger is its own chain",
        )
    })?;
    subject::check("subject", subject)?;
    Ok(subject)
}
