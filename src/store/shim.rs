//! A VFS shim that scrubs every page on its way to a database file.
//!
//! SQLite's VFS shims (its own `vfstrace.c` is the model) sit between SQLite
//! and a real VFS and pass every call on. This one passes everything on
//! unchanged except a main database's page writes, which it copies and
//! scrubs first ([`super::scrub::page`]): so the file never holds the stale
//! cell copies SQLite leaves in a page's unused space, and erasure needs
//! `secure_delete`, not a rewrite of the whole file. The same shim wraps the
//! OS VFS (native files) and every VFS a host registered (a file in Node or
//! Deno, OPFS); in-memory databases are scrubbed when exported instead.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::Mutex;

use rusqlite::ffi;

use super::scrub;
use super::StoreError;
use crate::error::Result;

/// A registered shim: SQLite's VFS struct first, so that SQLite's pointer to
/// it is a pointer to this, then the VFS it wraps.
#[repr(C)]
struct ShimVfs {
    base: ffi::sqlite3_vfs,
    inner: *mut ffi::sqlite3_vfs,
}

/// An open file: SQLite's file struct first, then whether it is a main
/// database and whether it is too big to scrub, then (at [`REAL_OFFSET`])
/// the wrapped VFS's own file struct.
#[repr(C)]
struct ShimFile {
    base: ffi::sqlite3_file,
    /// The wrapped VFS, asked for its last error when an operation fails.
    vfs: *mut ffi::sqlite3_vfs,
    main_db: bool,
    /// The database has [`scrub::MAX_PAGES`] pages or more (by page 1's
    /// header, read and written before any other page): an overflow or
    /// freelist page could then start with a page number whose first byte
    /// looks like a b-tree page's, so nothing is scrubbed.
    too_big: bool,
}

/// Where the wrapped file struct starts inside a [`ShimFile`] allocation.
const REAL_OFFSET: usize = std::mem::size_of::<ShimFile>().next_multiple_of(16);

/// The VFSs wrapped so far (by their own name, so that the default VFS and
/// the same VFS named are wrapped once), each with the name its shim is
/// registered under. Kept for the life of the process, as SQLite requires.
static SHIMS: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

/// Registers (once) a shim over the VFS named `inner`, or over the default
/// VFS when `None`, and returns the name to open databases with.
pub fn wrap(inner: Option<&str>) -> Result<String> {
    let mut shims = SHIMS.lock().unwrap_or_else(|e| e.into_inner());
    let shims = shims.get_or_insert_with(HashMap::new);
    let unsupported =
        |what: String| -> crate::error::Error { StoreError::Unsupported { what }.into() };
    let c_inner = inner
        .map(CString::new)
        .transpose()
        .map_err(|_| unsupported("a VFS name with NUL".into()))?;
    // SAFETY: a NUL-terminated name or null, as sqlite3_vfs_find takes.
    let real =
        unsafe { ffi::sqlite3_vfs_find(c_inner.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())) };
    if real.is_null() {
        let named = inner.unwrap_or("(default)");
        return Err(unsupported(format!("no VFS named {named:?} is registered")));
    }
    // SAFETY: SQLite keeps registered VFSs alive and unmoved.
    let real_vfs = unsafe { &*real };
    let real_name = unsafe { CStr::from_ptr(real_vfs.zName) }
        .to_string_lossy()
        .into_owned();
    if let Some(name) = shims.get(&real_name) {
        return Ok(name.clone());
    }
    let name = format!("usertrail-scrub/{real_name}");
    let c_name =
        CString::new(name.clone()).map_err(|_| unsupported("a VFS name with NUL".into()))?;
    let shim = Box::new(ShimVfs {
        base: ffi::sqlite3_vfs {
            iVersion: real_vfs.iVersion.min(2),
            szOsFile: (REAL_OFFSET as c_int) + real_vfs.szOsFile,
            mxPathname: real_vfs.mxPathname,
            pNext: std::ptr::null_mut(),
            zName: c_name.into_raw(),
            pAppData: std::ptr::null_mut(),
            xOpen: Some(x_open),
            xDelete: Some(x_delete),
            xAccess: Some(x_access),
            xFullPathname: Some(x_full_pathname),
            xDlOpen: Some(x_dl_open),
            xDlError: Some(x_dl_error),
            xDlSym: Some(x_dl_sym),
            xDlClose: Some(x_dl_close),
            xRandomness: Some(x_randomness),
            xSleep: Some(x_sleep),
            xCurrentTime: Some(x_current_time),
            xGetLastError: Some(x_get_last_error),
            xCurrentTimeInt64: if real_vfs.iVersion >= 2 {
                Some(x_current_time_int64)
            } else {
                None
            },
            xSetSystemCall: None,
            xGetSystemCall: None,
            xNextSystemCall: None,
        },
        inner: real,
    });
    let ptr = Box::into_raw(shim);
    // SAFETY: a complete VFS struct that is never freed; not the default.
    let rc = unsafe { ffi::sqlite3_vfs_register(ptr.cast(), 0) };
    if rc != ffi::SQLITE_OK {
        return Err(unsupported(format!(
            "registering the scrubbing VFS failed ({rc})"
        )));
    }
    shims.insert(real_name, name.clone());
    Ok(name)
}

