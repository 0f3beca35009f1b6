//! A SQLite VFS over a Durable Object's storage, for
//! `storage: { durableObject: ctx.storage }` in Cloudflare Workers.
//!
//! The database's bytes are kept as fixed-size entries of the object's
//! synchronous key-value API (`ctx.storage.kv`), one per 4 KiB page, and its
//! size under one more key. What SQLite writes between two syncs of the
//! database is held here, and the sync writes all of it in one
//! `transactionSync`: a commit is stored whole or not at all, so an object
//! that is evicted, killed or restarted reopens exactly at its last commit.
//! The engine opens this medium with its rollback journal in memory
//! (`Medium::Atomic`), since the medium itself never holds half a commit.
//!
//! The platform keeps the key-value API in a SQLite table of its own (a
//! `WITHOUT ROWID` b-tree with 4 KiB pages), and what it does with an entry
//! decides what an erasure leaves in its files:
//! - Entries are always the same size, so that the platform rewrites an
//!   entry in place when its page changes (its overwrite of a cell of the
//!   same size), in the leaf and in the overflow pages.
//! - The platform keeps the first part of each entry next to its key in a
//!   leaf, and copies it when it rebalances the b-tree; the copies left
//!   behind are never zeroed. That part is 489 bytes (SQLite's minimum local
//!   payload for a 4 KiB index page) once the entry is larger than the
//!   leaf's share allows, so each entry starts with [`PAD`] zero bytes: all
//!   that is ever copied is the key and zeros.
//! - Pages past the end of a database that shrank are zeroed by the commit
//!   that shrinks it, and deleted by the next, so that the platform's free
//!   pages hold zeros.
//! - The platform's write-ahead log holds older versions of entries until
//!   it is overwritten: after an erasure ([`crate::store::scrub::on_erase`]),
//!   [`Registration::scrub`] overwrites it (see there, and docs/EDGE.md).
//!
//! Several objects may share a JS isolate, and so this module: each engine
//! registers its object's storage under a number, which names its file.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use sqlite_wasm_rs::vfs::{
    register_vfs, AccessMode, LockLevel, OpenAccess, OpenOptions, OpenRequest, OpenedFile,
    OsCallback, SQLiteIoMethods, SQLiteVfs, SyncOptions, VfsError, VfsErrorCode, VfsFile,
    VfsResult, VfsStore,
};
use sqlite_wasm_rs::WasmOsCallback;
use wasm_bindgen::prelude::*;

use crate::error::{Error, StoreError};

/// The name the VFS is registered under.
pub(crate) const VFS_NAME: &str = "usertrail-durable-object";

/// The bytes of a database page, as the engine writes them.
pub(crate) const PAGE: usize = 4096;

/// Zero bytes in front of each entry's page. With them an entry (its key of
/// 11 to 74 bytes, the record's and the value's serialization headers, the
/// zeros and the page) is 5,220 to 5,300 bytes, past the size (5,095) from
/// which the platform keeps only 489 bytes next to the key, and those are
/// all key, headers and zeros.
pub(crate) const PAD: usize = 1100;

/// The size of every stored entry.
const ENTRY: usize = PAD + PAGE;

/// Zeros written in one transaction to make the platform checkpoint its
/// write-ahead log, which it does at a commit that leaves 1,000 pages of
/// 4 KiB in it: 1,009 entries of two overflow pages and a leaf share each.
const CHECKPOINT: u64 = 5 << 20;

/// The log before the checkpoint (under 1,000 pages, 4 MiB) and the
/// checkpoint's own write (about 10 MiB of pages).
const SCRUB_BASE: u64 = 14 << 20;

/// After a failed overwrite, how long calls wait before trying it again
/// (a new erasure tries at once).
const RETRY_MS: f64 = 60_000.0;

#[wasm_bindgen]
extern "C" {
    /// The object's storage functions, from `pkg/durable-object.js`.
    #[derive(Clone)]
    pub type DurableHost;
    #[wasm_bindgen(method, catch)]
    fn get(this: &DurableHost, key: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn keys(this: &DurableHost, prefix: &str, start: &str) -> Result<Vec<String>, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn commit(
        this: &DurableHost,
        keys: Vec<String>,
        pages: &[u8],
        pad: usize,
        zero_keys: Vec<String>,
        deletes: Vec<String>,
        meta: Option<String>,
        meta_value: f64,
        expected: Option<String>,
        bound: Option<String>,
        bound_value: f64,
    ) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn fill(this: &DurableHost, prefix: &str, count: u32, size: usize) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn clear(this: &DurableHost, prefix: &str, count: u32) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = platformSize)]
    fn platform_size(this: &DurableHost) -> Result<f64, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn settle(this: &DurableHost) -> Result<js_sys::Promise, JsValue>;
}

