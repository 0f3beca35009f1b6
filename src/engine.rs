//! The engine: one database, one clock, and the concerns built on them.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::Arc;

use rusqlite::Connection;

use crate::consent::redis::Snapshot;
use crate::consent::PrivacyConfig;
use crate::consent::{ANALYTICS, PERSONALIZATION};
use crate::error::{Error, Result, StoreError};
use crate::experiments::Experiments;
use crate::kernel::clock::SharedClock;
use crate::kernel::net::IpMask;
use crate::privacy::Privacy;
use crate::session::{
    Backend, Change, ClientContext, RedisSessionStore, Session, SessionConfig, SessionObserver,
    Sessions, SqliteSessionStore,
};
use crate::store::remote::{LocalBoxFuture, Remote};
use crate::store::{Storage, Store, StoreOptions};
use crate::tracking::{
    EventInput, EventType, Maintenance, Registry, SessionLinks, SubjectMoves, TrackStatus,
    Tracking, TrackingConfig,
};

/// How to open a [`UserTrail`].
#[derive(Clone)]
pub struct OpenOptions {
    /// Where the database lives.
    pub storage: Storage,
    /// Where time comes from. `None` means the wall clock, which only native
    /// targets have: on wasm the host must pass one.
    pub clock: Option<SharedClock>,
    /// Store settings.
    pub store: StoreOptions,
    /// How client IP addresses are masked before anything keeps them
    /// (sessions, events, consent proof).
    pub ip_mask: IpMask,
    /// Session settings.
    pub sessions: SessionConfig,
    /// Tracking settings.
    pub tracking: TrackingConfig,
    /// Privacy settings: policy version, consent gating, PII redaction,
    /// custom purposes, retention interval.
    pub privacy: PrivacyConfig,
    /// A store shared by every process of an app (Redis): sessions,
    /// preferences and consent live there instead of in this engine's
    /// database.
    pub shared: Option<Remote>,
}

impl OpenOptions {
    /// Options for `storage`, with the wall clock and default settings.
    pub fn new(storage: Storage) -> Self {
        Self {
            storage,
            clock: None,
            store: StoreOptions::default(),
            ip_mask: IpMask::default(),
            sessions: SessionConfig::default(),
            tracking: TrackingConfig::default(),
            privacy: PrivacyConfig::default(),
            shared: None,
        }
    }

    /// Keeps sessions, preferences and consent in `shared`, seen by every
    /// process of the app.
    pub fn shared(mut self, shared: Remote) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Uses `clock` for every timestamp.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Uses `tracking` as the tracking settings.
    pub fn tracking(mut self, tracking: TrackingConfig) -> Self {
        self.tracking = tracking;
        self
    }

    /// Uses `privacy` as the privacy settings.
    pub fn privacy(mut self, privacy: PrivacyConfig) -> Self {
        self.privacy = privacy;
        self
    }

    /// Uses `sessions` as the session settings.
    pub fn sessions(mut self, sessions: SessionConfig) -> Self {
        self.sessions = sessions;
        self
    }
}

/// An open engine.
///
/// It owns one SQLite connection; later concerns (sessions, tracking,
/// analytics, preferences, privacy) are reached through it.
pub struct UserTrail {
    store: Store,
    clock: SharedClock,
    ip_mask: IpMask,
    sessions: SessionConfig,
    /// When expired sessions were last swept.
    last_sweep: Cell<i64>,
    tracking: TrackingConfig,
    privacy: PrivacyConfig,
    /// When retention last ran.
    last_retention: Cell<i64>,
    /// Declared event schemas and dimensions, loaded on first use.
    registry: RefCell<Option<Arc<Registry>>>,
    /// Preference defaults, loaded on first use.
    pref_defaults: crate::prefs::DefaultsCache,
    /// The shared store, if any.
    shared: Option<Remote>,
    /// The shared store's subject-hash salt, read on first use.
    shared_salt: RefCell<Option<String>>,
    /// This engine's part in the shared store's rights log.
    rights: crate::privacy::RightsState,
    /// The events in memory for analytics' scans, kept current by a hook on
    /// the connection.
    projection: crate::analytics::projection::Projection,
    /// Session records in memory, kept true by triggers on the connection.
    session_cache: crate::session::RecordCache,
    /// Where the last sweep of expired sessions in SQLite stopped.
    session_sweep: crate::session::SweepCursor,
}

