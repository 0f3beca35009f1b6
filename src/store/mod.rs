//! Opening, migrating, importing and exporting the database.
//!
//! A [`Store`] owns the engine's one SQLite [`Connection`]. Opening one:
//! 1. opens the medium and hardens the connection (defensive mode, no
//!    functions from untrusted schemas, cell size checks);
//! 2. checks, before writing anything, that the database is empty or ours
//!    (`PRAGMA application_id`) and not from a newer schema version;
//! 3. applies the medium's settings (journal mode, `synchronous`,
//!    `foreign_keys`, `secure_delete`);
//! 4. applies the pending [migrations], one transaction each.
//!
//! ```
//! use usertrail::store::{Store, StoreOptions, SCHEMA_VERSION};
//! use usertrail::Storage;
//!
//! let store = Store::open(Storage::Memory, &StoreOptions::default(), 0).unwrap();
//! assert_eq!(store.schema_version(), SCHEMA_VERSION);
//! let bytes = store.export().unwrap();
//! assert!(bytes.starts_with(b"SQLite format 3\0"));
//! ```

pub mod audit;
pub(crate) mod bytes;
pub mod chain;
pub mod identity;
pub mod info;
pub mod migrations;
pub mod remote;
pub mod scrub;
// A page cache is a table of C callbacks, and so is a VFS: the shims
// cannot be written without them.
#[allow(unsafe_code)]
pub mod pcache;
#[allow(unsafe_code)]
mod shim;
mod storage;
pub mod subject_hash;

use rusqlite::{Connection, OpenFlags};

pub use crate::error::StoreError;
use crate::error::{Error, Result};
pub use bytes::check_header;
pub use migrations::{APPLICATION_ID, SCHEMA_VERSION};
pub use storage::{Durability, Medium, Storage, StoreOptions};

/// An open, migrated database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    medium: Medium,
    schema_version: u32,
}

impl Store {
    /// Opens `storage`, checks it is ours, and migrates it to
    /// [`SCHEMA_VERSION`]. `now_ms` stamps a newly created database.
    ///
    /// A database that is not SQLite, is corrupt, belongs to another
    /// application or has a newer schema is refused with a typed error, and
    /// nothing is written to it.
    pub fn open(storage: Storage, options: &StoreOptions, now_ms: i64) -> Result<Self> {
        pcache::install();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let (mut conn, medium) = match storage {
            Storage::Memory => (bytes::open_memdb()?, Medium::Memory),
            Storage::Bytes(b) => (bytes::import(b)?, Medium::Memory),
            Storage::File(path) => {
                if cfg!(all(target_family = "wasm", target_os = "unknown")) {
                    return Err(Error::from(StoreError::Unsupported {
                        what: "file storage needs a native target or a host file VFS".into(),
                    }));
                }
                let vfs = shim::wrap(None)?;
                let conn = Connection::open_with_flags_and_vfs(path, flags, vfs.as_str())?;
                (conn, Medium::File)
            }
            Storage::Vfs { name, vfs } => {
                check_name("storage.name", &name, 1000)?;
                check_name("storage.vfs", &vfs, 64)?;
                let vfs = shim::wrap(Some(&vfs))?;
                let conn = Connection::open_with_flags_and_vfs(name, flags, vfs.as_str())?;
                (conn, Medium::Vfs)
            }
            Storage::AtomicVfs { name, vfs } => {
                check_name("storage.name", &name, 1000)?;
                check_name("storage.vfs", &vfs, 64)?;
                let vfs = shim::wrap(Some(&vfs))?;
                let conn = Connection::open_with_flags_and_vfs(name, flags, vfs.as_str())?;
                (conn, Medium::Atomic)
            }
        };
        Medium::harden(&conn, options.busy_timeout_ms)?;
        medium.lock(&conn)?;
        check_ownership(&conn)?;
        medium.configure(&conn, options.durability)?;
        let from = migrations::migrate_to(&mut conn, SCHEMA_VERSION)?;
        // A new database gets its creation facts once its schema is in. One
        // whose first open was cut short (each migration commits apart, so
        // a killed process can leave some) has none, and is completed now,
        // as if created here. Every database an engine returned from has
        // them (since version 1).
        let created: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'created_at')",
            [],
            |r| r.get(0),
        )?;
        if !created {
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?1), ('created_by', ?2)",
                (now_ms.to_string(), env!("CARGO_PKG_VERSION")),
            )?;
            // Every page of a new database is scrubbed: on a file by the
            // shim it is written through, in memory when exported. One cut
            // short is too if it holds no data (its pages hold schema only);
            // one that does (its facts deleted by hand) keeps what it says.
            if from == 0 || holds_no_data(&conn)? {
                scrub::mark_clean(&conn)?;
            }
        }
        Ok(Self {
            conn,
            medium,
            schema_version: SCHEMA_VERSION,
        })
    }

    /// The schema version of the open database: always [`SCHEMA_VERSION`].
    pub fn schema_version(&self) -> u32 {
        self.schema_version
    }

    /// The medium the database lives on.
    pub fn medium(&self) -> Medium {
        self.medium
    }

    /// The connection, for the other concerns' queries.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The connection, for transactions.
    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The whole database as SQLite bytes in rollback-journal format, which
    /// any sqlite3 tool opens and [`Storage::Bytes`] imports. Taken through
    /// SQLite's online backup into a private copy, so that it needs no
    /// exclusive access to the engine.
    pub fn export(&self) -> Result<Vec<u8>> {
        let mut copy = bytes::open_memdb()?;
        rusqlite::backup::Backup::new(&self.conn, &mut copy)?.step(-1)?;
        bytes::export(&mut copy)
    }

    /// Closes the database, flushing and releasing its lock.
    pub fn close(self) -> Result<()> {
        self.conn.close().map_err(|(_, e)| e.into())
    }
}

