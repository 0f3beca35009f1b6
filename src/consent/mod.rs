//! Consent: the purposes, the policy version in force, each subject's
//! decisions with their proof in a hash-chained ledger, and the gate that
//! tracking, preferences and experiments ask before storing what needs
//! consent.
//!
//! It sits below the concerns it gates, so they need not import `privacy`.
//! Decisions about a subject count for the anonymous ids `identify` linked
//! to it ([`crate::store::identity`]), and the latest decision wins.
//!
//! ```
//! use std::sync::Arc;
//! use usertrail::{clock::ManualClock, OpenOptions, Storage, UserTrail};
//! use usertrail::privacy::GrantOptions;
//!
//! let trail = UserTrail::open(
//!     OpenOptions::new(Storage::Memory).clock(Arc::new(ManualClock::new(1_000))),
//! ).unwrap();
//! let conn = trail.store().conn();
//! let config = usertrail::consent::PrivacyConfig::default();
//! assert!(!usertrail::consent::allows(conn, &config, &["ann"], "analytics").unwrap());
//! let grant = GrantOptions {
//!     purposes: vec!["analytics".into()],
//!     source: "banner".into(),
//!     ..GrantOptions::default()
//! };
//! // Async, since consent may live in a shared store; ready at once on SQLite.
//! usertrail::block_on(trail.privacy().grant("ann", &grant)).unwrap();
//! assert!(usertrail::consent::allows(conn, &config, &["ann"], "analytics").unwrap());
//! ```

mod config;
mod ledger;
pub mod rates;
pub mod redis;

use rusqlite::{params, Connection, OptionalExtension};

pub use config::{
    check_version, compare_versions, PrivacyConfig, ANALYTICS, BUILT_IN_PURPOSES, MARKETING,
    NECESSARY, PERSONALIZATION, SALE_SHARE,
};
pub use ledger::{
    check_label, ConsentStatus, Decision, GrantOptions, LedgerEntry, PurposeState, WithdrawOptions,
};

use crate::error::Result;
use crate::kernel::clock::Clock;
use crate::kernel::net::IpMask;

/// The consent operations of one engine: recording decisions, reading
/// them back, checking the ledger.
pub struct Consent<'a> {
    conn: &'a Connection,
    clock: &'a dyn Clock,
    config: &'a PrivacyConfig,
    ip_mask: IpMask,
}

impl<'a> Consent<'a> {
    /// Consent on `conn` under `config`; `ip_mask` masks the IP addresses
    /// kept as proof.
    pub fn new(
        conn: &'a Connection,
        clock: &'a dyn Clock,
        config: &'a PrivacyConfig,
        ip_mask: IpMask,
    ) -> Self {
        Self {
            conn,
            clock,
            config,
            ip_mask,
        }
    }

    /// The settings.
    pub fn config(&self) -> &PrivacyConfig {
        self.config
    }
}

/// Where a check reads consent decisions: the engine's database, or a
/// [`redis::Snapshot`] fetched from a shared store for one batch.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// The engine's own tables (and its identity links).
    Local(&'a Connection),
    /// Decisions fetched from the shared store.
    Shared(&'a redis::Snapshot),
}

impl Source<'_> {
    /// The latest decision about `purpose` across `ids`.
    pub fn decision(&self, ids: &[&str], purpose: &str) -> Result<Option<(bool, String)>> {
        match self {
            Self::Local(conn) => decision(conn, ids, purpose),
            Self::Shared(snapshot) => Ok(snapshot.decision(ids, purpose)),
        }
    }

    /// [`allows`], from this source.
    pub fn allows(&self, config: &PrivacyConfig, ids: &[&str], purpose: &str) -> Result<bool> {
        Ok(granted(config, self.decision(ids, purpose)?))
    }

    /// [`sale_allowed`], from this source.
    pub fn sale_allowed(&self, config: &PrivacyConfig, ids: &[&str]) -> Result<bool> {
        if config.requires(SALE_SHARE) || ids.is_empty() {
            return self.allows(config, ids, SALE_SHARE);
        }
        Ok(self
            .decision(ids, SALE_SHARE)?
            .is_none_or(|(granted, _)| granted))
    }
}

/// Whether a decision counts as consent under `config`.
fn granted(config: &PrivacyConfig, decision: Option<(bool, String)>) -> bool {
    decision.is_some_and(|(granted, version)| {
        granted
            && !(config.require_current_policy
                && compare_versions(&version, &config.policy_version).is_lt())
    })
}

/// Whether the subjects in `ids` (an event's user and anonymous id, say)
/// and the ids linked to them have granted `purpose`: the latest decision
/// across them wins, and no decision means no. Under
/// `requireCurrentPolicy`, a grant under an older policy version counts as
/// no.
pub fn allows(
    conn: &Connection,
    config: &PrivacyConfig,
    ids: &[&str],
    purpose: &str,
) -> Result<bool> {
    Source::Local(conn).allows(config, ids, purpose)
}

/// Whether the subjects in `ids` may have their data sold or shared with a
/// third party (CCPA): not after they opted out of `sale_share` (withdrew
/// it, or sent a Global Privacy Control signal); when the engine requires
/// `sale_share` consent, only after they granted it.
pub fn sale_allowed(conn: &Connection, config: &PrivacyConfig, ids: &[&str]) -> Result<bool> {
    Source::Local(conn).sale_allowed(config, ids)
}

/// The latest decision about `purpose` across `ids` and the ids linked to
/// them: whether it was granted, and under which policy version.
pub fn decision(conn: &Connection, ids: &[&str], purpose: &str) -> Result<Option<(bool, String)>> {
    if ids.is_empty() {
        return Ok(None);
    }
    let ids =
        serde_json::to_string(&crate::store::identity::linked(conn, ids)?).unwrap_or_default();
    Ok(conn
        .prepare_cached(
            "SELECT granted, policy_version FROM consents WHERE purpose = ?2 \
             AND subject IN (SELECT value FROM json_each(?1)) \
             ORDER BY at DESC, seq DESC LIMIT 1",
        )?
        .query_row(params![ids, purpose], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}