impl std::fmt::Debug for UserTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserTrail")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl UserTrail {
    /// Opens, checks and migrates the database described by `options`.
    pub fn open(options: OpenOptions) -> Result<Self> {
        let clock = match options.clock {
            Some(clock) => clock,
            None => default_clock()?,
        };
        if options.ip_mask.v4_bits > 32 || options.ip_mask.v6_bits > 128 {
            return Err(Error::invalid(
                "ipMask",
                "bits must be 0..=32 (IPv4) and 0..=128 (IPv6)",
            ));
        }
        options.sessions.validate()?;
        options.tracking.validate()?;
        options.privacy.validate()?;
        let label = match &options.storage {
            Storage::Memory => "memory".to_owned(),
            Storage::Bytes(_) => "bytes".to_owned(),
            Storage::File(path) => path
                .file_name()
                .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned()),
            Storage::Vfs { name, .. } | Storage::AtomicVfs { name, .. } => {
                name.rsplit('/').next().unwrap_or(name).to_owned()
            }
        };
        let store = Store::open(options.storage, &options.store, clock.now_ms())?;
        // The analytics' id hash key, drawn now rather than in the first
        // query (see `id_hash_key`).
        crate::kernel::ids::id_hash_key();
        let durable = store.medium() != crate::store::Medium::Memory;
        let rights = crate::privacy::RightsState::new(
            durable,
            label.chars().take(64).collect(),
            options.tracking.pipeline.partitions,
        );
        let mut trail = Self {
            store,
            clock,
            ip_mask: options.ip_mask,
            sessions: options.sessions,
            last_sweep: Cell::new(i64::MIN / 2),
            tracking: options.tracking,
            privacy: options.privacy,
            last_retention: Cell::new(i64::MIN / 2),
            registry: RefCell::new(None),
            pref_defaults: RefCell::new(None),
            shared: options.shared,
            shared_salt: RefCell::new(None),
            rights,
            projection: Default::default(),
            session_cache: Default::default(),
            session_sweep: crate::session::SweepCursor::anywhere(),
        };
        trail.projection.watch(trail.store.conn_mut())?;
        trail.session_cache.install(trail.store.conn())?;
        trail.privacy().run_retention_if_due()?;
        Ok(trail)
    }

    /// Preferences: definitions, values, history.
    pub fn prefs(&self) -> crate::prefs::Prefs<'_> {
        let prefs = crate::prefs::Prefs::new(
            self.store.conn(),
            self.clock.as_ref(),
            &self.pref_defaults,
            &self.privacy,
        );
        match &self.shared {
            Some(remote) => prefs.with_shared(remote, &self.shared_salt),
            None => prefs,
        }
    }

    /// Privacy: consent and its ledger, export, erasure, rectification,
    /// anonymisation, retention and the audit log.
    pub fn privacy(&self) -> Privacy<'_> {
        let privacy = Privacy::new(
            self.store.conn(),
            self.clock.as_ref(),
            &self.privacy,
            self.ip_mask,
            &self.registry,
            &self.last_retention,
        )
        .with_moves(self)
        .with_sweep(&self.session_sweep);
        match &self.shared {
            Some(remote) => privacy.with_shared(remote, &self.shared_salt, &self.rights),
            None => privacy,
        }
    }

    /// The consent decisions of `subjects`, fetched from the shared store
    /// (one round trip each) when the engine has one and something it is
    /// about to do depends on them; `None` otherwise (the engine's own
    /// database answers).
    pub async fn consent_snapshot<'s>(
        &self,
        subjects: impl IntoIterator<Item = &'s str>,
    ) -> Result<Option<Snapshot>> {
        if self.shared.is_none() {
            return Ok(None);
        }
        let privacy = self.privacy();
        let Some(consent) = privacy.shared_consent() else {
            return Ok(None);
        };
        Ok(Some(Snapshot::fetch(&consent, subjects).await?))
    }

    /// Whether events need their subjects' consent read before they are
    /// stored: gating is on, or a third-party outbox withholds opt-outs.
    fn ingest_reads_consent(&self) -> bool {
        self.privacy.requires(ANALYTICS) || self.tracking.outbox.is_some_and(|o| o.third_party)
    }

    /// Tracks events (see [`Tracking::track_batch_parsed`]), reading the
    /// consent that gates them from the shared store if the engine has one:
    /// one round trip per subject in the batch.
    pub async fn track_batch(
        &self,
        inputs: Vec<Result<EventInput>>,
        partial: bool,
    ) -> Result<Vec<crate::tracking::ItemResult>> {
        let snapshot = if self.ingest_reads_consent() {
            let subjects: Vec<&str> = inputs
                .iter()
                .flatten()
                .flat_map(|e| [e.user_id.as_deref(), e.anonymous_id.as_deref()])
                .flatten()
                .collect();
            self.consent_snapshot(subjects).await?
        } else {
            None
        };
        match &snapshot {
            Some(s) => self
                .tracking()
                .with_consent(s)
                .track_batch_parsed(inputs, partial),
            None => self.tracking().track_batch_parsed(inputs, partial),
        }
    }

    /// Tracks one event, as [`UserTrail::track_batch`] does.
    pub async fn track(&self, input: EventInput) -> Result<(String, TrackStatus)> {
        let snapshot = if self.ingest_reads_consent() {
            let subjects = [input.user_id.as_deref(), input.anonymous_id.as_deref()];
            self.consent_snapshot(subjects.into_iter().flatten())
                .await?
        } else {
            None
        };
        match &snapshot {
            Some(s) => self.tracking().with_consent(s).track(input),
            None => self.tracking().track(input),
        }
    }

    /// Links an anonymous id to a user ([`Tracking::identify`]); with a
    /// shared store, the anonymous id's preferences move to the user there
    /// too, and its consent decisions count for the user.
    pub async fn identify(&self, anonymous_id: &str, user_id: &str) -> Result<u64> {
        let n = self.tracking().identify(anonymous_id, user_id)?;
        // An id identified as itself has nothing to move (a move would
        // delete what it has: see `Tracking::identify`).
        if anonymous_id == user_id {
            return Ok(n);
        }
        if let Some(remote) = &self.shared {
            // An anonymous id that is also another user's user id (ids are
            // free text) is linked, but its preferences and decisions are
            // that user's and stay.
            let other = self.privacy().another_user(anonymous_id).await?;
            if !other {
                crate::prefs::redis::RedisPrefs::new(remote)
                    .move_subject(anonymous_id, user_id)
                    .await?;
            }
            if let Some(consent) = self.privacy().shared_consent() {
                if other {
                    consent.link(anonymous_id, user_id).await?;
                } else {
                    consent.merge(anonymous_id, user_id).await?;
                }
            }
        }
        Ok(n)
    }

    /// The variant of experiment `key` that `user_id` sees
    /// ([`Experiments::assign`]), with `personalization` consent read from
    /// the shared store if the engine has one.
    pub async fn assign(&self, key: &str, user_id: &str) -> Result<String> {
        let snapshot = if self.privacy.requires(PERSONALIZATION) {
            self.consent_snapshot([user_id]).await?
        } else {
            None
        };
        let tracking = match &snapshot {
            Some(s) => self.tracking().with_consent(s),
            None => self.tracking(),
        };
        Experiments::new(self.store.conn(), self.clock.as_ref(), tracking).assign(key, user_id)
    }

    /// Leases queued events ([`Tracking::outbox_take`]); for a third-party
    /// collector, the subjects' `sale_share` decisions are read from the
    /// shared store first if the engine has one.
    pub async fn outbox_take(&self, max: u32) -> Result<Option<crate::tracking::Batch>> {
        let subjects = if self.shared.is_some() {
            self.tracking().outbox_subjects(max)?
        } else {
            Vec::new()
        };
        match self
            .consent_snapshot(subjects.iter().map(String::as_str))
            .await?
        {
            Some(s) if !subjects.is_empty() => self.tracking().with_consent(&s).outbox_take(max),
            _ => self.tracking().outbox_take(max),
        }
    }

    /// Tracking: events, schemas, history, identity, the outbox.
    pub fn tracking(&self) -> Tracking<'_> {
        Tracking::new(
            self.store.conn(),
            &self.tracking,
            &self.privacy,
            self.ip_mask,
            self.clock.as_ref(),
            &self.registry,
        )
        .with_maintenance(self)
        .with_moves(self)
        .with_sessions(self)
    }

    /// Analytics: summaries, active users, pages, journeys, funnels,
    /// retention and cohorts, computed over the stored events.
    pub fn analytics(&self) -> crate::analytics::Analytics<'_> {
        crate::analytics::Analytics::new(self.store.conn(), self.clock.as_ref(), &self.registry)
            .with_projection(&self.projection)
    }

    /// Analytics that read SQLite at every query instead of the in-memory
    /// projection of the events ([`crate::analytics::projection`]): the same
    /// answers, slower; for checking one against the other.
    pub fn analytics_from_sqlite(&self) -> crate::analytics::Analytics<'_> {
        crate::analytics::Analytics::new(self.store.conn(), self.clock.as_ref(), &self.registry)
    }

    /// Analytics that read each query's window from the packed blocks of
    /// the events ([`crate::tracking::blocks`]) and the rows no block
    /// holds, as an engine with more events than the projection keeps
    /// does (keeping the numbering of the blocks between queries while no
    /// event changes): the same answers; for checking one against the
    /// other.
    pub fn analytics_from_blocks(&self) -> crate::analytics::Analytics<'_> {
        crate::analytics::Analytics::new(self.store.conn(), self.clock.as_ref(), &self.registry)
            .from_blocks()
            .with_numbering(&self.projection)
    }

    /// How many rows of the in-memory projection of the events have no
    /// known type (loaded from blocks packed before types were kept, so a
    /// query filtered by type is not answered from it); `None` when it is
    /// not built. For checking, as [`UserTrail::analytics_from_sqlite`].
    pub fn projection_untyped_rows(&self) -> Option<usize> {
        self.projection.untyped_rows()
    }

    /// How many packed blocks the numbering kept between windows read from
    /// the blocks has numbers of; `None` when none is kept (see
    /// [`crate::analytics::projection`]). For checking.
    pub fn blocks_numbered(&self) -> Option<usize> {
        self.projection.numbering_held()
    }

    /// How many rows of the hourly rollups analytics holds in memory, and
    /// the span of hours (from, until) they cover; `None` when none are
    /// held. For checking, as [`UserTrail::analytics_from_sqlite`].
    pub fn rollup_hours_held(&self) -> Option<(usize, (i64, i64))> {
        self.projection.hours_held()
    }

    /// Experiments: define, assign (recording exposures), results.
    pub fn experiments(&self) -> Experiments<'_> {
        Experiments::new(self.store.conn(), self.clock.as_ref(), self.tracking())
    }

    /// Sessions: create, validate, rotate, destroy, list, and their state.
    /// Fingerprint mismatches under the `warn` policy are recorded as
    /// `session.fingerprint_mismatch` tracking events.
    pub fn sessions(&self) -> Sessions<'_, Backend<'_>> {
        let store = match &self.shared {
            Some(remote) => {
                Backend::Redis(RedisSessionStore::new(remote, self.privacy.chain_key()))
            }
            None => Backend::Sqlite(SqliteSessionStore::cached(
                self.store.conn(),
                &self.session_cache,
                &self.session_sweep,
            )),
        };
        Sessions::new(
            store,
            &self.sessions,
            self.ip_mask,
            self.clock.as_ref(),
            &self.last_sweep,
        )
        .with_observer(self)
    }

    /// The tracking settings.
    pub fn tracking_settings(&self) -> &TrackingConfig {
        &self.tracking
    }

    /// The shared store, if the engine has one.
    pub fn shared(&self) -> Option<&Remote> {
        self.shared.as_ref()
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> u32 {
        self.store.schema_version()
    }

    /// When this database was first created, in ms since the epoch.
    pub fn created_at(&self) -> Result<i64> {
        let value: String = self.store.conn().query_row(
            "SELECT value FROM meta WHERE key = 'created_at'",
            [],
            |r| r.get(0),
        )?;
        value.parse().map_err(|_| {
            Error::from(StoreError::Corrupt {
                detail: format!("meta.created_at is {value:?}"),
            })
        })
    }

    /// What this engine holds, for operators: versions, the database's size
    /// and rows per table, the events' time span, the retention policy and
    /// its schedule.
    pub fn info(&self) -> Result<EngineInfo> {
        let privacy = self.privacy();
        Ok(EngineInfo {
            version: crate::VERSION,
            schema_version: self.schema_version(),
            created_at: self.created_at()?,
            shared: self.shared.is_some(),
            store: self.store.info()?,
            blocks_to_pack: crate::tracking::blocks::pack_missing(self.store.conn(), 0)?.1,
            retention: privacy.retention()?,
            schedule: privacy.retention_schedule(),
        })
    }

    /// The whole database as SQLite bytes.
    pub fn export(&self) -> Result<Vec<u8>> {
        self.store.export()
    }

    /// The engine's clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The store, for the concerns built on it.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, mutably, for transactions.
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Closes the engine, flushing and releasing the database. When it
    /// stored events, the day rollup's rows of the whole days before today
    /// that have none are written first, so that the first summary after
    /// a restart reads a row per day (see `analytics::days`); failing to
    /// write them fails nothing (the first summary over those days writes
    /// them).
    pub fn close(self) -> Result<()> {
        if self.projection.events_inserted() {
            let today = self
                .clock
                .now_ms()
                .div_euclid(crate::kernel::calendar::DAY_MS);
            let _ = crate::analytics::write_day_rows(self.store.conn(), today);
        }
        self.store.close()
    }
}