/// The wrapped VFS of a shim.
unsafe fn inner(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    (*vfs.cast::<ShimVfs>()).inner
}

/// The wrapped file of a shim's file.
unsafe fn real(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    file.cast::<u8>().add(REAL_OFFSET).cast()
}

unsafe extern "C" fn x_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let inner = inner(vfs);
    let shim = file.cast::<ShimFile>();
    (*shim).base.pMethods = std::ptr::null();
    (*shim).vfs = inner;
    (*shim).main_db = flags & ffi::SQLITE_OPEN_MAIN_DB != 0;
    (*shim).too_big = false;
    let Some(open) = (*inner).xOpen else {
        return ffi::SQLITE_CANTOPEN;
    };
    let rc = open(inner, name, real(file), flags, out_flags);
    crate::error::note_open((rc != ffi::SQLITE_OK).then(|| refusal(inner, name, rc)));
    if rc == ffi::SQLITE_OK && !(*real(file)).pMethods.is_null() {
        (*shim).base.pMethods = if (*(*real(file)).pMethods).iVersion >= 3 {
            &IO_V3
        } else if (*(*real(file)).pMethods).iVersion == 2 {
            &IO_V2
        } else {
            &IO_V1
        };
    }
    rc
}

/// What the wrapped VFS says of its refusal to open `name`: the file, and
/// its last error's message (a host VFS's), or the OS error its number
/// names (the OS VFS writes no message), or SQLite's code.
unsafe fn refusal(inner: *mut ffi::sqlite3_vfs, name: ffi::sqlite3_filename, rc: c_int) -> String {
    let file = if name.is_null() {
        "a temporary file".to_owned()
    } else {
        CStr::from_ptr(name).to_string_lossy().into_owned()
    };
    format!("{file}: {}", last_error(inner, rc))
}

/// The wrapped VFS's last error: its message (a host VFS's), or the OS
/// error its number names (the OS VFS writes no message), or SQLite's code.
/// The wrapped VFS's last error message, if it has one.
unsafe fn last_message(inner: *mut ffi::sqlite3_vfs) -> Option<String> {
    let mut buf = [0 as c_char; 512];
    if let Some(f) = (*inner).xGetLastError {
        f(inner, buf.len() as c_int - 1, buf.as_mut_ptr());
    }
    let message = CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned();
    (!message.is_empty()).then_some(message)
}

unsafe fn last_error(inner: *mut ffi::sqlite3_vfs, rc: c_int) -> String {
    let mut buf = [0 as c_char; 512];
    let errno = match (*inner).xGetLastError {
        Some(f) => f(inner, buf.len() as c_int - 1, buf.as_mut_ptr()),
        None => 0,
    };
    let message = CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned();
    if !message.is_empty() {
        message
    } else if errno != 0 && cfg!(not(target_family = "wasm")) {
        std::io::Error::from_raw_os_error(errno).to_string()
    } else {
        format!("SQLite code {rc}")
    }
}

/// Calls the wrapped VFS's method `$m`, or returns `$none` if it has none.
macro_rules! pass_vfs {
    ($vfs:expr, $m:ident, $none:expr, $($arg:expr),*) => {{
        let inner = inner($vfs);
        match (*inner).$m {
            Some(f) => f(inner, $($arg),*),
            None => $none,
        }
    }};
}

