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
    /// A copy of a database given as SQLite bytes (for example from
    /// `export`), opened in memory. The bytes are checked before use.
    Bytes(Vec<u8>),
}

/// Options that apply to every storage.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long to wait for a lock held by another connection before giving
    /// up with `BUSY`, in milliseconds. Default 2000.
    pub busy_timeout_ms: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            busy_timeout_ms: 2_000,
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
    /// A host VFS without shared memory (OPFS): rollback journal, full sync.
    Vfs,
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
        if matches!(self, Self::File | Self::Memory) {
            // One engine per file: the lock taken at the first read is kept.
            // In memory, no one else can see the database, and keeping the
            // lock spares SQLite re-validating its page cache at each read.
            conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        }
        Ok(())
    }

    /// The durable settings, applied once the database is known to be ours.
    pub(super) fn configure(self, conn: &Connection) -> Result<()> {
        // 4 KiB pages on every target (the wasm build defaults to 8 KiB): each
        // commit copies the pages it touches into the journal, and small
        // rows touch few bytes per page. Only a new database takes it.
        conn.pragma_update(None, "page_size", 4096)?;
        let journal = match self {
            Self::Memory => "MEMORY",
            // WAL with an exclusive lock keeps its index in heap memory, so
            // it needs no -shm file; commits append instead of rewriting.
            Self::File => "WAL",
            // OPFS has no shared memory for WAL; a rollback journal is safe.
            Self::Vfs => "DELETE",
        };
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", journal, |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case(journal) {
            return Err(StoreError::Unsupported {
                what: format!("journal_mode {journal} (the medium chose {mode})"),
            }
            .into());
        }
        // FULL: a commit that returned is on the medium, even after a power cut.
        let synchronous = if self == Self::Memory { "OFF" } else { "FULL" };
        conn.pragma_update(None, "synchronous", synchronous)?;
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