/// What [`UserTrail::info`] answers.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineInfo {
    /// The usertrail version running.
    pub version: &'static str,
    /// The database's schema version.
    pub schema_version: u32,
    /// When the database was created (ms).
    pub created_at: i64,
    /// Whether sessions, preferences and consent live in a shared store.
    pub shared: bool,
    /// The database's size and rows per table.
    #[serde(flatten)]
    pub store: crate::store::info::StoreInfo,
    /// Blocks of events analytics reads still to pack: missing, of an
    /// older format, without their spans, rows by name or dimensions (a
    /// block without several counts once for each; what
    /// `tracking.packBlocks` reports as `remaining`;
    /// `usertrail migrate` packs them all).
    pub blocks_to_pack: u64,
    /// The retention policy in force.
    pub retention: crate::privacy::RetentionPolicy,
    /// When retention last ran and runs next.
    pub schedule: crate::privacy::RetentionSchedule,
}

impl SessionObserver for UserTrail {
    fn fingerprint_mismatch<'s>(
        &'s self,
        session: &'s Session,
        client: &'s ClientContext<'s>,
    ) -> LocalBoxFuture<'s, Result<()>> {
        let event = EventInput {
            event_type: Some(EventType::Session),
            name: "session.fingerprint_mismatch".into(),
            user_id: session.user_id.clone(),
            session_id: Some(session.session_id.clone()),
            ip: client.ip.map(str::to_owned),
            user_agent: client.user_agent.map(str::to_owned),
            ..EventInput::default()
        };
        Box::pin(async move { self.track(event).await.map(|_| ()) })
    }

    fn changed<'s>(&'s self, change: &'s Change<'s>) -> LocalBoxFuture<'s, Result<()>> {
        Box::pin(self.record_change(change))
    }
}

