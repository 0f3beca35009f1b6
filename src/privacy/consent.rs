//! Consent, as data-subject requests see it: decisions recorded through
//! [`crate::consent`], status over a subject's linked ids, and withdrawal
//! that can erase what the purposes collected.

use std::collections::BTreeMap;

use super::subject::{self, Scope};
use super::Privacy;
use crate::consent::{
    check_version, Consent, ConsentStatus, Decision, GrantOptions, LedgerEntry, WithdrawOptions,
    MARKETING, NECESSARY, SALE_SHARE,
};
use crate::error::{Error, Result};
use crate::store::audit;
use crate::store::chain::{ChainReport, Mark};

impl Privacy<'_> {
    /// Consent on this engine's database.
    pub(crate) fn consent(&self) -> Consent<'_> {
        Consent::new(self.conn, self.clock, self.config, self.ip_mask)
    }

    /// Records that `subject` consents to `options.purposes`.
    pub fn grant(&self, subject: &str, options: &GrantOptions) -> Result<ConsentStatus> {
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
        self.in_tx(|tx| self.consent().record(tx, subject, &decision).map(|_| ()))?;
        self.status(subject)
    }

    /// Records that `subject` withdraws `options.purposes`, and with
    /// `erase`, deletes what those purposes collected. Returns the status
    /// and, with `erase`, the rows deleted per table.
    pub fn withdraw(
        &self,
        subject: &str,
        options: &WithdrawOptions,
    ) -> Result<(ConsentStatus, BTreeMap<String, u64>)> {
        subject::check("subject", subject)?;
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
        let counts = self.in_tx(|tx| {
            self.consent().record(tx, subject, &decision)?;
            if !options.erase {
                return Ok(BTreeMap::new());
            }
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
        Ok((self.status(subject)?, counts))
    }

    /// Records a Global Privacy Control signal (`Sec-GPC: 1`) from
    /// `subject`: a withdrawal of `sale_share` and `marketing`.
    pub fn apply_global_privacy_control(
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
        self.in_tx(|tx| self.consent().record(tx, subject, &decision).map(|_| ()))?;
        self.status(subject)
    }

    /// `subject`'s consent per purpose, over the subject and the anonymous
    /// ids linked to it (the latest decision wins).
    pub fn status(&self, subject: &str) -> Result<ConsentStatus> {
        let ids = subject::linked_ids(self.conn, subject)?;
        self.consent().status(subject, &ids)
    }

    /// Ledger rows, oldest first: all of them, or `subject`'s (found by the
    /// hashes of its linked ids and earlier names).
    pub fn ledger(
        &self,
        subject: Option<&str>,
        after_seq: Option<i64>,
        limit: Option<u32>,
    ) -> Result<Vec<LedgerEntry>> {
        let hashes = match subject {
            Some(s) => Some(Scope::resolve(self.conn, s)?.hashes_json()),
            None => None,
        };
        self.consent().ledger(hashes, after_seq, limit)
    }

    /// Checks the whole consent ledger: links, hashes, both ends, and that
    /// each row's subject, IP and user agent still match their hashes.
    pub fn verify_ledger(&self) -> Result<ChainReport> {
        self.consent().verify_ledger(None)
    }

    /// [`Privacy::verify_ledger`], and that the ledger still holds `anchor`,
    /// a head the app recorded outside the database ([`Privacy::ledger_head`]):
    /// a ledger rewritten from the start is found this way.
    pub fn verify_ledger_against(&self, anchor: &Mark) -> Result<ChainReport> {
        self.consent().verify_ledger(Some(anchor))
    }

    /// The consent ledger's head: its newest row's `seq` and hash. Keep it
    /// outside the database (another store, a signed log) and check the
    /// ledger against it later.
    pub fn ledger_head(&self) -> Result<Mark> {
        self.consent().ledger_head()
    }
}