/// One registered object: its storage and where its keys start.
struct Object {
    host: DurableHost,
    /// `ctx.storage` itself, to refuse a second engine on the same database.
    storage: JsValue,
    /// `<name>:`, in front of every key of this database.
    prefix: String,
    /// An engine's database, whose size is whole pages (the conformance
    /// suite's files are any size).
    whole_pages: bool,
    /// The largest size the database had while registered, in bytes.
    max_size: Cell<u64>,
    /// Entry bytes committed since the last call ended.
    call_bytes: Cell<u64>,
    /// The most entry bytes one call committed.
    largest_write: Cell<u64>,
    /// The largest size of the platform's database seen, in bytes (kept
    /// under `<name>:log-bound`, so that it outlives a restart).
    log_bound: Cell<u64>,
    /// The bound as last stored.
    log_bound_stored: Cell<u64>,
    /// An erasure's overwrite has not finished (kept under
    /// `<name>:scrub-pending`): it runs again after a later call.
    scrub_pending: Cell<bool>,
    /// Erasures committed on this database while registered.
    generation: Cell<u64>,
    /// An overwrite is running (calls interleave across its awaits).
    running: Cell<bool>,
    /// After a failed overwrite, when to try again without a new erasure (ms).
    retry_at: Cell<f64>,
    /// What the last failed storage call said, for the engine's error.
    last_failure: RefCell<Option<String>>,
}

impl Object {
    fn new(host: DurableHost, storage: JsValue, prefix: String, whole_pages: bool) -> Self {
        Self {
            host,
            storage,
            prefix,
            whole_pages,
            max_size: Cell::new(0),
            call_bytes: Cell::new(0),
            largest_write: Cell::new(0),
            log_bound: Cell::new(0),
            log_bound_stored: Cell::new(0),
            scrub_pending: Cell::new(false),
            generation: Cell::new(0),
            running: Cell::new(false),
            retry_at: Cell::new(0.0),
            last_failure: RefCell::new(None),
        }
    }

    fn size_key(&self) -> String {
        format!("{}size", self.prefix)
    }
    fn page_prefix(&self) -> String {
        format!("{}p", self.prefix)
    }
    fn page_key(&self, index: u64) -> String {
        format!("{}p{index:08x}", self.prefix)
    }
    fn scrub_prefix(&self) -> String {
        format!("{}scrub:", self.prefix)
    }
    fn pending_key(&self) -> String {
        format!("{}scrub-pending", self.prefix)
    }
    fn log_bound_key(&self) -> String {
        format!("{}log-bound", self.prefix)
    }

    /// Keeps `e`'s message for [`Registration::explain`], and returns it.
    fn failed(&self, e: VfsError) -> VfsError {
        self.last_failure.replace(Some(e.message().to_owned()));
        e
    }

    /// One write of `key = value` alone, in a transaction of its own.
    fn put_meta(&self, key: String, value: f64) -> Result<(), JsValue> {
        self.host.commit(
            Vec::new(),
            &[],
            PAD,
            Vec::new(),
            Vec::new(),
            Some(key),
            value,
            None,
            None,
            0.0,
        )
    }

    /// After each call: the most one call wrote, and the platform's size.
    fn note_call(&self) {
        let written = self.call_bytes.replace(0);
        self.largest_write
            .set(self.largest_write.get().max(written));
        let Ok(platform) = self.host.platform_size() else {
            return;
        };
        let platform = if platform.is_finite() && platform > 0.0 {
            platform as u64
        } else {
            0
        };
        if platform > self.log_bound.get() {
            self.log_bound.set(platform);
        }
        // Stored at once, in the turn of the call that made it grow, so
        // that a restart does not lose it; not into a database removed
        // under the engine.
        if let Some((key, value)) = self.bound_due() {
            let stored = self.host.commit(
                Vec::new(),
                &[],
                PAD,
                Vec::new(),
                Vec::new(),
                None,
                0.0,
                Some(self.size_key()),
                Some(key),
                value,
            );
            if stored.is_ok() {
                self.log_bound_stored.set(value as u64);
            }
        }
    }

    /// An erasure just committed on this database (called from
    /// [`crate::store::scrub::after_delete`], in the erasure's own
    /// synchronous step): an overwrite is due, and marked so in storage in
    /// the same platform transaction as the erasure.
    fn erased(&self) {
        self.generation.set(self.generation.get() + 1);
        self.scrub_pending.set(true);
        // If it cannot be written, the flag in memory still runs the overwrite.
        let _ = self.put_meta(self.pending_key(), 1.0);
    }

    /// The log's bound to store with the next commit, when it grew by a
    /// quarter since it was last stored.
    fn bound_due(&self) -> Option<(String, f64)> {
        let stored = self.log_bound_stored.get();
        (self.log_bound.get() > stored + stored / 4 + (1 << 20))
            .then(|| (self.log_bound_key(), self.log_bound.get() as f64))
    }

