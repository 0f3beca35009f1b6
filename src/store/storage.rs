//! Where a database lives, and the SQLite settings each medium gets.

use std::path::PathBuf;

use rusqlite::config::DbConfig;
use rusqlite::Connection;

use super::StoreError;
use crate::error::Result;

/// Where an engine keeps its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// In memory only. Use `export` to keep the data.
    Memory,
    /// A file on disk, through the operating system (native targets). The
    /// engine holds an exclusive lock on it until closed, so a second engine
    /// on the same file gets a `BUSY` error instead of corrupting it.
    File(PathBuf),
    /// A database file in a VFS that the host registered with SQLite, such as
    /// the OPFS pool a browser worker installs.
    Vfs {
        /// The file name within the VFS.
        name: String,
        /// The name the VFS was registered under.
        vfs: String,
    },
    /// A database file in a VFS whose sync of the database file is one
    /// atomic commit of everything written since the last one (a Durable
    /// Object's storage, where each sync is one `transactionSync`). No
    /// journal is kept on the medium: the rollback journal lives in memory,
    /// and a commit interrupted before its sync leaves nothing behind.
    AtomicVfs {
        /// The file name within the VFS.
        name: String,
        /// The name the VFS was registered under.
        vfs: String,
    },
    /// A copy of a database given as SQLite bytes (for example from
    /// `export`), opened in memory. The bytes are checked before use.
    Bytes(Vec<u8>),
}

/// What a commit that returned survives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Durability {
    /// Every commit that returned survives a power loss: the medium syncs
    /// (fsync) at each commit. The default.
    #[default]
    Full,
    /// Commits go to a write-ahead log without a sync each: a commit that
    /// returned survives the process being killed (the operating system
    /// holds the write), and the database is never corrupted, but the last
    /// commits before a power loss or an OS crash may be lost. The log is
    /// synced when it is checkpointed into the database.
    Normal,
}

/// Options that apply to every storage.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long to wait for a lock held by another connection before giving
    /// up with `BUSY`, in milliseconds. Default 2000.
    pub busy_timeout_ms: u32,
    /// What a returned commit survives (files and host VFSs; memory has
    /// nothing to make durable). Default [`Durability::Full`].
    pub durability: Durability,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            busy_timeout_ms: 2_000,
            durability: Durability::Full,
        }
    }
}

/// The kind of medium an open database lives on, which decides its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    /// RAM: nothing to make durable.
    Memory,
    /// An OS file: WAL with a full sync on every commit, held exclusively.
    File,
    /// A host VFS without shared memory (a file in Node or Deno, OPFS):
    /// rollback journal and full sync, or WAL under the exclusive lock.
    Vfs,
    /// A VFS whose every sync of the database is an atomic commit (a
    /// Durable Object): the journal in memory, a sync per commit, whatever
    /// the durability asked for.
    Atomic,
}

impl Medium {
    /// Settings that make sense for every medium, applied before anything is
    /// read: they make a hostile or damaged file fail loudly instead of
    /// misbehaving.
    pub(super) fn harden(conn: &Connection, busy_timeout_ms: u32) -> Result<()> {
        conn.busy_timeout(std::time::Duration::from_millis(u64::from(busy_timeout_ms)))?;
        // Refuse writes to sqlite_schema and other ways to corrupt the file on purpose.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        // Do not run functions named in a database's schema (views, triggers).
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
        conn.pragma_update(None, "cell_size_check", true)?;
        Ok(())
    }

    /// Locking, applied before the first read so that the lock is taken then.
    pub(super) fn lock(self, conn: &Connection) -> Result<()> {
        // One engine per database on every medium: the lock taken at the
        // first read is kept. In memory no one else can see the database,
        // and keeping the lock spares SQLite re-validating its page cache at
        // each read. A host VFS (a file in Node or Deno, OPFS) has no shared
        // memory: WAL needs the exclusive lock, which keeps the WAL index in
        // heap memory, and so does opening a database left in WAL by an
        // engine opened with `Durability::Normal`.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        Ok(())
    }

    /// The durable settings, applied once the database is known to be ours.
    pub(super) fn configure(self, conn: &Connection, durability: Durability) -> Result<()> {
        // 4 KiB pages on every target (the wasm build defaults to 8 KiB): each
        // commit copies the pages it touches into the journal, and small
        // rows touch few bytes per page. Only a new database takes it.
        conn.pragma_update(None, "page_size", 4096)?;
        let journal = match self {
            Self::Memory => "MEMORY",
            // WAL with an exclusive lock keeps its index in heap memory, so
            // it needs no -shm file; commits append instead of rewriting.
            Self::File => "WAL",
            // A host VFS (a file in Node or Deno, OPFS) has no shared
            // memory for WAL: a rollback journal, or WAL under the
            // exclusive lock taken in `lock` when a commit need not sync.
            Self::Vfs if durability == Durability::Normal => "WAL",
            Self::Vfs => "DELETE",
            // The medium applies a commit's pages all at once at the sync:
            // the journal is needed only to roll back, which happens in
            // memory.
            Self::Atomic => "MEMORY",
        };
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", journal, |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case(journal) {
            return Err(StoreError::Unsupported {
                what: format!("journal_mode {journal} (the medium chose {mode})"),
            }
            .into());
        }
        // FULL: a commit that returned is on the medium, even after a power
        // cut. NORMAL in WAL: no sync per commit; the log is synced at each
        // checkpoint, so the database stays consistent.
        let synchronous = match (self, durability) {
            (Self::Memory, _) => "OFF",
            // The sync is the commit: without it nothing would be stored.
            (Self::Atomic, _) => "FULL",
            (_, Durability::Full) => "FULL",
            (_, Durability::Normal) => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", synchronous)?;
        if durability == Durability::Normal && matches!(self, Self::File | Self::Vfs) {
            // Without a sync per commit, the syncs left are the checkpoints'
            // (two each); checkpointing every 8,192 pages (32 MiB of log)
            // instead of 1,000 makes them rare, and a page written by many
            // commits is copied into the database once.
            conn.pragma_update(None, "wal_autocheckpoint", 8192)?;
        }
        conn.pragma_update(None, "foreign_keys", true)?;
        // Erased rows are overwritten with zeros, not left in free pages.
        conn.pragma_update(None, "secure_delete", true)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // The memdb VFS keeps every page in its own buffer, and SQLite
        // copies a page into its cache on each cache miss; a cache that
        // holds the working set avoids those copies (pages are allocated
        // only as used, up to 64 MiB). On files and OPFS, analytics scan the
        // events table again at each query: 32 MiB keeps 200k events' pages
        // in memory instead of reading them back from the medium.
        let cache_kib = if self == Self::Memory { 65_536 } else { 32_768 };
        conn.pragma_update(None, "cache_size", -cache_kib)?;
        Ok(())
    }
}
