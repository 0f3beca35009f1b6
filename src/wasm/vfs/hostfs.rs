//! A SQLite VFS over the host's synchronous file API (Node's `fs`, which
//! Deno provides too), for `storage: { file }`.
//!
//! The package glue (`pkg/index.js`) hands over an object of functions on
//! file descriptors. One engine holds a file at a time: the main database's
//! first lock takes a lock (`<path>.lock`, naming the process, touched by
//! the glue while held: `pkg/node-fs.js`), kept until the engine closes; a
//! second holder gets `BUSY`. `xSync` is `fsync`
//! (and, for a file this engine created, an `fsync` of its directory), and
//! SQLite's rollback journal is an ordinary file next to the database, whose
//! deletion syncs the directory too.

use std::cell::{Cell, RefCell};

use sqlite_wasm_rs::vfs::{
    register_vfs, AccessMode, FileKind, LockLevel, OpenAccess, OpenOptions, OpenRequest,
    OpenedFile, OsCallback, SQLiteIoMethods, SQLiteVfs, SyncOptions, VfsError, VfsErrorCode,
    VfsFile, VfsResult, VfsStore,
};
use sqlite_wasm_rs::WasmOsCallback;
use wasm_bindgen::prelude::*;

/// The name the VFS is registered under.
pub(crate) const VFS_NAME: &str = "usertrail-hostfs";