    /// Overwrites the platform's write-ahead log (see [`Registration::scrub`]),
    /// again while erasures commit during it.
    async fn overwrite_log(&self) -> Result<(), JsValue> {
        loop {
            let generation = self.generation.get();
            // The erasure's commit goes first, in a platform transaction of
            // its own, not with the zeros.
            settle(&self.host).await?;
            let engine = self.max_size.get().max(self.largest_write.get());
            // An entry takes a little over twice its page in platform pages.
            let bound = self.log_bound.get().max(engine.saturating_mul(22) / 10);
            let first = u32::try_from(CHECKPOINT.div_ceil(ENTRY as u64)).unwrap_or(u32::MAX);
            let second = (SCRUB_BASE + bound).div_ceil(ENTRY as u64);
            let second = u32::try_from(second).unwrap_or(u32::MAX);
            let prefix = self.scrub_prefix();
            self.host.fill(&prefix, first, ENTRY)?;
            settle(&self.host).await?;
            self.host.clear(&prefix, first)?;
            settle(&self.host).await?;
            self.host.fill(&prefix, second, ENTRY)?;
            settle(&self.host).await?;
            self.host.clear(&prefix, second)?;
            // The mark goes only if no erasure committed since this run began.
            let done = self.generation.get() == generation;
            if done {
                self.host.commit(
                    Vec::new(),
                    &[],
                    PAD,
                    Vec::new(),
                    vec![self.pending_key()],
                    None,
                    0.0,
                    None,
                    None,
                    0.0,
                )?;
                self.scrub_pending.set(false);
            }
            settle(&self.host).await?;
            if done && self.generation.get() == generation {
                return Ok(());
            }
        }
    }
}

thread_local! {
    static OBJECTS: RefCell<HashMap<u32, Rc<Object>>> = RefCell::new(HashMap::new());
    static NEXT: Cell<u32> = const { Cell::new(1) };
    static INSTALLED: Cell<bool> = const { Cell::new(false) };
}

/// The file name of object `id`'s database.
fn file_name(id: u32) -> String {
    format!("durable-object-{id}")
}

/// The object a file name names: a registered engine's, or for the
/// conformance suite any name, as a database of its own in its storage.
fn object(data: &AppData, name: &str) -> Option<Rc<Object>> {
    if let Some(host) = &data.conformance {
        let mut named = data.named.borrow_mut();
        let object = named.entry(name.to_owned()).or_insert_with(|| {
            Rc::new(Object::new(
                host.clone(),
                JsValue::NULL,
                format!("{name}:"),
                false,
            ))
        });
        return Some(object.clone());
    }
    let id: u32 = name.strip_prefix("durable-object-")?.parse().ok()?;
    OBJECTS.with(|o| o.borrow().get(&id).cloned())
}

/// A JS error's message.
fn message(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &"message".into())
        .ok()
        .and_then(|v| v.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "the storage call failed".into())
}

/// Whether a storage error says the object's storage is full.
fn says_full(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("sqlite_full")
        || lower.contains("database or disk is full")
        || lower.contains("exceeded allowed storage")
}

/// A failed storage call as a VFS error: the object's storage limit is
/// `SQLITE_FULL`, the rest `code`; the message is the platform's.
fn host_error(code: VfsErrorCode, e: JsValue) -> VfsError {
    let text = message(&e);
    let code = if says_full(&text) {
        VfsErrorCode::Full
    } else {
        code
    };
    VfsError::new(code, text.into())
}

/// An engine's hold on its object: registered at open, removed when the
/// engine is dropped.
pub(crate) struct Registration {
    id: u32,
}

impl Registration {
    /// The database's file name within the VFS.
    pub(crate) fn file(&self) -> String {
        file_name(self.id)
    }

    fn object(&self) -> Option<Rc<Object>> {
        OBJECTS.with(|o| o.borrow().get(&self.id).cloned())
    }

