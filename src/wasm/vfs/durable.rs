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
//! Entries are always the same size, so that the platform's own SQLite
//! rewrites an entry in place when its page changes (tested by the erasure
//! byte scan); each starts with [`PAD`] zero bytes, so that the part of an
//! entry its b-tree keeps next to the key, and copies when it rebalances,
//! holds none of the page. Pages beyond the end of a truncated database are
//! zeroed by one commit and deleted by the next. After an erasure
//! ([`crate::store::scrub::take_erased`]), [`Registration::scrub`] writes
//! and deletes zeros in separate transactions until the platform's log has
//! been overwritten (see docs/EDGE.md).
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

/// Zero bytes in front of each entry's page (see the module's doc).
pub(crate) const PAD: usize = 512;

/// The size of every stored entry.
const ENTRY: usize = PAD + PAGE;

/// Zeros written in one transaction to make the platform checkpoint its
/// write-ahead log: it does at a commit that leaves 1,000 pages of 4 KiB in
/// it, and an entry takes about two.
const CHECKPOINT: u64 = 9 << 19;

/// What the second write of zeros adds to the database's size: the log's
/// pages before a checkpoint (4 MiB) and the first write's, with a margin.
const SCRUB_BASE: u64 = 8 << 20;

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
        values: &[u8],
        size: usize,
        deletes: Vec<String>,
        meta: Option<String>,
        meta_value: f64,
        expected: bool,
    ) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn fill(this: &DurableHost, prefix: &str, count: u32, size: usize) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn clear(this: &DurableHost, prefix: &str, count: u32) -> Result<(), JsValue>;
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
    /// The largest size the database had while registered, in bytes.
    max_size: Cell<u64>,
    /// Entry bytes committed since the last call ended.
    call_bytes: Cell<u64>,
    /// The most entry bytes one call committed.
    largest_write: Cell<u64>,
    /// An erasure's scrub has not finished: the next call tries again.
    scrub_pending: Cell<bool>,
    /// What the last failed storage call said, for the engine's error.
    last_failure: RefCell<Option<String>>,
}

impl Object {
    /// Keeps `e`'s message for [`Registration::explain`], and returns it.
    fn failed(&self, e: VfsError) -> VfsError {
        self.last_failure.replace(Some(e.message().to_owned()));
        e
    }
}