/// Checks a name handed to SQLite: non-empty, at most `max` bytes, no NUL.
fn check_name(field: &str, value: &str, max: usize) -> Result<()> {
    let reason = if value.is_empty() {
        "must not be empty".to_owned()
    } else if value.len() > max {
        format!("must be at most {max} bytes, got {}", value.len())
    } else if value.contains('\0') {
        "must not contain NUL".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::invalid(field, reason))
}

/// Refuses, before anything is written, a database that is not ours or is
/// newer than this build.
fn check_ownership(conn: &Connection) -> Result<()> {
    let app_id: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let version = migrations::schema_version(conn)?;
    if app_id == APPLICATION_ID {
        if version > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported: SCHEMA_VERSION,
            }
            .into());
        }
        return Ok(());
    }
    if app_id != 0 {
        return Err(StoreError::ForeignDatabase {
            reason: format!("application_id is {app_id:#010x}"),
        }
        .into());
    }
    let objects: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    if objects > 0 || version != 0 {
        return Err(StoreError::ForeignDatabase {
            reason: format!("it has {objects} schema objects and user_version {version}, but no usertrail application_id"),
        }
        .into());
    }
    Ok(())
}

/// Whether none of the tables that hold people's data has a row: a
/// database that is schema only.
fn holds_no_data(conn: &Connection) -> Result<bool> {
    const TABLES: &[&str] = &[
        "events",
        "sessions",
        "identities",
        "quarantine",
        "outbox",
        "prefs",
        "pref_history",
        "consents",
        "consent_ledger",
        "audit_log",
        "experiment_assignments",
    ];
    let sql = TABLES
        .iter()
        .map(|t| format!("NOT EXISTS (SELECT 1 FROM {t})"))
        .collect::<Vec<_>>()
        .join(" AND ");
    Ok(conn.query_row(&format!("SELECT {sql}"), [], |r| r.get(0))?)
}