    /// After each call on the engine: if the call erased rows from this
    /// database, or an earlier overwrite did not finish, overwrites the
    /// copies of old pages that the platform's SQLite keeps in its
    /// write-ahead log, so that the erased rows are in none of its files.
    ///
    /// The platform's free pages hold no page (see the module's doc); its
    /// log does until it is overwritten. So: a marker that an overwrite is
    /// due (written with the erasure, by [`Object::erased`], and read again
    /// at open); the erasure's transaction committed alone; zeros of
    /// [`CHECKPOINT`] bytes in one transaction, at whose commit the platform
    /// checkpoints its log; their deletion, which starts the log again from
    /// its beginning; zeros past the log's largest possible size, and their
    /// deletion with the marker's. The log holds at most 1,000 pages plus
    /// the largest transaction ever written to it, which writes at most
    /// every page of the platform's database: the second write is
    /// [`SCRUB_BASE`] plus the largest size the platform's database had (or
    /// 2.2 times the engine's largest database or write, if more).
    ///
    /// One overwrite runs at a time; an erasure that commits while it runs
    /// makes it run again. A failure is the erasing call's error (the
    /// erasure itself is committed); an overwrite that failed or was cut
    /// short (a restart) runs again after later calls (at most once every
    /// [`RETRY_MS`], or at once with a new erasure) until it succeeds,
    /// without failing those calls.
    pub(crate) async fn scrub(&self, before: u64) -> crate::Result<()> {
        let Some(object) = self.object() else {
            return Ok(());
        };
        object.note_call();
        let erased_here = object.generation.get() > before;
        if !object.scrub_pending.get() || object.running.get() {
            // Nothing due, or the run in progress sees the new erasure.
            return Ok(());
        }
        if !erased_here && js_sys::Date::now() < object.retry_at.get() {
            return Ok(());
        }
        object.running.set(true);
        let result = object.overwrite_log().await;
        object.running.set(false);
        let Err(e) = result else {
            object.retry_at.set(0.0);
            return Ok(());
        };
        object.retry_at.set(js_sys::Date::now() + RETRY_MS);
        if !erased_here {
            return Ok(());
        }
        let text = message(&e);
        if says_full(&text) {
            return Err(StoreError::StorageFull.into());
        }
        // STORAGE_ERROR, as any other failure of the medium.
        Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
            Some(format!(
                "the erasure is committed, but the Durable Object's storage could not \
                 be overwritten ({text}); it is tried again after later calls"
            )),
        ))
        .into())
    }

    /// Erasures committed on this database so far: [`Registration::scrub`]
    /// takes the count from before a call.
    pub(crate) fn generation(&self) -> u64 {
        self.object().map_or(0, |o| o.generation.get())
    }

    /// `e`, from a call on this engine, with what the object's storage said
    /// when it is a failure of the storage (`STORAGE_ERROR`, `CORRUPT`):
    /// SQLite reports only its own kind of error.
    pub(crate) fn explain(&self, e: Error) -> Error {
        let Some(object) = self.object() else {
            return e;
        };
        // Taken whatever the outcome: a message is for the call it came from.
        let Some(said) = object.last_failure.take() else {
            return e;
        };
        use crate::error::ErrorCode;
        match e.code() {
            "CORRUPT" => StoreError::Corrupt { detail: said }.into(),
            "STORAGE_ERROR" => StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                Some(format!("the Durable Object's storage: {said}")),
            ))
            .into(),
            _ => e,
        }
    }
}

/// Waits until what was written is committed.
async fn settle(host: &DurableHost) -> Result<(), JsValue> {
    wasm_bindgen_futures::JsFuture::from(host.settle()?).await?;
    Ok(())
}

impl Drop for Registration {
    fn drop(&mut self) {
        OBJECTS.with(|o| o.borrow_mut().remove(&self.id));
    }
}

/// Registers `storage` (with its `host` functions) for an engine, and the
/// VFS if it is not yet. `BUSY` when an engine already holds the database
/// `name` of this same storage.
pub(crate) fn register(
    storage: JsValue,
    host: DurableHost,
    name: &str,
) -> crate::Result<Registration> {
    install()?;
    let prefix = format!("{name}:");
    let held = OBJECTS.with(|o| {
        o.borrow()
            .values()
            .any(|x| x.prefix == prefix && js_sys::Object::is(&x.storage, &storage))
    });
    if held {
        return Err(StoreError::Busy {
            detail: format!(
                "the database {name:?} of this Durable Object is held by another engine"
            ),
        }
        .into());
    }
    let object = Object::new(host, storage, prefix, true);
    // A class without SQLite storage has `kv` in some runtimes, whose calls
    // throw: the platform's message says what to change.
    let refused = |e: JsValue| -> Error {
        let text = message(&e);
        if text.contains("SQLite") {
            return StoreError::Unsupported { what: text }.into();
        }
        StoreError::CannotOpen {
            detail: format!("the Durable Object's storage refused a read: {text}"),
        }
        .into()
    };
    // What an earlier engine left: an overwrite due, the log's bound.
    let pending = !object
        .host
        .get(&object.pending_key())
        .map_err(refused)?
        .is_undefined()
        || !object
            .host
            .keys(&object.scrub_prefix(), "")
            .map_err(refused)?
            .is_empty();
    object.scrub_pending.set(pending);
    if let Some(bound) = object
        .host
        .get(&object.log_bound_key())
        .map_err(refused)?
        .as_f64()
    {
        if bound.is_finite() && bound > 0.0 {
            object.log_bound.set(bound as u64);
            object.log_bound_stored.set(bound as u64);
        }
    }
    let id = NEXT.with(|n| {
        let id = n.get();
        n.set(id.wrapping_add(1).max(1));
        id
    });
    OBJECTS.with(|o| o.borrow_mut().insert(id, Rc::new(object)));
    Ok(Registration { id })
}

