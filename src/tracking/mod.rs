//! Activity tracking: events, validation, sampling, batching, history, and
//! an outbox for the app's own collector.
//!
//! Events live in SQLite, so nothing is lost when a tab closes and no queue
//! overflows a storage quota. Privacy by default: IPs are masked and user
//! agents reduced before anything is stored.
//!
//! ```
//! use std::sync::Arc;
//! use usertrail::clock::ManualClock;
//! use usertrail::tracking::{EventInput, EventType, HistoryFilter, TrackStatus};
//! use usertrail::{OpenOptions, Storage, UserTrail};
//!
//! let trail = UserTrail::open(
//!     OpenOptions::new(Storage::Memory).clock(Arc::new(ManualClock::new(1_700_000_000_000))),
//! ).unwrap();
//! let tracking = trail.tracking();
//! let view = EventInput {
//!     event_type: Some(EventType::Page),
//!     name: "page_view".into(),
//!     path: Some("/pricing".into()),
//!     anonymous_id: Some("anon-1".into()),
//!     ..EventInput::default()
//! };
//! let (event_id, status) = tracking.track(view.clone()).unwrap();
//! assert_eq!(status, TrackStatus::Stored);
//!
//! // The same event id again is stored once.
//! let again = EventInput { event_id: Some(event_id), ..view };
//! assert_eq!(tracking.track(again).unwrap().1, TrackStatus::Duplicate);
//!
//! tracking.identify("anon-1", "alice").unwrap();
//! let filter = HistoryFilter { user_id: Some("alice".into()), ..HistoryFilter::default() };
//! assert_eq!(tracking.count(&filter).unwrap(), 1);
//! ```

pub mod blocks;
mod config;
pub mod dims;
mod event;
mod forward;
mod history;
mod ingest;
pub mod names;
mod outbox;
mod quarantine;
pub mod rollup;
mod sampling;
mod schema;
pub mod spans;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use rusqlite::Connection;

pub use crate::error::TrackingError;
pub use crate::kernel::ids::uuid_v7;

/// What [`Tracking::pack_blocks`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackedBlocks {
    /// Blocks packed, or given their spans, rows by name or dimensions, by
    /// this call.
    pub packed: u64,
    /// Blocks still to pack: missing, of an older format, without their
    /// spans, without their rows by name, or without their dimensions (a
    /// block without several counts once for each).
    pub remaining: u64,
}

/// The SQL expression that reads `events.event_id` (16 bytes since schema
/// version 10) as the UUID text the API returns: for tools that read the
/// database file directly.
pub const EVENT_ID_TEXT: &str = crate::kernel::ids::uuid_text_sql!("event_id");
pub use config::{OutboxConfig, PipelineConfig, SamplingRule, TrackingConfig, ValidationMode};
pub use event::{parse as parse_event, Event, EventClient, EventInput, EventType};
pub use forward::Stored as ForwardedStored;
pub use history::{HistoryFilter, HistoryPage};
pub use ingest::{check_batch, ItemResult, TrackStatus, BATCH_CAP};
pub use outbox::{backoff_ms, Batch, OutboxStats};
pub use quarantine::Quarantined;
pub use schema::{EventSchema, PropType, Registry, SimpleType};

use crate::consent::PrivacyConfig;
use crate::error::Result;
use crate::kernel::clock::Clock;
use crate::kernel::net::IpMask;
use crate::kernel::text;
use crate::store::identity;

/// The tracking operations of one engine.
pub struct Tracking<'a> {
    conn: &'a Connection,
    config: &'a TrackingConfig,
    privacy: &'a PrivacyConfig,
    ip_mask: IpMask,
    clock: &'a dyn Clock,
    registry: &'a RefCell<Option<Arc<Registry>>>,
    maintenance: Option<&'a dyn Maintenance>,
    moves: Option<&'a dyn SubjectMoves>,
    sessions: Option<&'a dyn SessionLinks>,
    consent: Option<&'a crate::consent::redis::Snapshot>,
}