#[wasm_bindgen]
extern "C" {
    /// The host's file functions, from the package glue.
    #[derive(Clone)]
    pub type HostFs;
    #[wasm_bindgen(method, catch)]
    fn open(
        this: &HostFs,
        path: &str,
        create: bool,
        exclusive: bool,
        read_only: bool,
    ) -> Result<f64, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn read(this: &HostFs, fd: f64, buf: &mut [u8], offset: f64) -> Result<f64, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn write(this: &HostFs, fd: f64, buf: &[u8], offset: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn truncate(this: &HostFs, fd: f64, size: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn sync(this: &HostFs, fd: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn size(this: &HostFs, fd: f64) -> Result<f64, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn close(this: &HostFs, fd: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn unlink(this: &HostFs, path: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn exists(this: &HostFs, path: &str) -> Result<bool, JsValue>;
    #[wasm_bindgen(method, catch, js_name = lockFile)]
    fn lock_file(this: &HostFs, path: &str) -> Result<bool, JsValue>;
    #[wasm_bindgen(method, catch, js_name = describeLock)]
    fn describe_lock(this: &HostFs, path: &str) -> Result<String, JsValue>;
    #[wasm_bindgen(method, catch, js_name = sameFile)]
    fn same_file(this: &HostFs, fd: f64, path: &str) -> Result<bool, JsValue>;
    #[wasm_bindgen(method, catch, js_name = unlockFile)]
    fn unlock_file(this: &HostFs, path: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = syncDir)]
    fn sync_dir(this: &HostFs, path: &str) -> Result<(), JsValue>;
}

/// The host error's `code` (`ENOSPC`, ...) and message.
fn host_error(code: VfsErrorCode, e: JsValue) -> VfsError {
    let get = |k: &str| {
        js_sys::Reflect::get(&e, &k.into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    let errno = get("code");
    let code = match errno.as_str() {
        "ENOSPC" | "EDQUOT" => VfsErrorCode::Full,
        _ => code,
    };
    // Node's messages start with their code already ("ENOENT: no such
    // file…"); others may not.
    let message = get("message");
    let text = if errno.is_empty() || message.starts_with(&errno) {
        message
    } else {
        format!("{errno} {message}")
    };
    VfsError::new(code, text.into())
}

struct AppData {
    fs: HostFs,
    os: WasmOsCallback,
    error: RefCell<Option<VfsError>>,
}

enum Handle {
    /// An anonymous temporary file, kept in memory.
    Memory(Vec<u8>),
    /// A host file descriptor.
    Fd(f64),
}

struct HostFile {
    fs: HostFs,
    handle: Handle,
    path: String,
    main_db: bool,
    locked: bool,
    read_only: bool,
    /// Created by this open: its directory entry is synced with its first sync.
    new_entry: bool,
    /// A write-ahead log: its appends are gathered (see [`Appends`]).
    appends: Option<RefCell<Appends>>,
    /// The file's size as last learnt or written, while only this engine
    /// can change it (see [`HostFile::size`]).
    known_size: Cell<Option<u64>>,
    /// A database's pages read ahead of sequential reads (see [`ReadAhead`]).
    ahead: Option<RefCell<ReadAhead>>,
}

/// Pages of a database read ahead of a sequential read, while this engine
/// holds the file (no one else writes it then; its own writes and
/// truncations forget what they overlap).
///
/// SQLite reads a page per host call: a packed block of events is a chain
/// of about 16 overflow pages, written together, so a query over 10M
/// events made 40,000 `readSync` calls (about 4 µs each in Node, 163 MB).
/// The third read in a row that starts where the last one ended reads
/// [`READ_AHEAD`] bytes instead, and the reads that follow inside them are
/// copied from here. A read elsewhere (a B-tree lookup) reads what it
/// asks, as do the first two of a run: records of one or two pages (a
/// block's rows by name, `tracking::names`) often lie next to one another
/// yet are read one here, one there, and 64 KB read for each of them read
/// ten times what a funnel needs.
#[derive(Default)]
struct ReadAhead {
    /// Where `data` starts in the file.
    at: u64,
    data: Vec<u8>,
    /// Where the last read ended.
    next: u64,
    /// Reads in a row, each where the one before ended (the last one's
    /// included).
    run: u32,
}

/// Reads in a row, each where the one before ended, after which the next
/// such read reads ahead.
const RUN_BEFORE_AHEAD: u32 = 3;

/// Bytes read at once ahead of a sequential read.
const READ_AHEAD: usize = 64 * 1024;

impl ReadAhead {
    /// Copies `buf.len()` bytes at `offset` into `buf` if all are here.
    fn serve(&mut self, buf: &mut [u8], offset: u64) -> bool {
        let Some(start) = offset.checked_sub(self.at) else {
            return false;
        };
        let Ok(start) = usize::try_from(start) else {
            return false;
        };
        let Some(held) = self.data.get(start..start.saturating_add(buf.len())) else {
            return false;
        };
        buf.copy_from_slice(held);
        self.next = offset + buf.len() as u64;
        true
    }

    /// Forgets what a write of `len` bytes at `offset` (or a truncation at
    /// `offset`, `len` 0 meaning to the end) changed.
    fn forget(&mut self, offset: u64, len: u64) {
        let end = self.at + self.data.len() as u64;
        let overlaps = offset < end && (len == 0 || offset + len > self.at);
        if overlaps {
            self.data.clear();
        }
    }
}

/// The appends of a write-ahead log not yet handed to the host, written in
/// one host call per commit instead of two per page.
///
/// SQLite writes a WAL frame as a 24-byte header, then the page; a commit's
/// last frame has a non-zero "database size after commit" in its header.
/// Contiguous appends are gathered here and written when the commit frame's
/// page arrives, inside that `xWrite`: a host error then fails the commit as
/// a failed write would, before SQLite counts the frames as written, and a
/// commit that returned is with the host (so it survives the process being
/// killed). Reads, syncs, size queries, truncation and close write what is
/// gathered first; so does a non-contiguous write and 1 MiB gathered.
#[derive(Default)]
struct Appends {
    offset: u64,
    buf: Vec<u8>,
    /// The last write was a commit frame's header: its page ends the commit.
    commit_next: bool,
}

/// Gathered appends are written once they reach this size.
const APPENDS_MAX: usize = 1 << 20;

/// The WAL frame header's size, and where its commit field sits.
const FRAME_HEADER: usize = 24;

impl HostFile {
    /// Opens again the file now at this one's path when another took its
    /// place while this engine waited for the lock (a `usertrail vacuum` or
    /// restore renames a new file over the old one, under the old one's
    /// lock): what this engine then reads and writes is the file its name
    /// holds, not the old one, unlinked. Called with the lock just taken,
    /// before SQLite reads the database under it (only the header's page size
    /// was read at open, and SQLite reads page 1 again under the lock).
    fn follow_replacement(&mut self) -> VfsResult<()> {
        let &Handle::Fd(fd) = &self.handle else {
            return Ok(());
        };
        let same = self
            .fs
            .same_file(fd, &self.path)
            .map_err(|e| host_error(VfsErrorCode::IoLock, e))?;
        if same {
            return Ok(());
        }
        let fresh = self
            .fs
            .open(&self.path, false, false, self.read_only)
            .map_err(|e| host_error(VfsErrorCode::IoLock, e))?;
        self.handle = Handle::Fd(fresh);
        self.known_size.set(None);
        if let Some(ahead) = &self.ahead {
            ahead.borrow_mut().data.clear();
        }
        self.fs
            .close(fd)
            .map_err(|e| host_error(VfsErrorCode::IoClose, e))
    }

    /// Hands the gathered appends to the host. On an error they are
    /// dropped: SQLite fails the transaction, and rewrites its frames.
    fn flush(&self) -> VfsResult<()> {
        let (Some(appends), Handle::Fd(fd)) = (&self.appends, &self.handle) else {
            return Ok(());
        };
        let mut a = appends.borrow_mut();
        a.commit_next = false;
        if a.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut a.buf);
        let at = a.offset;
        drop(a);
        let written = self.fs.write(*fd, &buf, at as f64);
        self.wrote(at + buf.len() as u64, written.is_ok());
        // Keep the allocation for the next commit.
        let mut a = appends.borrow_mut();
        a.buf = buf;
        a.buf.clear();
        written.map_err(|e| host_error(VfsErrorCode::IoWrite, e))
    }

    /// Notes a write ending at `end`: the size known grows to it; a failed
    /// write (perhaps partly done) forgets the size.
    fn wrote(&self, end: u64, ok: bool) {
        let known = self.known_size.get().filter(|_| ok).map(|n| n.max(end));
        self.known_size.set(known);
    }

    /// Gathers a write to the log; writes everything at a commit's end.
    fn append(&self, appends: &RefCell<Appends>, buf: &[u8], offset: u64) -> VfsResult<()> {
        let contiguous = {
            let a = appends.borrow();
            a.buf.is_empty() || a.offset + a.buf.len() as u64 == offset
        };
        if !contiguous {
            self.flush()?;
        }
        let ends_commit = {
            let mut a = appends.borrow_mut();
            if a.buf.is_empty() {
                a.offset = offset;
            }
            a.buf.extend_from_slice(buf);
            let header = buf.len() == FRAME_HEADER;
            let ends = !header && a.commit_next;
            a.commit_next = header && buf[4..8] != [0, 0, 0, 0];
            ends || a.buf.len() >= APPENDS_MAX
        };
        if ends_commit {
            self.flush()?;
        }
        Ok(())
    }

    fn writable(&self) -> VfsResult<()> {
        if self.read_only {
            return Err(VfsError::new(VfsErrorCode::ReadOnly, "read-only".into()));
        }
        Ok(())
    }
}

impl VfsFile for HostFile {
    fn read(&mut self, buf: &mut [u8], offset: u64) -> VfsResult<usize> {
        self.flush()?;
        match &self.handle {
            Handle::Memory(data) => {
                let start = (offset as usize).min(data.len());
                let n = buf.len().min(data.len() - start);
                buf[..n].copy_from_slice(&data[start..start + n]);
                Ok(n)
            }
            Handle::Fd(fd) => {
                if let Some(ahead) = self.ahead.as_ref().filter(|_| self.locked) {
                    let mut ahead = ahead.borrow_mut();
                    if ahead.serve(buf, offset) {
                        return Ok(buf.len());
                    }
                    let sequential = offset == ahead.next;
                    ahead.next = offset + buf.len() as u64;
                    ahead.run = if sequential {
                        ahead.run.saturating_add(1)
                    } else {
                        1
                    };
                    if sequential && ahead.run > RUN_BEFORE_AHEAD && buf.len() < READ_AHEAD {
                        let ahead = &mut *ahead;
                        ahead.data.resize(READ_AHEAD, 0);
                        let got = self
                            .fs
                            .read(*fd, &mut ahead.data, offset as f64)
                            .map_err(|e| host_error(VfsErrorCode::IoRead, e));
                        ahead.data.truncate(got.as_ref().map_or(0, |n| *n as usize));
                        ahead.at = offset;
                        got?;
                        if ahead.serve(buf, offset) {
                            return Ok(buf.len());
                        }
                        // Short: the end of the file; read as asked.
                    }
                }
                self.fs
                    .read(*fd, buf, offset as f64)
                    .map(|n| n as usize)
                    .map_err(|e| host_error(VfsErrorCode::IoRead, e))
            }
        }
    }

    fn write(&mut self, buf: &[u8], offset: u64) -> VfsResult<()> {
        self.writable()?;
        match &mut self.handle {
            Handle::Memory(data) => {
                let end = offset as usize + buf.len();
                if data.len() < end {
                    data.resize(end, 0);
                }
                data[offset as usize..end].copy_from_slice(buf);
                Ok(())
            }
            Handle::Fd(fd) => match &self.appends {
                Some(appends) => self.append(appends, buf, offset),
                None => {
                    if let Some(ahead) = &self.ahead {
                        ahead.borrow_mut().forget(offset, buf.len() as u64);
                    }
                    let written = self.fs.write(*fd, buf, offset as f64);
                    self.wrote(offset + buf.len() as u64, written.is_ok());
                    written.map_err(|e| host_error(VfsErrorCode::IoWrite, e))
                }
            },
        }
    }

    fn truncate(&mut self, size: u64) -> VfsResult<()> {
        self.writable()?;
        self.flush()?;
        match &mut self.handle {
            Handle::Memory(data) => {
                data.truncate(size as usize);
                Ok(())
            }
            Handle::Fd(fd) => {
                if let Some(ahead) = &self.ahead {
                    ahead.borrow_mut().forget(size, 0);
                }
                let done = self.fs.truncate(*fd, size as f64);
                self.known_size.set(done.is_ok().then_some(size));
                done.map_err(|e| host_error(VfsErrorCode::IoTruncate, e))
            }
        }
    }

    fn sync(&mut self, _options: SyncOptions) -> VfsResult<()> {
        self.flush()?;
        match &self.handle {
            Handle::Memory(_) => Ok(()),
            Handle::Fd(fd) => {
                self.fs
                    .sync(*fd)
                    .map_err(|e| host_error(VfsErrorCode::IoSync, e))?;
                if self.new_entry {
                    self.fs
                        .sync_dir(&self.path)
                        .map_err(|e| host_error(VfsErrorCode::IoDirectorySync, e))?;
                    self.new_entry = false;
                }
                Ok(())
            }
        }
    }

    /// The file's size. Asked of the host once, then kept up to date by
    /// this file's own writes and truncations, while no one else can change
    /// the file: a database once this engine holds its lock file, and its
    /// journal and log (which only the lock's holder writes). SQLite asks
    /// at every read transaction, a statement each in autocommit: a host
    /// `fstat` (about 9 µs in Node) per packed block a query reads.
    fn size(&self) -> VfsResult<u64> {
        self.flush()?;
        match &self.handle {
            Handle::Memory(data) => Ok(data.len() as u64),
            Handle::Fd(fd) => {
                if let Some(n) = self.known_size.get() {
                    return Ok(n);
                }
                let n = self
                    .fs
                    .size(*fd)
                    .map(|n| n as u64)
                    .map_err(|e| host_error(VfsErrorCode::IoStat, e))?;
                if self.locked || !self.main_db {
                    self.known_size.set(Some(n));
                }
                Ok(n)
            }
        }
    }

    fn lock(&mut self, level: LockLevel) -> VfsResult<()> {
        if self.main_db && level > LockLevel::None && !self.locked {
            let taken = self
                .fs
                .lock_file(&self.path)
                .map_err(|e| host_error(VfsErrorCode::IoLock, e))?;
            if !taken {
                // Who holds it, for the error's detail (a host without the
                // function, or one that fails, says nothing more).
                let holder = self.fs.describe_lock(&self.path).unwrap_or_default();
                let message = if holder.is_empty() {
                    format!("{} is held by another engine", self.path)
                } else {
                    format!("{}: {holder}", self.path)
                };
                return Err(VfsError::new(VfsErrorCode::Busy, message.into()));
            }
            if let Err(e) = self.follow_replacement() {
                // Not held after all: the lock goes back.
                let _ = self.fs.unlock_file(&self.path);
                return Err(e);
            }
            self.locked = true;
            if let Some(ahead) = &self.ahead {
                ahead.borrow_mut().data.clear();
            }
        }
        Ok(())
    }

    fn unlock(&mut self, _level: LockLevel) -> VfsResult<()> {
        // The lock file is kept until close: one engine holds the file.
        Ok(())
    }

    fn check_reserved_lock(&self) -> VfsResult<bool> {
        Ok(false)
    }
}

struct Store;

impl VfsStore for Store {
    type File = HostFile;
    type AppData = AppData;

    fn record_error(data: &AppData, error: VfsError) {
        data.error.replace(Some(error));
    }

    fn last_error(data: &AppData) -> Option<VfsError> {
        data.error.borrow().clone()
    }

    fn open_file(data: &AppData, request: OpenRequest<'_>) -> VfsResult<OpenedFile<HostFile>> {
        let options = request.options;
        let read_only = options.access() == OpenAccess::ReadOnly;
        let Some(filename) = request.filename else {
            return Ok(OpenedFile {
                file: HostFile {
                    fs: data.fs.clone(),
                    handle: Handle::Memory(Vec::new()),
                    path: String::new(),
                    main_db: false,
                    locked: false,
                    read_only,
                    new_entry: false,
                    appends: None,
                    known_size: Cell::new(None),
                    ahead: None,
                },
                access: options.access(),
            });
        };
        let path = filename.path().to_owned();
        let new_entry = options.create()
            && !data
                .fs
                .exists(&path)
                .map_err(|e| host_error(VfsErrorCode::IoAccess, e))?;
        let fd = data
            .fs
            .open(&path, options.create(), options.exclusive(), read_only)
            .map_err(|e| host_error(VfsErrorCode::CantOpen, e))?;
        Ok(OpenedFile {
            file: HostFile {
                fs: data.fs.clone(),
                handle: Handle::Fd(fd),
                main_db: options.kind() == Some(FileKind::MainDb),
                appends: (options.kind() == Some(FileKind::Wal)).then(RefCell::default),
                known_size: Cell::new(None),
                ahead: (options.kind() == Some(FileKind::MainDb)).then(RefCell::default),
                path,
                locked: false,
                read_only,
                new_entry,
            },
            access: options.access(),
        })
    }

    fn close_file(
        data: &AppData,
        name: Option<&str>,
        file: HostFile,
        options: OpenOptions,
    ) -> VfsResult<()> {
        let flushed = file.flush();
        if let Handle::Fd(fd) = file.handle {
            data.fs
                .close(fd)
                .map_err(|e| host_error(VfsErrorCode::IoClose, e))?;
            if file.locked {
                data.fs
                    .unlock_file(&file.path)
                    .map_err(|e| host_error(VfsErrorCode::IoUnlock, e))?;
            }
            if options.delete_on_close() {
                if let Some(name) = name {
                    data.fs
                        .unlink(name)
                        .map_err(|e| host_error(VfsErrorCode::IoDelete, e))?;
                }
            }
        }
        flushed
    }

    fn access(data: &AppData, name: &str, _mode: AccessMode) -> VfsResult<bool> {
        data.fs
            .exists(name)
            .map_err(|e| host_error(VfsErrorCode::IoAccess, e))
    }

    fn full_pathname(_data: &AppData, name: &str) -> VfsResult<String> {
        Ok(name.to_owned())
    }

    fn delete_file(data: &AppData, name: &str, sync_dir: bool) -> VfsResult<()> {
        data.fs
            .unlink(name)
            .map_err(|e| host_error(VfsErrorCode::IoDelete, e))?;
        if sync_dir {
            data.fs
                .sync_dir(name)
                .map_err(|e| host_error(VfsErrorCode::IoDirectorySync, e))?;
        }
        Ok(())
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

thread_local! {
    static INSTALLED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Registers the VFS over `fs`, once per module instance.
pub(crate) fn install(fs: HostFs) -> crate::Result<()> {
    if INSTALLED.with(|i| i.get()) {
        return Ok(());
    }
    // Before the registration starts SQLite (store::pcache).
    crate::store::pcache::install();
    let data = AppData {
        fs,
        os: WasmOsCallback,
        error: RefCell::new(None),
    };
    #[allow(unsafe_code)]
    // SAFETY: wasm is single-threaded and the registration lives for the
    // module's lifetime, as SQLite requires.
    let registered = unsafe { register_vfs::<IoMethods, Vfs>(VFS_NAME, data, false) };
    match registered {
        Ok(_registration) => {
            // The registration is not undone: the VFS lives as long as the module.
            INSTALLED.with(|i| i.set(true));
            Ok(())
        }
        Err(e) => Err(crate::Error::from(crate::store::StoreError::Unsupported {
            what: format!("the host file VFS could not be registered: {e}"),
        })),
    }
}

/// Runs the VFS conformance suite of `sqlite-wasm-rs`
/// (`vfs::test_suite::test_vfs_store`: reads, writes, truncation, open
/// modes, reopen, recreation, isolation, delete-on-close, temporary files)
/// against this VFS over `fs`, calling the store directly. For the tests.
pub(crate) fn conformance(fs: HostFs) -> Result<(), String> {
    let data = sqlite_wasm_rs::vfs::VfsAppData::new(AppData {
        fs,
        os: WasmOsCallback,
        error: RefCell::new(None),
    });
    sqlite_wasm_rs::vfs::test_suite::test_vfs_store::<Store>(data).map_err(|e| e.to_string())
}