/// What an open file is.
enum Kind {
    /// A temporary or any other file than the database: in memory.
    Memory(Vec<u8>),
    /// The database, in the object's storage.
    Stored(Stored),
}

/// The database file: the stored pages, and what SQLite wrote since the
/// last sync.
struct Stored {
    object: Rc<Object>,
    /// The file's size, with what is not yet committed.
    size: u64,
    /// The size as last committed.
    committed: u64,
    /// Pages written since the last commit: their index, and their slot in
    /// `arena` (slots are `0..dirty.len()`).
    dirty: BTreeMap<u64, usize>,
    /// The pages written since the last commit, end to end, handed to the
    /// host as they are.
    arena: Vec<u8>,
    /// Pages past a truncated end, to be zeroed by the next commit.
    to_zero: Vec<u64>,
    /// Pages zeroed by an earlier commit, to be deleted by the next.
    to_delete: Vec<u64>,
}

impl Stored {
    /// Page `index` as stored (zeros where there is none).
    fn load(&self, index: u64) -> VfsResult<Box<[u8]>> {
        let mut page = vec![0u8; PAGE].into_boxed_slice();
        if let Some(entry) = self.entry(index)? {
            entry.subarray(PAD as u32, ENTRY as u32).copy_to(&mut page);
        }
        Ok(page)
    }

    /// Entry `index` as stored, checked to be one the engine wrote.
    fn entry(&self, index: u64) -> VfsResult<Option<js_sys::Uint8Array>> {
        let key = self.object.page_key(index);
        let value = self
            .object
            .host
            .get(&key)
            .map_err(|e| self.object.failed(host_error(VfsErrorCode::IoRead, e)))?;
        if value.is_undefined() || value.is_null() {
            return Ok(None);
        }
        let corrupt = |what: String| {
            self.object.failed(VfsError::new(
                VfsErrorCode::Corrupt,
                format!("entry {key} {what}").into(),
            ))
        };
        let Some(bytes) = value.dyn_ref::<js_sys::Uint8Array>() else {
            return Err(corrupt("is not bytes".into()));
        };
        if bytes.length() as usize != ENTRY {
            return Err(corrupt(format!(
                "holds {} bytes, not {ENTRY}",
                bytes.length()
            )));
        }
        Ok(Some(bytes.clone()))
    }

    /// Page `index` as SQLite last wrote it.
    fn page(&self, index: u64) -> VfsResult<std::borrow::Cow<'_, [u8]>> {
        match self.dirty.get(&index) {
            Some(slot) => Ok(std::borrow::Cow::Borrowed(
                &self.arena[slot * PAGE..(slot + 1) * PAGE],
            )),
            None => self
                .load(index)
                .map(|p| std::borrow::Cow::Owned(p.into_vec())),
        }
    }

    /// Page `index`, writable: copied into the arena at its first write.
    fn page_mut(&mut self, index: u64, whole: bool) -> VfsResult<&mut [u8]> {
        let slot = match self.dirty.get(&index) {
            Some(slot) => *slot,
            None => {
                let page = if whole || index * PAGE as u64 >= self.size {
                    vec![0u8; PAGE].into_boxed_slice()
                } else {
                    self.load(index)?
                };
                let slot = self.dirty.len();
                self.arena.extend_from_slice(&page);
                self.dirty.insert(index, slot);
                slot
            }
        };
        Ok(&mut self.arena[slot * PAGE..(slot + 1) * PAGE])
    }

    /// Stores every page written since the last commit, and the size, in
    /// one transaction; zeroes the pages past a truncated end, and deletes
    /// those an earlier commit zeroed.
    fn commit(&mut self) -> VfsResult<()> {
        let pages = self.size.div_ceil(PAGE as u64);
        let mut keys = vec![String::new(); self.dirty.len()];
        for (index, slot) in &self.dirty {
            keys[*slot] = self.object.page_key(*index);
        }
        let zero: Vec<u64> = self
            .to_zero
            .iter()
            .copied()
            .filter(|i| *i >= pages && !self.dirty.contains_key(i))
            .collect();
        let deletes: Vec<String> = self
            .to_delete
            .iter()
            .filter(|i| **i >= pages && !self.dirty.contains_key(i) && !zero.contains(i))
            .map(|i| self.object.page_key(*i))
            .collect();
        let zero_keys = zero.iter().map(|i| self.object.page_key(*i)).collect();
        let count = keys.len() + zero.len();
        let bound = self.object.bound_due();
        self.object
            .host
            .commit(
                keys,
                &self.arena,
                PAD,
                zero_keys,
                deletes,
                Some(self.object.size_key()),
                self.size as f64,
                Some(self.object.size_key()),
                bound.as_ref().map(|(k, _)| k.clone()),
                bound.as_ref().map_or(0.0, |(_, v)| *v),
            )
            .map_err(|e| self.object.failed(host_error(VfsErrorCode::IoWrite, e)))?;
        if let Some((_, value)) = bound {
            self.object.log_bound_stored.set(value as u64);
        }
        self.dirty.clear();
        self.arena.clear();
        if self.arena.capacity() > 4 << 20 {
            // A large transaction's pages are not kept for the next one.
            self.arena = Vec::new();
        }
        self.to_zero.clear();
        self.to_delete = zero;
        self.committed = self.size;
        let bytes = (count * ENTRY) as u64;
        self.object
            .call_bytes
            .set(self.object.call_bytes.get() + bytes);
        let max = self.object.max_size.get().max(self.size);
        self.object.max_size.set(max);
        Ok(())
    }
}