unsafe extern "C" fn x_delete(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    sync_dir: c_int,
) -> c_int {
    pass_vfs!(vfs, xDelete, ffi::SQLITE_IOERR_DELETE, name, sync_dir)
}
unsafe extern "C" fn x_access(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    pass_vfs!(vfs, xAccess, ffi::SQLITE_IOERR_ACCESS, name, flags, out)
}
unsafe extern "C" fn x_full_pathname(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    pass_vfs!(vfs, xFullPathname, ffi::SQLITE_CANTOPEN, name, n, out)
}
unsafe extern "C" fn x_dl_open(vfs: *mut ffi::sqlite3_vfs, name: *const c_char) -> *mut c_void {
    pass_vfs!(vfs, xDlOpen, std::ptr::null_mut(), name)
}
unsafe extern "C" fn x_dl_error(vfs: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) {
    pass_vfs!(vfs, xDlError, (), n, out)
}
unsafe extern "C" fn x_dl_sym(
    vfs: *mut ffi::sqlite3_vfs,
    handle: *mut c_void,
    symbol: *const c_char,
) -> Option<unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *mut c_void, *const c_char)> {
    pass_vfs!(vfs, xDlSym, None, handle, symbol)
}
unsafe extern "C" fn x_dl_close(vfs: *mut ffi::sqlite3_vfs, handle: *mut c_void) {
    pass_vfs!(vfs, xDlClose, (), handle)
}
unsafe extern "C" fn x_randomness(vfs: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    pass_vfs!(vfs, xRandomness, 0, n, out)
}
unsafe extern "C" fn x_sleep(vfs: *mut ffi::sqlite3_vfs, micros: c_int) -> c_int {
    pass_vfs!(vfs, xSleep, 0, micros)
}
unsafe extern "C" fn x_current_time(vfs: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    pass_vfs!(vfs, xCurrentTime, ffi::SQLITE_ERROR, out)
}
unsafe extern "C" fn x_get_last_error(
    vfs: *mut ffi::sqlite3_vfs,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    pass_vfs!(vfs, xGetLastError, 0, n, out)
}
unsafe extern "C" fn x_current_time_int64(
    vfs: *mut ffi::sqlite3_vfs,
    out: *mut ffi::sqlite3_int64,
) -> c_int {
    pass_vfs!(vfs, xCurrentTimeInt64, ffi::SQLITE_ERROR, out)
}

/// Calls the wrapped file's method `$m`, or returns `$none` if it has none.
macro_rules! pass_file {
    ($file:expr, $m:ident, $none:expr $(, $arg:expr)*) => {{
        let real = real($file);
        match (*(*real).pMethods).$m {
            Some(f) => f(real $(, $arg)*),
            None => $none,
        }
    }};
}

unsafe extern "C" fn x_close(file: *mut ffi::sqlite3_file) -> c_int {
    let rc = pass_file!(file, xClose, ffi::SQLITE_OK);
    (*file).pMethods = std::ptr::null();
    rc
}
unsafe extern "C" fn x_read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    n: c_int,
    at: ffi::sqlite3_int64,
) -> c_int {
    let rc = pass_file!(file, xRead, ffi::SQLITE_IOERR_READ, buf, n, at);
    if rc == ffi::SQLITE_OK {
        note_size(file, buf, n, at);
    }
    // A read past the end is no failure.
    if rc == ffi::SQLITE_IOERR_SHORT_READ {
        return rc;
    }
    noted(file, rc)
}

/// Passes `rc` on; when it is an I/O error, notes first what the medium
/// said, for the error's detail (SQLite's own is "disk I/O error": a lock
/// that could not be taken, a file's lock taken over by another process).
unsafe fn noted(file: *mut ffi::sqlite3_file, rc: c_int) -> c_int {
    let vfs = (*file.cast::<ShimFile>()).vfs;
    if rc & 0xff == ffi::SQLITE_IOERR {
        crate::error::note_medium(last_error(vfs, rc));
    } else if rc & 0xff == ffi::SQLITE_BUSY {
        // Who holds the file, when the medium says (the host-file VFS);
        // the OS VFS's last errno would be unrelated.
        if let Some(holder) = last_message(vfs) {
            crate::error::note_medium(holder);
        }
    }
    rc
}

/// Keeps [`ShimFile::too_big`] up to date from page 1's header, when `buf`
/// (`n` bytes at `at`) holds it.
unsafe fn note_size(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    n: c_int,
    at: ffi::sqlite3_int64,
) {
    let shim = file.cast::<ShimFile>();
    if !(*shim).main_db || at != 0 || n <= 0 {
        return;
    }
    let header = std::slice::from_raw_parts(buf.cast::<u8>(), n as usize);
    if let Some(big) = scrub::too_big(header) {
        (*shim).too_big = big;
    }
}