impl UserTrail {
    /// Audits a session change and records its tracking event.
    async fn record_change(&self, change: &Change<'_>) -> Result<()> {
        use serde_json::json;
        // Audited: who logged in, which device was signed out, logouts
        // everywhere. Never a token; session ids are personal details,
        // cleared when the user is erased.
        let privacy = self.privacy();
        match change {
            Change::LoggedIn {
                user_id,
                session_id,
                replaced,
            } => {
                privacy.record_audit_personal(
                    "host",
                    "sessions.login",
                    user_id,
                    &json!({}),
                    &json!({ "sessionId": session_id, "replacedSession": replaced }),
                )?;
            }
            Change::SignedOut {
                user_id,
                session_id,
            } => {
                privacy.record_audit_personal(
                    "host",
                    "sessions.destroy_by_session_id",
                    user_id,
                    &json!({}),
                    &json!({ "sessionId": session_id }),
                )?;
            }
            Change::LoggedOutEverywhere { user_id, count } => {
                privacy.record_audit(
                    "host",
                    "sessions.destroy_all",
                    Some(user_id),
                    &json!({ "sessions": count }),
                )?;
            }
            Change::LoggedOut { .. } | Change::Expired { .. } => {}
        }
        if self.tracking.session_events {
            // Analytics, best effort: the session change has happened
            // whatever becomes of its event (consent gating may drop it, the
            // shared store may be unreachable).
            let _ = self.track(session_event(change)).await;
        }
        Ok(())
    }
}