struct DurableFile {
    kind: Kind,
    read_only: bool,
}

impl DurableFile {
    fn writable(&self) -> VfsResult<()> {
        if self.read_only {
            return Err(VfsError::new(VfsErrorCode::ReadOnly, "read-only".into()));
        }
        Ok(())
    }
}

impl VfsFile for DurableFile {
    fn read(&mut self, buf: &mut [u8], offset: u64) -> VfsResult<usize> {
        match &self.kind {
            Kind::Memory(data) => {
                let start = (offset as usize).min(data.len());
                let n = buf.len().min(data.len() - start);
                buf[..n].copy_from_slice(&data[start..start + n]);
                buf[n..].fill(0);
                Ok(n)
            }
            Kind::Stored(s) => {
                let end = (offset + buf.len() as u64).min(s.size);
                let n = end.saturating_sub(offset) as usize;
                buf[n..].fill(0);
                let mut at = offset;
                while at < end {
                    let index = at / PAGE as u64;
                    let within = (at % PAGE as u64) as usize;
                    let take = (PAGE - within).min((end - at) as usize);
                    let page = s.page(index)?;
                    let from = (at - offset) as usize;
                    buf[from..from + take].copy_from_slice(&page[within..within + take]);
                    at += take as u64;
                }
                Ok(n)
            }
        }
    }

    fn write(&mut self, buf: &[u8], offset: u64) -> VfsResult<()> {
        self.writable()?;
        match &mut self.kind {
            Kind::Memory(data) => {
                let end = offset as usize + buf.len();
                if data.len() < end {
                    data.resize(end, 0);
                }
                data[offset as usize..end].copy_from_slice(buf);
                Ok(())
            }
            Kind::Stored(s) => {
                let end = offset + buf.len() as u64;
                let mut at = offset;
                while at < end {
                    let index = at / PAGE as u64;
                    let within = (at % PAGE as u64) as usize;
                    let take = (PAGE - within).min((end - at) as usize);
                    let from = (at - offset) as usize;
                    let page = s.page_mut(index, take == PAGE)?;
                    page[within..within + take].copy_from_slice(&buf[from..from + take]);
                    at += take as u64;
                }
                s.size = s.size.max(end);
                Ok(())
            }
        }
    }

    fn truncate(&mut self, size: u64) -> VfsResult<()> {
        self.writable()?;
        match &mut self.kind {
            Kind::Memory(data) => {
                data.truncate(size as usize);
                Ok(())
            }
            Kind::Stored(s) => {
                if size >= s.size {
                    return Ok(());
                }
                let old_pages = s.size.div_ceil(PAGE as u64);
                let pages = size.div_ceil(PAGE as u64);
                // The pages past the end leave the arena, which is packed again.
                let kept: Vec<(u64, usize)> = s
                    .dirty
                    .iter()
                    .filter(|(i, _)| **i < pages)
                    .map(|(i, slot)| (*i, *slot))
                    .collect();
                let mut arena = Vec::with_capacity(kept.len() * PAGE);
                s.dirty.clear();
                for (n, (index, slot)) in kept.into_iter().enumerate() {
                    arena.extend_from_slice(&s.arena[slot * PAGE..(slot + 1) * PAGE]);
                    s.dirty.insert(index, n);
                }
                s.arena = arena;
                // Only pages a commit stored: the rest never left memory.
                let stored = old_pages.min(s.committed.div_ceil(PAGE as u64));
                s.to_zero.extend(pages..stored);
                // The tail of the last page reads as zeros.
                let within = (size % PAGE as u64) as usize;
                if within != 0 {
                    s.page_mut(size / PAGE as u64, false)?[within..].fill(0);
                }
                s.size = size;
                Ok(())
            }
        }
    }