/// Work an engine does before tracking writes, such as a retention run
/// that is due.
pub trait Maintenance {
    /// Called before each write.
    fn before_write(&self) -> Result<()>;
}

/// Moves a subject's rows in the concerns tracking does not own when one id
/// becomes another: `identify` (an anonymous id becomes a user) and
/// rectification (a user is renamed). The engine implements it over the
/// concerns it holds (preferences, experiment assignments), so tracking and
/// privacy need not import them.
pub trait SubjectMoves {
    /// Moves `from`'s rows to `to` inside the caller's transaction `tx`;
    /// where `to` already has a row for the same key, `to`'s stays. Returns
    /// the rows moved, per table.
    fn move_subject(&self, tx: &Connection, from: &str, to: &str) -> Result<BTreeMap<String, u64>>;
}

/// The session a token names, through the session concern's own API (the
/// engine implements it), so tracking never reads the sessions' storage.
pub trait SessionLinks {
    /// The id of the live session `token` belongs to, or `None` for a
    /// malformed, unknown or expired token.
    fn session_id(&self, token: &str) -> Result<Option<String>>;
}

impl<'a> Tracking<'a> {
    /// Tracking on `conn` with `config` and `clock`; `privacy` says which
    /// consent gates events and whether PII is redacted, and `ip_mask` how
    /// IP addresses are masked. `registry` caches the declared schemas and
    /// dimensions across calls.
    pub fn new(
        conn: &'a Connection,
        config: &'a TrackingConfig,
        privacy: &'a PrivacyConfig,
        ip_mask: IpMask,
        clock: &'a dyn Clock,
        registry: &'a RefCell<Option<Arc<Registry>>>,
    ) -> Self {
        Self {
            conn,
            config,
            privacy,
            ip_mask,
            clock,
            registry,
            maintenance: None,
            moves: None,
            sessions: None,
            consent: None,
        }
    }

    /// Reads consent from `snapshot` (decisions fetched from a shared store
    /// for this call's subjects) instead of the engine's database.
    pub fn with_consent(mut self, snapshot: &'a crate::consent::redis::Snapshot) -> Self {
        self.consent = Some(snapshot);
        self
    }

    /// Where this tracking reads consent: the snapshot it was given, or
    /// `conn` (the engine's database, inside the caller's transaction).
    pub(crate) fn consent_source<'c>(&'c self, conn: &'c Connection) -> crate::consent::Source<'c> {
        match self.consent {
            Some(s) => crate::consent::Source::Shared(s),
            None => crate::consent::Source::Local(conn),
        }
    }

    /// Runs `maintenance` before each write.
    pub fn with_maintenance(mut self, maintenance: &'a dyn Maintenance) -> Self {
        self.maintenance = Some(maintenance);
        self
    }

    /// Moves other concerns' rows on `identify` through `moves`.
    pub fn with_moves(mut self, moves: &'a dyn SubjectMoves) -> Self {
        self.moves = Some(moves);
        self
    }