/// The tracking event of a session change: `login`, `logout` or
/// `session_expired`, of type `session`, with the user and the session id.
fn session_event(change: &Change<'_>) -> EventInput {
    use serde_json::json;
    let (name, user, session, properties) = match change {
        Change::LoggedIn {
            user_id,
            session_id,
            replaced,
        } => (
            "login",
            Some(*user_id),
            Some(*session_id),
            json!({ "replacedSession": replaced.is_some() }),
        ),
        Change::LoggedOut {
            session_id,
            user_id,
        } => ("logout", *user_id, Some(*session_id), json!({})),
        Change::SignedOut {
            user_id,
            session_id,
        } => (
            "logout",
            Some(*user_id),
            Some(*session_id),
            json!({ "scope": "device" }),
        ),
        Change::LoggedOutEverywhere { user_id, count } => (
            "logout",
            Some(*user_id),
            None,
            json!({ "scope": "all", "sessions": count }),
        ),
        Change::Expired {
            session_id,
            user_id,
        } => ("session_expired", *user_id, Some(*session_id), json!({})),
    };
    EventInput {
        event_type: Some(EventType::Session),
        name: name.into(),
        user_id: user.map(str::to_owned),
        session_id: session.map(str::to_owned),
        properties: properties.as_object().cloned(),
        ..EventInput::default()
    }
}