    fn sync(&mut self, _options: SyncOptions) -> VfsResult<()> {
        match &mut self.kind {
            Kind::Memory(_) => Ok(()),
            Kind::Stored(s) => s.commit(),
        }
    }

    fn size(&self) -> VfsResult<u64> {
        match &self.kind {
            Kind::Memory(data) => Ok(data.len() as u64),
            Kind::Stored(s) => Ok(s.size),
        }
    }

    fn lock(&mut self, _level: LockLevel) -> VfsResult<()> {
        // One engine per database, checked when it registers.
        Ok(())
    }

    fn unlock(&mut self, _level: LockLevel) -> VfsResult<()> {
        Ok(())
    }

    fn check_reserved_lock(&self) -> VfsResult<bool> {
        Ok(false)
    }
}

struct AppData {
    os: WasmOsCallback,
    error: RefCell<Option<VfsError>>,
    /// For the conformance suite: every name is a database in this storage.
    conformance: Option<DurableHost>,
    /// The conformance suite's databases, by name.
    named: RefCell<HashMap<String, Rc<Object>>>,
}

struct Store;

impl VfsStore for Store {
    type File = DurableFile;
    type AppData = AppData;

    fn record_error(data: &AppData, error: VfsError) {
        data.error.replace(Some(error));
    }

    fn last_error(data: &AppData) -> Option<VfsError> {
        data.error.borrow().clone()
    }

    fn open_file(data: &AppData, request: OpenRequest<'_>) -> VfsResult<OpenedFile<DurableFile>> {
        let access = request.options.access();
        let read_only = access == OpenAccess::ReadOnly;
        let memory = || {
            Ok(OpenedFile {
                file: DurableFile {
                    kind: Kind::Memory(Vec::new()),
                    read_only,
                },
                access,
            })
        };
        let Some(filename) = request.filename else {
            return memory();
        };
        let Some(object) = object(data, filename.path()) else {
            // A journal or any other file: the medium keeps none.
            return memory();
        };
        let stored = object
            .host
            .get(&object.size_key())
            .map_err(|e| host_error(VfsErrorCode::CantOpen, e))?;
        let size = match stored.as_f64() {
            Some(s)
                if s >= 0.0
                    && s.fract() == 0.0
                    && s <= 2f64.powi(50)
                    && (!object.whole_pages || (s as u64).is_multiple_of(PAGE as u64)) =>
            {
                s as u64
            }
            None if stored.is_undefined() => 0,
            _ => {
                return Err(object.failed(VfsError::new(
                    VfsErrorCode::Corrupt,
                    format!("{} is not a size the engine wrote", object.size_key()).into(),
                )))
            }
        };
        if stored.is_undefined() && !request.options.create() {
            return Err(VfsError::new(
                VfsErrorCode::CantOpen,
                "no database in this object".into(),
            ));
        }
        if !stored.is_undefined() && request.options.exclusive() {
            return Err(VfsError::new(
                VfsErrorCode::CantOpen,
                "the database exists".into(),
            ));
        }
        let mut file = Stored {
            object: object.clone(),
            size,
            committed: size,
            dirty: BTreeMap::new(),
            arena: Vec::new(),
            to_zero: Vec::new(),
            to_delete: Vec::new(),
        };
        // Entries past the end: zeros a commit left for the next to delete
        // (the engine's follow-up never ran). Anything else there is not
        // the engine's doing: the database is refused, and left as it is.
        let pages = size.div_ceil(PAGE as u64);
        let past = object
            .host
            .keys(&object.page_prefix(), &object.page_key(pages))
            .map_err(|e| host_error(VfsErrorCode::CantOpen, e))?;
        for key in &past {
            let index = key
                .strip_prefix(&object.page_prefix())
                .and_then(|hex| u64::from_str_radix(hex, 16).ok());
            let Some(index) = index else {
                continue;
            };
            let zero = match file.entry(index)? {
                None => true,
                Some(entry) => entry.to_vec().iter().all(|b| *b == 0),
            };
            if !zero {
                return Err(object.failed(VfsError::new(
                    VfsErrorCode::Corrupt,
                    format!("entry {key} lies past the database's end and is not zeros").into(),
                )));
            }
            file.to_delete.push(index);
        }
        if stored.is_undefined() {
            // Created: it exists from now on, empty.
            object
                .host
                .commit(
                    Vec::new(),
                    &[],
                    PAD,
                    Vec::new(),
                    Vec::new(),
                    Some(object.size_key()),
                    0.0,
                    None,
                    None,
                    0.0,
                )
                .map_err(|e| host_error(VfsErrorCode::CantOpen, e))?;
        }
        object.max_size.set(object.max_size.get().max(size));
        Ok(OpenedFile {
            file: DurableFile {
                kind: Kind::Stored(file),
                read_only,
            },
            access,
        })
    }