thread_local! {
    /// The copy of a page being scrubbed on its way to the file.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether a write of `n` bytes at `at` is one whole page that may be
/// scrubbed: SQLite writes a main database one page at a time (and the
/// page's number is below the limit, for a file whose header was not read).
fn whole_page(n: c_int, at: ffi::sqlite3_int64) -> bool {
    let Ok(n) = u64::try_from(n) else {
        return false;
    };
    let Ok(at) = u64::try_from(at) else {
        return false;
    };
    (512..=65_536).contains(&n) && n.is_power_of_two() && at % n == 0 && at / n < scrub::MAX_PAGES
}

unsafe extern "C" fn x_write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    n: c_int,
    at: ffi::sqlite3_int64,
) -> c_int {
    note_size(file, buf, n, at);
    let shim = file.cast::<ShimFile>();
    if !(*shim).main_db || (*shim).too_big || !whole_page(n, at) {
        let rc = pass_file!(file, xWrite, ffi::SQLITE_IOERR_WRITE, buf, n, at);
        return noted(file, rc);
    }
    let rc = SCRATCH.with(|s| {
        let mut page = s.borrow_mut();
        page.clear();
        page.extend_from_slice(std::slice::from_raw_parts(buf.cast::<u8>(), n as usize));
        scrub::page(&mut page, at == 0);
        pass_file!(
            file,
            xWrite,
            ffi::SQLITE_IOERR_WRITE,
            page.as_ptr().cast(),
            n,
            at
        )
    });
    noted(file, rc)
}
unsafe extern "C" fn x_truncate(file: *mut ffi::sqlite3_file, size: ffi::sqlite3_int64) -> c_int {
    let rc = pass_file!(file, xTruncate, ffi::SQLITE_IOERR_TRUNCATE, size);
    noted(file, rc)
}
unsafe extern "C" fn x_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    let rc = pass_file!(file, xSync, ffi::SQLITE_IOERR_FSYNC, flags);
    noted(file, rc)
}
unsafe extern "C" fn x_file_size(
    file: *mut ffi::sqlite3_file,
    out: *mut ffi::sqlite3_int64,
) -> c_int {
    pass_file!(file, xFileSize, ffi::SQLITE_IOERR_FSTAT, out)
}
unsafe extern "C" fn x_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    // A lock that failed: what the medium said (who holds the file, when
    // busy). One taken: nothing to say any more.
    let rc = pass_file!(file, xLock, ffi::SQLITE_IOERR_LOCK, level);
    if rc == ffi::SQLITE_OK {
        crate::error::forget_medium();
    }
    noted(file, rc)
}
unsafe extern "C" fn x_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    pass_file!(file, xUnlock, ffi::SQLITE_IOERR_UNLOCK, level)
}
unsafe extern "C" fn x_check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    pass_file!(
        file,
        xCheckReservedLock,
        ffi::SQLITE_IOERR_CHECKRESERVEDLOCK,
        out
    )
}
unsafe extern "C" fn x_file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    pass_file!(file, xFileControl, ffi::SQLITE_NOTFOUND, op, arg)
}
unsafe extern "C" fn x_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    pass_file!(file, xSectorSize, 4096)
}
unsafe extern "C" fn x_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    pass_file!(file, xDeviceCharacteristics, 0)
}
unsafe extern "C" fn x_shm_map(
    file: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    pass_file!(
        file,
        xShmMap,
        ffi::SQLITE_IOERR_SHMMAP,
        region,
        size,
        extend,
        out
    )
}
unsafe extern "C" fn x_shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    pass_file!(file, xShmLock, ffi::SQLITE_IOERR_SHMLOCK, offset, n, flags)
}
unsafe extern "C" fn x_shm_barrier(file: *mut ffi::sqlite3_file) {
    pass_file!(file, xShmBarrier, ())
}
unsafe extern "C" fn x_shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    pass_file!(file, xShmUnmap, ffi::SQLITE_OK, delete)
}
unsafe extern "C" fn x_fetch(
    file: *mut ffi::sqlite3_file,
    at: ffi::sqlite3_int64,
    n: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // No memory-mapped reads through the shim: SQLite falls back to xRead.
    let _ = (file, at, n);
    *out = std::ptr::null_mut();
    ffi::SQLITE_OK
}
unsafe extern "C" fn x_unfetch(
    file: *mut ffi::sqlite3_file,
    at: ffi::sqlite3_int64,
    p: *mut c_void,
) -> c_int {
    let _ = (file, at, p);
    ffi::SQLITE_OK
}

/// The file methods for a wrapped file of version `v`.
const fn io(v: c_int) -> ffi::sqlite3_io_methods {
    ffi::sqlite3_io_methods {
        iVersion: v,
        xClose: Some(x_close),
        xRead: Some(x_read),
        xWrite: Some(x_write),
        xTruncate: Some(x_truncate),
        xSync: Some(x_sync),
        xFileSize: Some(x_file_size),
        xLock: Some(x_lock),
        xUnlock: Some(x_unlock),
        xCheckReservedLock: Some(x_check_reserved_lock),
        xFileControl: Some(x_file_control),
        xSectorSize: Some(x_sector_size),
        xDeviceCharacteristics: Some(x_device_characteristics),
        xShmMap: if v >= 2 { Some(x_shm_map) } else { None },
        xShmLock: if v >= 2 { Some(x_shm_lock) } else { None },
        xShmBarrier: if v >= 2 { Some(x_shm_barrier) } else { None },
        xShmUnmap: if v >= 2 { Some(x_shm_unmap) } else { None },
        xFetch: if v >= 3 { Some(x_fetch) } else { None },
        xUnfetch: if v >= 3 { Some(x_unfetch) } else { None },
    }
}

static IO_V1: ffi::sqlite3_io_methods = io(1);
static IO_V2: ffi::sqlite3_io_methods = io(2);
static IO_V3: ffi::sqlite3_io_methods = io(3);