impl SubjectMoves for UserTrail {
    fn move_subject(&self, tx: &Connection, from: &str, to: &str) -> Result<BTreeMap<String, u64>> {
        let mut moved = BTreeMap::new();
        moved.insert("prefs".into(), crate::prefs::move_subject(tx, from, to)?);
        crate::experiments::move_subject(tx, from, to)?;
        Ok(moved)
    }
}

impl SessionLinks for UserTrail {
    /// The session id a token carries; a first-format token (which carries
    /// none, and exists only in SQLite) is looked up there.
    fn session_id(&self, token: &str) -> Result<Option<String>> {
        let sqlite = Sessions::new(
            SqliteSessionStore::new(self.store.conn()),
            &self.sessions,
            self.ip_mask,
            self.clock.as_ref(),
            &self.last_sweep,
        );
        crate::kernel::block::block_on(sqlite.session_id_of(token))
    }
}

impl Maintenance for UserTrail {
    fn before_write(&self) -> Result<()> {
        self.privacy().run_retention_if_due().map(|_| ())
    }
}

#[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
fn default_clock() -> Result<SharedClock> {
    Ok(Arc::new(crate::kernel::clock::SystemClock))
}

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
fn default_clock() -> Result<SharedClock> {
    // std has no clock on wasm32-unknown-unknown; the binding passes the host's.
    Err(Error::invalid("clock", "wasm needs a clock from the host"))
}