    fn close_file(
        data: &AppData,
        name: Option<&str>,
        mut file: DurableFile,
        options: OpenOptions,
    ) -> VfsResult<()> {
        if let Kind::Stored(s) = &mut file.kind {
            if options.delete_on_close() {
                if let Some(name) = name {
                    return Self::delete_file(data, name, false);
                }
            }
            // SQLite syncs at each commit, and a connection closing inside a
            // transaction first writes the pages back as they were (its
            // journal is in memory): what is left is stored as written.
            // Only what SQLite wrote: never a commit from a file it did not
            // write to (one refused at open, say).
            if !s.dirty.is_empty() || s.size != s.committed {
                s.commit()?;
            }
        }
        Ok(())
    }

    fn access(data: &AppData, name: &str, _mode: AccessMode) -> VfsResult<bool> {
        match object(data, name) {
            Some(object) => object
                .host
                .get(&object.size_key())
                .map(|v| !v.is_undefined())
                .map_err(|e| host_error(VfsErrorCode::IoAccess, e)),
            // Journals live in memory only: never hot.
            None => Ok(false),
        }
    }

    fn full_pathname(_data: &AppData, name: &str) -> VfsResult<String> {
        Ok(name.to_owned())
    }

    fn delete_file(data: &AppData, name: &str, _sync_dir: bool) -> VfsResult<()> {
        let Some(object) = object(data, name) else {
            return Ok(());
        };
        let keys = object
            .host
            .keys(&object.page_prefix(), &object.page_key(0))
            .map_err(|e| host_error(VfsErrorCode::IoDelete, e))?;
        // Zeroed, then deleted: the platform keeps no copy of a page.
        object
            .host
            .commit(
                Vec::new(),
                &[],
                PAD,
                keys.clone(),
                Vec::new(),
                None,
                0.0,
                None,
                None,
                0.0,
            )
            .map_err(|e| host_error(VfsErrorCode::IoDelete, e))?;
        let mut deletes = keys;
        deletes.push(object.size_key());
        object
            .host
            .commit(
                Vec::new(),
                &[],
                PAD,
                Vec::new(),
                deletes,
                None,
                0.0,
                None,
                None,
                0.0,
            )
            .map_err(|e| host_error(VfsErrorCode::IoDelete, e))
    }
}

struct IoMethods;

impl SQLiteIoMethods for IoMethods {
    type Store = Store;
}

struct Vfs;

impl SQLiteVfs<IoMethods> for Vfs {
    type Os = dyn OsCallback;

    fn os(data: &AppData) -> &Self::Os {
        &data.os
    }

    const MAX_PATH_SIZE: ::core::ffi::c_int = 1024;
}

/// [`crate::store::scrub::on_erase`]'s hook: an erasure committed on the
/// database file `path`.
fn on_erase(path: &str) {
    let id = path
        .strip_prefix("durable-object-")
        .and_then(|n| n.parse::<u32>().ok());
    if let Some(object) = id.and_then(|id| OBJECTS.with(|o| o.borrow().get(&id).cloned())) {
        object.erased();
    }
}

/// Registers the VFS, once per module instance.
fn install() -> crate::Result<()> {
    if INSTALLED.with(|i| i.get()) {
        return Ok(());
    }
    // Before the registration starts SQLite (store::pcache).
    crate::store::pcache::install();
    let data = AppData {
        os: WasmOsCallback,
        error: RefCell::new(None),
        conformance: None,
        named: RefCell::new(HashMap::new()),
    };
    #[allow(unsafe_code)]
    // SAFETY: wasm is single-threaded and the registration lives for the
    // module's lifetime, as SQLite requires.
    let registered = unsafe { register_vfs::<IoMethods, Vfs>(VFS_NAME, data, false) };
    match registered {
        Ok(_registration) => {
            INSTALLED.with(|i| i.set(true));
            crate::store::scrub::on_erase(on_erase);
            Ok(())
        }
        Err(e) => Err(Error::from(StoreError::Unsupported {
            what: format!("the Durable Object VFS could not be registered: {e}"),
        })),
    }
}

/// Runs the VFS conformance suite of `sqlite-wasm-rs`
/// (`vfs::test_suite::test_vfs_store`) against this VFS over `storage` (a
/// Durable Object's `ctx.storage`, through `host`), each of its file names
/// a database of its own. For the tests.
pub(crate) fn conformance(host: DurableHost) -> Result<(), String> {
    let data = sqlite_wasm_rs::vfs::VfsAppData::new(AppData {
        os: WasmOsCallback,
        error: RefCell::new(None),
        conformance: Some(host),
        named: RefCell::new(HashMap::new()),
    });
    sqlite_wasm_rs::vfs::test_suite::test_vfs_store::<Store>(data).map_err(|e| e.to_string())
}