    /// Resolves `sessionToken`s to sessions through `sessions`. Without it,
    /// an event's token links it to no session.
    pub fn with_sessions(mut self, sessions: &'a dyn SessionLinks) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// The privacy settings events are stored under.
    pub(crate) fn privacy(&self) -> &PrivacyConfig {
        self.privacy
    }

    /// The declared schemas and dimensions, loaded on first use.
    fn registry(&self) -> Result<Arc<Registry>> {
        Registry::cached(self.conn, self.registry)
    }

    /// Declares the properties events named `name` must and may have.
    /// Replaces an earlier schema for that name.
    pub fn define_event(&self, name: &str, schema: &EventSchema) -> Result<()> {
        schema::define_event(self.conn, name, schema)?;
        *self.registry.borrow_mut() = None;
        Ok(())
    }

    /// Declares a custom dimension, which events may then set and analytics
    /// may group by.
    pub fn define_dimension(&self, name: &str, ty: SimpleType) -> Result<()> {
        schema::define_dimension(self.conn, name, ty)?;
        *self.registry.borrow_mut() = None;
        Ok(())
    }

    /// Links an anonymous id to a user: its earlier events get the user id,
    /// and so do later ones tracked with only the anonymous id; its
    /// preferences (and their history) move to the user. Returns how many
    /// earlier events were linked.
    pub fn identify(&self, anonymous_id: &str, user_id: &str) -> Result<u64> {
        text::check("anonymousId", anonymous_id, 256)?;
        text::check("userId", user_id, 256)?;
        let tx = rusqlite::Transaction::new_unchecked(
            self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        identity::link(&tx, anonymous_id, user_id, self.clock.now_ms())?;
        let hours = rollup::anonymous_hours(&tx, anonymous_id)?;
        let n = tx.execute(
            "UPDATE events SET user_id = ?2 WHERE anonymous_id = ?1 AND user_id IS NULL",
            (anonymous_id, user_id),
        )?;
        rollup::recount_hours(&tx, &hours, [anonymous_id, user_id])?;
        // An id identified as itself (an app that uses the user id as the
        // anonymous id) has nothing to move; a move would delete what the
        // id already has (preferences, assignments), as moving then
        // deleting the old subject's rows does.
        // Nor does an anonymous id that is also a user's user id here (ids
        // are free text: `identify("alice", "bob")` with alice a login
        // name): its preferences and assignments are that user's.
        if let (Some(moves), true) = (self.moves, anonymous_id != user_id) {
            if !identity::is_user(&tx, anonymous_id)? {
                moves.move_subject(&tx, anonymous_id, user_id)?;
            }
        }
        tx.commit()?;
        Ok(n as u64)
    }

    /// Packs up to `max` (1 to 10,000) of the missing blocks of events that
    /// analytics reads ([`blocks`]): all of them in a database from before
    /// schema version 13, and any a change dropped since the last ingest;
    /// then packs again the blocks of an older format (those of a database
    /// from before schema version 15 keep no event types), then writes the
    /// spans of blocks that have none ([`spans`]: those of a database from
    /// before schema version 19), then their rows by name ([`names`]:
    /// before version 20), then their events' dimensions ([`dims`]: before
    /// version 21).
    /// Ingest packs a few at each call; this packs a backlog, in one
    /// transaction per call, so a caller can show progress and stop and
    /// resume at any point. Returns what it packed and what is left.
    pub fn pack_blocks(&self, max: u32) -> Result<PackedBlocks> {
        if !(1..=10_000).contains(&max) {
            return Err(crate::error::Error::invalid("max", "between 1 and 10000"));
        }
        let tx = rusqlite::Transaction::new_unchecked(
            self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        let (packed, remaining) = blocks::pack_missing(&tx, max as usize)?;
        tx.commit()?;
        Ok(PackedBlocks { packed, remaining })
    }

    /// `track`, but failing on a schema error whatever the mode (for retries
    /// out of the quarantine).
    fn track_strict(&self, input: EventInput) -> Result<(String, TrackStatus)> {
        let strict = TrackingConfig {
            validation: ValidationMode::Strict,
            ..self.config.clone()
        };
        Tracking {
            config: &strict,
            ..self.clone_parts()
        }
        .track(input)
    }

    /// The same tracking, for a variant with other settings.
    fn clone_parts(&self) -> Tracking<'a> {
        Tracking {
            conn: self.conn,
            config: self.config,
            privacy: self.privacy,
            ip_mask: self.ip_mask,
            clock: self.clock,
            registry: self.registry,
            maintenance: self.maintenance,
            moves: self.moves,
            sessions: self.sessions,
            consent: self.consent,
        }
    }
}
