//! Privacy and compliance (GDPR, CCPA): consent and its proof, consent
//! gating, access and portability, erasure, rectification, anonymisation,
//! retention, PII redaction and an audit log.
//!
//! Everything the engine stores about a client goes through data
//! minimisation first: IP addresses are masked ([`ip`]), user agents are
//! reduced to a browser, an OS and a device class ([`useragent`]), and
//! emails, phone numbers and card numbers in free-text properties are
//! redacted ([`redact`]). Those helpers live in the kernel and are
//! re-exported here. Privacy sits above every other concern: export,
//! erasure and anonymisation reach all their tables through [`TABLES`]'s
//! list.
//!
//! ```
//! use std::sync::Arc;
//! use usertrail::{clock::ManualClock, OpenOptions, Storage, UserTrail};
//! use usertrail::privacy::{EraseOptions, GrantOptions};
//!
//! let clock = Arc::new(ManualClock::new(1_700_000_000_000));
//! let trail = UserTrail::open(OpenOptions::new(Storage::Memory).clock(clock)).unwrap();
//! let privacy = trail.privacy();
//! // Async, since consent may live in a shared store; ready at once on SQLite.
//! usertrail::block_on(async {
//!     let grant = GrantOptions {
//!         purposes: vec!["analytics".into()],
//!         source: "banner".into(),
//!         ..GrantOptions::default()
//!     };
//!     let status = privacy.grant("user-1", &grant).await.unwrap();
//!     assert!(status.purposes["analytics"].granted);
//!     assert!(privacy.verify_ledger(None, None).await.unwrap().ok);
//!
//!     let options = EraseOptions { reason: "user request".into(), ..EraseOptions::default() };
//!     let report = privacy.erase("user-1", &options).await.unwrap();
//!     assert_eq!(report.counts["consents"], 1);
//! });
//! ```

mod consent;
mod erase;
mod export;
mod retention;
mod rights;
mod shared;
mod subject;
mod zip;

pub use crate::kernel::net as ip;
pub use crate::kernel::redact;
pub use crate::kernel::useragent;

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use rusqlite::{Connection, Transaction, TransactionBehavior};

pub use crate::consent::{
    compare_versions, ConsentStatus, GrantOptions, LedgerEntry, PrivacyConfig, PurposeState,
    WithdrawOptions, ANALYTICS, BUILT_IN_PURPOSES, MARKETING, NECESSARY, PERSONALIZATION,
    SALE_SHARE,
};
pub use crate::error::PrivacyError;
pub use crate::store::audit::{AuditEntry, AuditFilter};
pub use crate::store::chain::{ChainReport, Mark, Problem};
pub use consent::Withdrawal;
pub use erase::{
    AnonymizeOptions, AnonymizeReport, EraseOptions, EraseReport, RectifyOptions, RectifyReport,
};
pub use export::{Export, ExportFormat, ExportProgress, DEFAULT_GATHER_MS, EXPORT_VERSION};
pub use retention::{RetentionPolicy, RetentionReport, RetentionSchedule};
pub use rights::{Applied, Followed, Place, PlaceStatus, Receipt, RightsState, LIVE_MS};
pub use shared::SHARED_TABLES;
pub use subject::{Table, TABLES};

use crate::error::Result;
use crate::kernel::clock::Clock;
use crate::store::audit;
use crate::tracking::{Registry, SubjectMoves};

/// The privacy operations of one engine.
pub struct Privacy<'a> {
    conn: &'a Connection,
    clock: &'a dyn Clock,
    config: &'a PrivacyConfig,
    ip_mask: ip::IpMask,
    registry: &'a RefCell<Option<Arc<Registry>>>,
    last_retention: &'a Cell<i64>,
    moves: Option<&'a dyn SubjectMoves>,
    shared: Option<Shared<'a>>,
    sweep: Option<&'a crate::session::SweepCursor>,
}

/// The shared store consent, preferences and sessions live in, if any.
#[derive(Clone, Copy)]
pub(crate) struct Shared<'a> {
    pub(crate) remote: &'a crate::store::remote::Remote,
    pub(crate) salt: &'a RefCell<Option<String>>,
    pub(crate) rights: &'a RightsState,
}

