//! The store's errors.

use rusqlite::ErrorCode as SqliteCode;

use super::ErrorCode;

/// Opening, migrating, importing or exporting the database failed.
///
/// Every variant leaves the database as it was: a refused open writes nothing,
/// and a failed migration rolls back to the last complete version.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file or bytes are not an SQLite database. Code `NOT_A_DATABASE`.
    #[error("not an SQLite database")]
    NotADatabase,
    /// The database is damaged. Code `CORRUPT`.
    #[error("the database is corrupt: {detail}")]
    Corrupt {
        /// What SQLite reported.
        detail: String,
    },
    /// The database was written by a newer usertrail; it was left untouched.
    /// Code `SCHEMA_TOO_NEW`.
    #[error("the database has schema version {found}, but this usertrail knows only up to {supported}; upgrade usertrail to open it")]
    SchemaTooNew {
        /// The database's schema version (`PRAGMA user_version`).
        found: u32,
        /// The newest schema version this build knows.
        supported: u32,
    },
    /// The database belongs to another application; it was left untouched.
    /// Code `FOREIGN_DATABASE`.
    #[error("the database belongs to another application: {reason}")]
    ForeignDatabase {
        /// Why it is not ours.
        reason: String,
    },
    /// Another engine, tab or process holds the database. Code `BUSY`.
    #[error(
        "the database is held by another engine (another process, tab or connection): {detail}"
    )]
    Busy {
        /// What was busy.
        detail: String,
    },
    /// The medium is out of space or quota. Code `STORAGE_FULL`.
    #[error("storage is full")]
    StorageFull,
    /// The database could not be opened (a missing folder, no permission).
    /// Code `CANNOT_OPEN`.
    #[error("cannot open the database: {detail}")]
    CannotOpen {
        /// What the medium reported.
        detail: String,
    },
    /// The storage asked for does not exist on this target or host.
    /// Code `UNSUPPORTED`.
    #[error("unsupported here: {what}")]
    Unsupported {
        /// What is missing, and what to do instead.
        what: String,
    },
    /// A migration's SQL failed; the database stays at the previous version.
    /// Code `MIGRATION_FAILED`.
    #[error("migration to schema version {version} failed: {detail}")]
    MigrationFailed {
        /// The version that could not be applied.
        version: u32,
        /// What SQLite reported.
        detail: String,
    },
    /// Any other SQLite failure. Code `STORAGE_ERROR`.
    #[error("storage error: {0}")]
    Sqlite(rusqlite::Error),
    /// The medium failed, with what it said (a file's lock that could not
    /// be taken: a folder without write permission, a lock of a foreign
    /// shape). Code `STORAGE_ERROR`.
    #[error("storage error: {detail}")]
    Medium {
        /// SQLite's message and the medium's.
        detail: String,
    },
    /// A shared store answered something that is not what the operation
    /// returns (a foreign or damaged record, a reply of the wrong shape).
    /// Nothing was taken from it. Code `STORAGE_ERROR`.
    #[error("the shared store answered something unexpected: {detail}")]
    Garbled {
        /// What was wrong.
        detail: String,
    },
    /// Other writers kept changing what this call was about to change (a
    /// session's state, a consent ledger, a fresh id); nothing was written.
    /// Retry. Code `BUSY`.
    #[error("too many concurrent writers: {detail}; nothing was written, retry")]
    Contended {
        /// What kept changing.
        detail: String,
    },
    /// A shared store could not be reached, or did not answer in time.
    /// Nothing is assumed: a session is not taken for logged out. Retry
    /// later. Code `STORE_UNAVAILABLE`.
    #[error("the shared store is unavailable: {detail}")]
    Unavailable {
        /// What the transport reported.
        detail: String,
    },
    /// A partition's lease is another worker's now: this worker's step
    /// committed its own copy but trimmed nothing of the shared stream.
    /// It serves the partition as a standby from here on. Code `FENCED`.
    #[error("partition {partition}: another worker holds its lease now (fencing token {token} is stale); nothing was trimmed")]
    Fenced {
        /// The partition.
        partition: u32,
        /// The stale token.
        token: u64,
    },
    /// A partition's stream was trimmed past this copy's position: entries
    /// it never read are gone from the stream, so it cannot catch up by
    /// reading. Nothing was stored; load a snapshot of a current copy (a
    /// pipeline worker does so by itself). Code `REPLICA_BEHIND`.
    #[error("partition {partition}: the stream keeps entries from {kept} only, but this copy committed up to {position}; load a snapshot of a current copy")]
    Behind {
        /// The partition.
        partition: u32,
        /// This copy's committed position.
        position: String,
        /// The lowest id the stream kept.
        kept: String,
    },
}

