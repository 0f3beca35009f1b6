//! Installing the OPFS pool (a sync-access-handle VFS) in a dedicated worker.

use std::cell::RefCell;
use std::collections::HashSet;

use serde::Deserialize;
use sqlite_wasm_rs::WasmOsCallback;
use sqlite_wasm_vfs::sahpool::{install, OpfsSAHError, OpfsSAHPoolCfgBuilder};

use crate::error::Error;
use crate::store::{Storage, StoreError};

/// `{ opfs: { … } }` in `UserTrail.open`'s options.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct OpfsOptions {
    /// The database's file name in the pool. Default `usertrail.db`.
    name: Option<String>,
    /// The pool's name, which is also its SQLite VFS name. Default `usertrail`.
    pool: Option<String>,
    /// The OPFS directory the pool keeps its files in. Default `.usertrail`.
    directory: Option<String>,
}

thread_local! {
    /// The (pool, file) pairs an engine in this worker holds open.
    static OPEN: RefCell<HashSet<(String, String)>> = RefCell::new(HashSet::new());
}

/// Held by an engine on an OPFS file; a second engine on the same file in
/// this worker is refused with `BUSY` until it is dropped. (Another worker is
/// kept out by OPFS itself: the pool's access handles are exclusive.)
#[derive(Debug)]
pub(crate) struct Lease(String, String);

impl Drop for Lease {
    fn drop(&mut self) {
        let key = (std::mem::take(&mut self.0), std::mem::take(&mut self.1));
        OPEN.with(|open| open.borrow_mut().remove(&key));
    }
}

/// Installs (or reuses) the pool and returns the storage to open in it,
/// with the lease that keeps a second engine in this worker off the file.
pub(crate) async fn storage(options: OpfsOptions) -> crate::Result<(Storage, Lease)> {
    let pool = options.pool.unwrap_or_else(|| "usertrail".into());
    let directory = options.directory.unwrap_or_else(|| ".usertrail".into());
    let name = options.name.unwrap_or_else(|| "usertrail.db".into());
    if pool.is_empty() || pool.len() > 64 {
        return Err(Error::invalid("storage.opfs.pool", "must be 1 to 64 bytes"));
    }
    // Before the pool's VFS starts SQLite (store::pcache).
    crate::store::pcache::install();
    let cfg = OpfsSAHPoolCfgBuilder::new()
        .vfs_name(&pool)
        .directory(&directory)
        .build();
    install::<WasmOsCallback>(&cfg, false)
        .await
        .map_err(classify)?;
    let key = (pool.clone(), name.clone());
    if !OPEN.with(|open| open.borrow_mut().insert(key)) {
        return Err(StoreError::Busy {
            detail: format!("{name:?} in pool {pool:?} is already open in this worker"),
        }
        .into());
    }
    let lease = Lease(pool.clone(), name.clone());
    Ok((Storage::Vfs { name, vfs: pool }, lease))
}

/// Turns the pool's errors into the engine's codes.
fn classify(e: OpfsSAHError) -> Error {
    let detail = e.to_string();
    let store = match e {
        OpfsSAHError::NotSupported => StoreError::Unsupported {
            what: "OPFS needs a dedicated worker in a secure context (https or localhost); \
                   in Node or Deno use storage { file: 'path.db' }, elsewhere 'memory'"
                .into(),
        },
        OpfsSAHError::InvalidDirectory | OpfsSAHError::InvalidFilename(_) => {
            return Error::invalid("storage.opfs", detail)
        }
        OpfsSAHError::FileInUse(_)
        | OpfsSAHError::FilesInUse
        | OpfsSAHError::DirectoryInUse(_)
        | OpfsSAHError::Busy
        | OpfsSAHError::ConfigurationMismatch => StoreError::Busy { detail },
        OpfsSAHError::NoCapacity => StoreError::StorageFull,
        // Another tab's worker holds the sync access handles, or the quota ran out.
        OpfsSAHError::Opfs { ref message, .. } if message.contains("NoModificationAllowed") => {
            StoreError::Busy { detail }
        }
        OpfsSAHError::Opfs { ref message, .. } if message.contains("QuotaExceeded") => {
            StoreError::StorageFull
        }
        _ => StoreError::CannotOpen { detail },
    };
    store.into()
}