impl Object {
    fn size_key(&self) -> String {
        format!("{}size", self.prefix)
    }
    fn page_prefix(&self) -> String {
        format!("{}p", self.prefix)
    }
    fn page_key(&self, index: u64) -> String {
        format!("{}p{index:08x}", self.prefix)
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
            Rc::new(Object {
                host: host.clone(),
                storage: JsValue::NULL,
                prefix: format!("{name}:"),
                max_size: Cell::new(0),
                call_bytes: Cell::new(0),
                largest_write: Cell::new(0),
                scrub_pending: Cell::new(false),
                last_failure: RefCell::new(None),
            })
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

/// A failed storage call as a VFS error: the object's storage limit is
/// `SQLITE_FULL`, the rest `code`.
fn host_error(code: VfsErrorCode, e: JsValue) -> VfsError {
    let text = message(&e);
    let lower = text.to_ascii_lowercase();
    let code = if lower.contains("full") || lower.contains("exceeded") || lower.contains("limit") {
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

    /// After each call on the engine: if the call erased rows from this
    /// database (or an earlier scrub failed), overwrites the copies of old
    /// pages that the platform's SQLite keeps in its write-ahead log.
    ///
    /// The platform's free pages never hold a page: entries are rewritten
    /// in place, and zeroed before they are deleted. Its log does, until it
    /// is overwritten. So: zeros of [`CHECKPOINT`] bytes in one transaction,
    /// which makes the platform checkpoint its log at that commit; their
    /// deletion, which starts the log again from its beginning; then zeros
    /// reaching past the log's largest size, and their deletion. The log
    /// grows by at most [`CHECKPOINT`] plus the largest transaction written
    /// to it, and a transaction rewrites at most the whole database, so the
    /// second write is [`SCRUB_BASE`] plus 1.25 times the larger of the
    /// database's largest size and the most one call wrote, measured in
    /// entries (an entry takes about 1.8 times its bytes in the log).
    pub(crate) async fn scrub(&self) -> crate::Result<()> {
        let Some(object) = OBJECTS.with(|o| o.borrow().get(&self.id).cloned()) else {
            return Ok(());
        };
        let written = object.call_bytes.replace(0);
        object
            .largest_write
            .set(object.largest_write.get().max(written));
        if !crate::store::scrub::take_erased(&self.file()) && !object.scrub_pending.get() {
            return Ok(());
        }
        object.scrub_pending.set(true);
        let largest = object.max_size.get().max(object.largest_write.get());
        let first = u32::try_from(CHECKPOINT.div_ceil(ENTRY as u64)).unwrap_or(u32::MAX);
        let second = SCRUB_BASE + largest + largest / 4;
        let second = u32::try_from(second.div_ceil(ENTRY as u64)).unwrap_or(u32::MAX);
        let prefix = format!("{}scrub:", object.prefix);
        let failed = |e: JsValue| -> Error {
            let text = message(&e);
            if text.to_ascii_lowercase().contains("full") {
                return StoreError::StorageFull.into();
            }
            // STORAGE_ERROR, as any other failure of the medium.
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                Some(format!(
                    "the erasure is committed, but the Durable Object's storage could not be \
                     overwritten ({text}); it is tried again after the next call"
                )),
            ))
            .into()
        };
        for count in [first, second] {
            object.host.fill(&prefix, count, ENTRY).map_err(failed)?;
            settle(&object.host).await.map_err(failed)?;
            object.host.clear(&prefix, count).map_err(failed)?;
            settle(&object.host).await.map_err(failed)?;
        }
        object.scrub_pending.set(false);
        Ok(())
    }
}

impl Registration {
    /// `e`, from a call on this engine, with what the object's storage said
    /// when it is a failure of the storage (`STORAGE_ERROR`, `CORRUPT`):
    /// SQLite reports only its own kind of error.
    pub(crate) fn explain(&self, e: Error) -> Error {
        let Some(object) = OBJECTS.with(|o| o.borrow().get(&self.id).cloned()) else {
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
    // A class without SQLite storage has `kv` in some runtimes, whose calls
    // throw: the platform's message says what to change.
    let probe = format!("{prefix}size");
    if let Err(e) = host.get(&probe) {
        let text = message(&e);
        if text.contains("SQLite") {
            return Err(StoreError::Unsupported { what: text }.into());
        }
        return Err(StoreError::CannotOpen {
            detail: format!("the Durable Object's storage refused a read: {text}"),
        }
        .into());
    }
    let id = NEXT.with(|n| {
        let id = n.get();
        n.set(id.wrapping_add(1).max(1));
        id
    });
    let object = Object {
        host,
        storage,
        prefix,
        max_size: Cell::new(0),
        call_bytes: Cell::new(0),
        largest_write: Cell::new(0),
        scrub_pending: Cell::new(false),
        last_failure: RefCell::new(None),
    };
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
    /// Pages written since the last commit, whole, by index.
    dirty: BTreeMap<u64, Box<[u8]>>,
    /// Pages past the end, to be zeroed by the next commit.
    to_zero: Vec<u64>,
    /// Pages zeroed by the last commit, to be deleted by the next.
    to_delete: Vec<u64>,
}

impl Stored {
    /// Page `index` as stored (zeros where there is none).
    fn load(&self, index: u64) -> VfsResult<Box<[u8]>> {
        self.load_entry(index).map_err(|e| self.object.failed(e))
    }

    fn load_entry(&self, index: u64) -> VfsResult<Box<[u8]>> {
        let mut page = vec![0u8; PAGE].into_boxed_slice();
        let value = self
            .object
            .host
            .get(&self.object.page_key(index))
            .map_err(|e| host_error(VfsErrorCode::IoRead, e))?;
        if value.is_undefined() || value.is_null() {
            return Ok(page);
        }
        let Some(bytes) = value.dyn_ref::<js_sys::Uint8Array>() else {
            return Err(VfsError::new(
                VfsErrorCode::Corrupt,
                format!("entry {} is not bytes", self.object.page_key(index)).into(),
            ));
        };
        if bytes.length() as usize != ENTRY {
            return Err(VfsError::new(
                VfsErrorCode::Corrupt,
                format!(
                    "entry {} holds {} bytes, not {ENTRY}",
                    self.object.page_key(index),
                    bytes.length()
                )
                .into(),
            ));
        }
        bytes.subarray(PAD as u32, ENTRY as u32).copy_to(&mut page);
        Ok(page)
    }

    /// Page `index` as SQLite last wrote it.
    fn page(&self, index: u64) -> VfsResult<std::borrow::Cow<'_, [u8]>> {
        match self.dirty.get(&index) {
            Some(p) => Ok(std::borrow::Cow::Borrowed(p)),
            None => self
                .load(index)
                .map(|p| std::borrow::Cow::Owned(p.into_vec())),
        }
    }

    /// Stores every page written since the last commit, and the size, in
    /// one transaction; zeroes the pages past a truncated end, and deletes
    /// those the last commit zeroed.
    fn commit(&mut self) -> VfsResult<()> {
        let object = self.object.clone();
        self.write_commit().map_err(|e| object.failed(e))
    }

    fn write_commit(&mut self) -> VfsResult<()> {
        let pages = self.size.div_ceil(PAGE as u64);
        let zero: Vec<u64> = self
            .to_zero
            .iter()
            .copied()
            .filter(|i| *i >= pages && !self.dirty.contains_key(i))
            .collect();
        let count = self.dirty.len() + zero.len();
        let mut keys = Vec::with_capacity(count);
        let mut values = vec![0u8; count * ENTRY];
        for (n, (index, page)) in self.dirty.iter().enumerate() {
            keys.push(self.object.page_key(*index));
            values[n * ENTRY + PAD..(n + 1) * ENTRY].copy_from_slice(page);
        }
        keys.extend(zero.iter().map(|i| self.object.page_key(*i)));
        let deletes: Vec<String> = self
            .to_delete
            .iter()
            .filter(|i| **i >= pages && !self.dirty.contains_key(i))
            .map(|i| self.object.page_key(*i))
            .collect();
        self.object
            .host
            .commit(
                keys,
                &values,
                ENTRY,
                deletes,
                Some(self.object.size_key()),
                self.size as f64,
                true,
            )
            .map_err(|e| host_error(VfsErrorCode::IoWrite, e))?;
        self.dirty.clear();
        self.to_zero.clear();
        self.committed = self.size;
        self.to_delete = zero;
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
                    if !s.dirty.contains_key(&index) {
                        let page = if take == PAGE || index * PAGE as u64 >= s.size {
                            vec![0u8; PAGE].into_boxed_slice()
                        } else {
                            s.load(index)?
                        };
                        s.dirty.insert(index, page);
                    }
                    if let Some(page) = s.dirty.get_mut(&index) {
                        page[within..within + take].copy_from_slice(&buf[from..from + take]);
                    }
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
                s.dirty.retain(|i, _| *i < pages);
                s.to_zero.extend(pages..old_pages);
                // The tail of the last page reads as zeros.
                let within = (size % PAGE as u64) as usize;
                if within != 0 {
                    let index = size / PAGE as u64;
                    let mut page = s.page(index)?.into_owned();
                    page[within..].fill(0);
                    s.dirty.insert(index, page.into_boxed_slice());
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
            Some(s) if s >= 0.0 && s.fract() == 0.0 && s <= 2f64.powi(50) => s as u64,
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
        if stored.is_undefined() {
            // Created: it exists from now on, empty.
            object
                .host
                .commit(
                    Vec::new(),
                    &[],
                    ENTRY,
                    Vec::new(),
                    Some(object.size_key()),
                    0.0,
                    false,
                )
                .map_err(|e| host_error(VfsErrorCode::CantOpen, e))?;
        }
        // Pages left past the end by a commit whose follow-up never ran.
        let pages = size.div_ceil(PAGE as u64);
        let past = object
            .host
            .keys(&object.page_prefix(), &object.page_key(pages))
            .map_err(|e| host_error(VfsErrorCode::CantOpen, e))?;
        let to_zero = past
            .iter()
            .filter_map(|k| k.strip_prefix(&object.page_prefix()))
            .filter_map(|hex| u64::from_str_radix(hex, 16).ok())
            .collect();
        object.max_size.set(object.max_size.get().max(size));
        Ok(OpenedFile {
            file: DurableFile {
                kind: Kind::Stored(Stored {
                    object,
                    size,
                    committed: size,
                    dirty: BTreeMap::new(),
                    to_zero,
                    to_delete: Vec::new(),
                }),
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
            if !s.dirty.is_empty() || s.size != s.committed || !s.to_zero.is_empty() {
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
        let zeros: Vec<u8> = vec![0; keys.len() * ENTRY];
        // Zeroed, then deleted: the platform keeps no copy of a page.
        object
            .host
            .commit(keys.clone(), &zeros, ENTRY, Vec::new(), None, 0.0, false)
            .map_err(|e| host_error(VfsErrorCode::IoDelete, e))?;
        let mut deletes = keys;
        deletes.push(object.size_key());
        object
            .host
            .commit(Vec::new(), &[], ENTRY, deletes, None, 0.0, false)
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

/// Registers the VFS, once per module instance.
fn install() -> crate::Result<()> {
    if INSTALLED.with(|i| i.get()) {
        return Ok(());
    }
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