impl ErrorCode for StoreError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotADatabase => "NOT_A_DATABASE",
            Self::Corrupt { .. } => "CORRUPT",
            Self::SchemaTooNew { .. } => "SCHEMA_TOO_NEW",
            Self::ForeignDatabase { .. } => "FOREIGN_DATABASE",
            Self::Busy { .. } | Self::Contended { .. } => "BUSY",
            Self::StorageFull => "STORAGE_FULL",
            Self::CannotOpen { .. } => "CANNOT_OPEN",
            Self::Unsupported { .. } => "UNSUPPORTED",
            Self::MigrationFailed { .. } => "MIGRATION_FAILED",
            Self::Sqlite(_) | Self::Medium { .. } | Self::Garbled { .. } => "STORAGE_ERROR",
            Self::Unavailable { .. } => "STORE_UNAVAILABLE",
            Self::Fenced { .. } => "FENCED",
            Self::Behind { .. } => "REPLICA_BEHIND",
        }
    }
}

thread_local! {
    /// What the medium said when it last refused to open a file on this
    /// thread (set by the store's VFS shim), for a `CANNOT_OPEN`'s detail:
    /// SQLite's own message ("unable to open database file") names neither
    /// the file nor the reason.
    static OPEN_REFUSED: std::cell::Cell<Option<String>> = const { std::cell::Cell::new(None) };
}

/// Notes what the medium said when it refused to open a file (`Some`), or
/// that the last open succeeded (`None`). Called by the store's VFS shim.
pub fn note_open(refused: Option<String>) {
    OPEN_REFUSED.set(refused);
}

thread_local! {
    /// What the medium said when a file's read, write, sync or lock last
    /// failed on this thread, or who holds a file it found busy, for the
    /// error's detail: SQLite's own is "disk I/O error" or "database is
    /// locked".
    static MEDIUM_FAILED: std::cell::Cell<Option<String>> = const { std::cell::Cell::new(None) };
}

/// Notes what the medium said when a file operation failed. Called by the
/// store's VFS shim; taken by the next I/O error's classification.
pub fn note_medium(failed: String) {
    MEDIUM_FAILED.set(Some(failed));
}

/// Forgets what [`note_medium`] noted: a lock was taken after all (a busy
/// wait that ended well), so that no later error, of this engine or
/// another on this thread, is told of it.
pub fn forget_medium() {
    MEDIUM_FAILED.set(None);
}

impl StoreError {
    /// Classifies an SQLite failure by its primary result code, so that hosts
    /// can react to the cases they can do something about.
    pub fn classify(e: rusqlite::Error) -> Self {
        let detail = e.to_string();
        match e.sqlite_error_code() {
            Some(SqliteCode::NotADatabase) => Self::NotADatabase,
            Some(SqliteCode::DatabaseCorrupt) => Self::Corrupt { detail },
            Some(SqliteCode::DatabaseBusy | SqliteCode::DatabaseLocked) => Self::Busy {
                detail: match MEDIUM_FAILED.take() {
                    Some(holder) => format!("{detail}: {holder}"),
                    None => detail,
                },
            },
            Some(SqliteCode::DiskFull) => Self::StorageFull,
            Some(SqliteCode::CannotOpen) => Self::CannotOpen {
                detail: match OPEN_REFUSED.take() {
                    Some(medium) => format!("{detail} ({medium})"),
                    None => detail,
                },
            },
            Some(SqliteCode::SystemIoFailure) => match MEDIUM_FAILED.take() {
                Some(medium)
                    if e.sqlite_error().map(|x| x.extended_code)
                        == Some(rusqlite::ffi::SQLITE_IOERR_LOCK) =>
                {
                    Self::Medium {
                        detail: format!("{detail}: the file's lock could not be taken ({medium})"),
                    }
                }
                Some(medium) => Self::Medium {
                    detail: format!("{detail} ({medium})"),
                },
                None => Self::Sqlite(e),
            },
            _ => Self::Sqlite(e),
        }
    }
}