impl<'a> Privacy<'a> {
    /// Privacy on `conn` with `config`. `ip_mask` masks the IP addresses
    /// kept as proof of consent; `registry` caches event schemas (their
    /// `personal` properties); `last_retention` remembers when retention
    /// last ran, across calls.
    pub fn new(
        conn: &'a Connection,
        clock: &'a dyn Clock,
        config: &'a PrivacyConfig,
        ip_mask: ip::IpMask,
        registry: &'a RefCell<Option<Arc<Registry>>>,
        last_retention: &'a Cell<i64>,
    ) -> Self {
        Self {
            conn,
            clock,
            config,
            ip_mask,
            registry,
            last_retention,
            moves: None,
            shared: None,
            sweep: None,
        }
    }

    /// Lets retention delete expired sessions as the engine's sweeps do,
    /// walking the sessions table from `sweep` (it has no index by expiry)
    /// instead of reading all of it.
    pub fn with_sweep(mut self, sweep: &'a crate::session::SweepCursor) -> Self {
        self.sweep = Some(sweep);
        self
    }

    /// Keeps consent in `remote`, shared by every process, and lets export
    /// and erasure reach what the store keeps about a subject and every
    /// engine sharing it (through the rights log); `salt` caches the
    /// store's subject-hash salt, `rights` what this engine remembers of
    /// the rights log.
    pub fn with_shared(
        mut self,
        remote: &'a crate::store::remote::Remote,
        salt: &'a RefCell<Option<String>>,
        rights: &'a RightsState,
    ) -> Self {
        self.shared = Some(Shared {
            remote,
            salt,
            rights,
        });
        self
    }

    /// Moves other concerns' rows (preferences, assignments) on
    /// rectification through `moves`, the hook the engine implements.
    pub fn with_moves(mut self, moves: &'a dyn SubjectMoves) -> Self {
        self.moves = Some(moves);
        self
    }

    /// The settings.
    pub fn config(&self) -> &PrivacyConfig {
        self.config
    }

    /// Runs `f` in one immediate transaction, committed if it succeeds.
    fn in_tx<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let tx = Transaction::new_unchecked(self.conn, TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// The audit log entries matching `filter`, oldest first.
    pub fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let hashes = match &filter.subject {
            Some(s) => Some(subject::Scope::resolve(self.conn, s)?.hashes_json()),
            None => None,
        };
        audit::query(self.conn, filter, hashes)
    }

    /// Checks the whole audit log and names any edited, removed or
    /// reordered entry.
    pub fn verify_audit(&self) -> Result<ChainReport> {
        audit::Log::new(self.conn, self.config.chain_key()).verify(None)
    }

    /// [`Privacy::verify_audit`], and that the log still holds `anchor`, a
    /// head the app recorded outside the database ([`Privacy::audit_head`]).
    pub fn verify_audit_against(&self, anchor: &Mark) -> Result<ChainReport> {
        audit::Log::new(self.conn, self.config.chain_key()).verify(Some(anchor))
    }

    /// The audit log's head: its newest entry's `seq` and hash. Keep it
    /// outside the database and check the log against it later.
    pub fn audit_head(&self) -> Result<Mark> {
        audit::Log::new(self.conn, self.config.chain_key()).head()
    }

    /// How many events were not stored for want of `analytics` consent.
    pub fn dropped_without_consent(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT coalesce((SELECT value FROM counters WHERE name = 'consent.dropped'), 0)",
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// [`Privacy::record_audit`] for an entry about `subject` whose
    /// `personal` details (a JSON object, such as a session id) are cleared
    /// when the subject is erased or anonymised; the chain still verifies
    /// (see [`audit::Log::append_personal`]).
    pub fn record_audit_personal(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        details: &serde_json::Value,
        personal: &serde_json::Value,
    ) -> Result<i64> {
        crate::consent::check_label("actor", actor)?;
        crate::consent::check_label("action", action)?;
        subject::check("subject", subject)?;
        self.in_tx(|tx| {
            audit::Log::new(tx, self.config.chain_key()).append_personal(
                self.clock.now_ms(),
                actor,
                action,
                subject,
                details,
                personal,
            )
        })
    }

    /// Appends an entry to the audit log for an action the host took
    /// itself, such as `sessions.destroy_all`.
    pub fn record_audit(
        &self,
        actor: &str,
        action: &str,
        subject: Option<&str>,
        details: &serde_json::Value,
    ) -> Result<i64> {
        crate::consent::check_label("actor", actor)?;
        crate::consent::check_label("action", action)?;
        if let Some(s) = subject {
            subject::check("subject", s)?;
        }
        self.in_tx(|tx| {
            audit::Log::new(tx, self.config.chain_key()).append(
                self.clock.now_ms(),
                actor,
                action,
                subject,
                true,
                details,
            )
        })
    }
}
