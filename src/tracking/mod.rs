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

mod config;
mod error;
mod event;
mod history;
mod ingest;
mod outbox;
mod quarantine;
mod sampling;
mod schema;

use std::cell::RefCell;
use std::sync::Arc;

use rusqlite::Connection;

pub use config::{OutboxConfig, SamplingRule, TrackingConfig, ValidationMode};
pub use error::TrackingError;
pub use event::{
    check_text, parse as parse_event, uuid_v7, Event, EventClient, EventInput, EventType,
};
pub use history::{HistoryFilter, HistoryPage};
pub use ingest::{ItemResult, TrackStatus};
pub use outbox::{backoff_ms, Batch, OutboxStats};
pub use quarantine::Quarantined;
pub(crate) use sampling::fnv1a;
pub use schema::{EventSchema, PropType, Registry, SimpleType};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::privacy::PrivacyConfig;

/// The tracking operations of one engine.
pub struct Tracking<'a> {
    conn: &'a Connection,
    config: &'a TrackingConfig,
    privacy: &'a PrivacyConfig,
    clock: &'a dyn Clock,
    registry: &'a RefCell<Option<Arc<Registry>>>,
    maintenance: Option<&'a dyn Maintenance>,
}

/// Work an engine does before tracking writes, such as a retention run
/// that is due.
pub trait Maintenance {
    /// Called before each write.
    fn before_write(&self) -> Result<()>;
}

impl<'a> Tracking<'a> {
    /// Tracking on `conn` with `config` and `clock`; `privacy` says which
    /// consent gates events and whether PII is redacted. `registry` caches
    /// the declared schemas and dimensions across calls.
    pub fn new(
        conn: &'a Connection,
        config: &'a TrackingConfig,
        privacy: &'a PrivacyConfig,
        clock: &'a dyn Clock,
        registry: &'a RefCell<Option<Arc<Registry>>>,
    ) -> Self {
        Self {
            conn,
            config,
            privacy,
            clock,
            registry,
            maintenance: None,
        }
    }

    /// Runs `maintenance` before each write.
    pub fn with_maintenance(mut self, maintenance: &'a dyn Maintenance) -> Self {
        self.maintenance = Some(maintenance);
        self
    }

    /// The privacy settings events are stored under.
    pub(crate) fn privacy(&self) -> &PrivacyConfig {
        self.privacy
    }

    /// The declared schemas and dimensions, loaded on first use.
    fn registry(&self) -> Result<Arc<Registry>> {
        Ok(Registry::cached(self.conn, self.registry)?)
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
        event::check_text("anonymousId", Some(anonymous_id), 256)?;
        event::check_text("userId", Some(user_id), 256)?;
        let tx = rusqlite::Transaction::new_unchecked(
            self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        let now = self.clock.now_ms();
        tx.execute(
            "INSERT INTO identities (anonymous_id, user_id, linked_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (anonymous_id) DO UPDATE SET user_id = excluded.user_id, linked_at = excluded.linked_at",
            (anonymous_id, user_id, now),
        )?;
        let n = tx.execute(
            "UPDATE events SET user_id = ?2 WHERE anonymous_id = ?1 AND user_id IS NULL",
            (anonymous_id, user_id),
        )?;
        crate::prefs::move_subject(&tx, anonymous_id, user_id)?;
        crate::analytics::move_subject(&tx, anonymous_id, user_id)?;
        tx.commit()?;
        Ok(n as u64)
    }

    /// `track`, but failing on a schema error whatever the mode (for retries
    /// out of the quarantine).
    fn track_strict(&self, input: EventInput) -> Result<(String, TrackStatus)> {
        let strict = TrackingConfig {
            validation: ValidationMode::Strict,
            ..self.config.clone()
        };
        Tracking::new(self.conn, &strict, self.privacy, self.clock, self.registry).track(input)
    }
}

impl From<TrackingError> for Error {
    fn from(e: TrackingError) -> Self {
        Error::Tracking(e)
    }
}
