//! A page-cache shim: SQLite's own page cache, with one page number moved.
//!
//! When a b-tree page splits, SQLite puts the new sibling pages in
//! ascending order by swapping page numbers through a temporary one, the
//! lock page (`PENDING_BYTE / page size + 1`: page 262,145 with 4 KiB
//! pages). The default page cache remembers the largest page number it
//! has held until its next truncation, and the pager truncates the cache
//! to the database's size at the end of every write transaction: so after
//! a swap, the cache of a database under 1 GiB has held a page beyond its
//! end, and that truncation walks the whole cache instead of the few slots
//! past the end. With the engine's 32 MiB cache (8,192 pages) that walk
//! was about 60 µs in wasm, paid by one session create in seven on a
//! database that also holds events (docs/PERFORMANCE.md).
//!
//! This shim passes every call on to SQLite's default page cache and
//! changes one thing: a rekey to or from the temporary page number uses
//! page number 0 instead, which the pager never uses (it refuses to fetch
//! page 0) and which does not raise the cache's largest page number. The
//! swap holds it for two calls in a row; no other call sees it.
//!
//! The shim must be configured before SQLite starts (`sqlite3_config` is
//! refused afterwards), and `sqlite3_config` is not safe while another
//! thread uses SQLite. In wasm, where the engine and SQLite are one thread,
//! [`install`] configures it before the engine first opens a database or
//! registers a VFS; if something started SQLite first, the default cache
//! stays, unchanged. Natively a library cannot know that no other thread
//! is starting SQLite, so [`install`] leaves the default cache, and a
//! program that knows it can opt in with [`install_before_sqlite_starts`].

use std::ffi::{c_int, c_uint};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use rusqlite::ffi;

/// The byte offset of the lock page (SQLite's `PENDING_BYTE` default).
const PENDING_BYTE: c_uint = 0x4000_0000;

/// The page number a swap's temporary page has in the wrapped cache.
const STAND_IN: c_uint = 0;

/// SQLite's default page cache, as found before the shim replaced it.
struct Inner(ffi::sqlite3_pcache_methods2);

// SAFETY: function pointers and SQLite's own argument, read-only once set;
// SQLite calls them from any thread, as it would without the shim.
unsafe impl Send for Inner {}
unsafe impl Sync for Inner {}

static INNER: OnceLock<Inner> = OnceLock::new();
static INSTALLED: OnceLock<bool> = OnceLock::new();
static STOOD_IN: AtomicU64 = AtomicU64::new(0);
static TEMP_PASSED: AtomicU64 = AtomicU64::new(0);

/// One cache: the wrapped cache, and its temporary page number.
struct Cache {
    inner: *mut ffi::sqlite3_pcache,
    temp: c_uint,
}

/// Configures the shim in wasm, if SQLite has not started yet; once per
/// module. Natively it does nothing (see the module's documentation).
/// True when the shim is in place.
pub fn install() -> bool {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    {
        // SAFETY: wasm32-unknown-unknown runs this module on one thread
        // (no shared memory), so no other SQLite call can run meanwhile.
        unsafe { install_before_sqlite_starts() }
    }
    #[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
    {
        installed()
    }
}

/// Configures the shim if SQLite has not started yet; once per process.
/// True when the shim is in place.
///
/// # Safety
/// No other thread may call SQLite while this runs (`sqlite3_config` is
/// not thread-safe): call it at the start of a program, before any thread
/// opens a database.
pub unsafe fn install_before_sqlite_starts() -> bool {
    *INSTALLED.get_or_init(|| {
        // SAFETY: `sqlite3_config` reads or copies the struct passed; it
        // refuses both calls once SQLite has started, and the default
        // cache is then left alone.
        unsafe {
            let mut inner: ffi::sqlite3_pcache_methods2 = std::mem::zeroed();
            let rc = ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_GETPCACHE2,
                &mut inner as *mut ffi::sqlite3_pcache_methods2,
            );
            if rc != ffi::SQLITE_OK || inner.xCreate.is_none() {
                return false;
            }
            let ours = ffi::sqlite3_pcache_methods2 {
                iVersion: inner.iVersion,
                pArg: inner.pArg,
                xInit: inner.xInit,
                xShutdown: inner.xShutdown,
                xCreate: Some(create),
                xCachesize: Some(cachesize),
                xPagecount: Some(pagecount),
                xFetch: Some(fetch),
                xUnpin: Some(unpin),
                xRekey: Some(rekey),
                xTruncate: Some(truncate),
                xDestroy: Some(destroy),
                xShrink: Some(shrink),
            };
            if INNER.set(Inner(inner)).is_err() {
                return false;
            }
            ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_PCACHE2,
                &ours as *const ffi::sqlite3_pcache_methods2,
            ) == ffi::SQLITE_OK
        }
    })
}

/// True when [`install`] put the shim in place.
pub fn installed() -> bool {
    INSTALLED.get().copied().unwrap_or(false)
}

/// How many times a swap's temporary page number was stood in for since the
/// process started (for tests).
pub fn stand_ins() -> u64 {
    STOOD_IN.load(Ordering::Relaxed)
}

/// How many rekeys handed the temporary page number itself on to the
/// default cache (for tests: none, once the shim is installed).
pub fn temp_passed() -> u64 {
    TEMP_PASSED.load(Ordering::Relaxed)
}

fn inner() -> &'static ffi::sqlite3_pcache_methods2 {
    // Only reached through methods installed after INNER was set.
    &INNER.get().expect("the page cache shim is installed").0
}

/// The wrapped cache of `p`.
///
/// # Safety
/// `p` is a handle [`create`] returned and [`destroy`] has not freed.
unsafe fn cache<'a>(p: *mut ffi::sqlite3_pcache) -> &'a Cache {
    &*p.cast::<Cache>()
}

unsafe extern "C" fn create(
    sz_page: c_int,
    sz_extra: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    let Some(create) = inner().xCreate else {
        return std::ptr::null_mut();
    };
    let wrapped = create(sz_page, sz_extra, purgeable);
    if wrapped.is_null() {
        return wrapped;
    }
    let temp = match c_uint::try_from(sz_page) {
        Ok(size) if size > 0 => PENDING_BYTE / size + 1,
        _ => STAND_IN,
    };
    Box::into_raw(Box::new(Cache {
        inner: wrapped,
        temp,
    }))
    .cast()
}

unsafe extern "C" fn cachesize(p: *mut ffi::sqlite3_pcache, n: c_int) {
    if let Some(f) = inner().xCachesize {
        f(cache(p).inner, n)
    }
}

unsafe extern "C" fn pagecount(p: *mut ffi::sqlite3_pcache) -> c_int {
    inner().xPagecount.map_or(0, |f| f(cache(p).inner))
}

unsafe extern "C" fn fetch(
    p: *mut ffi::sqlite3_pcache,
    key: c_uint,
    create: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    inner()
        .xFetch
        .map_or(std::ptr::null_mut(), |f| f(cache(p).inner, key, create))
}

unsafe extern "C" fn unpin(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    if let Some(f) = inner().xUnpin {
        f(cache(p).inner, page, discard)
    }
}

unsafe extern "C" fn rekey(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    old: c_uint,
    new: c_uint,
) {
    let c = cache(p);
    let key = |k: c_uint| if k == c.temp { STAND_IN } else { k };
    let (old_key, new_key) = (key(old), key(new));
    if new == c.temp {
        STOOD_IN.fetch_add(1, Ordering::Relaxed);
    }
    if new_key == c.temp || old_key == c.temp {
        TEMP_PASSED.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(f) = inner().xRekey {
        f(c.inner, page, old_key, new_key)
    }
}

unsafe extern "C" fn truncate(p: *mut ffi::sqlite3_pcache, limit: c_uint) {
    if let Some(f) = inner().xTruncate {
        f(cache(p).inner, limit)
    }
}

unsafe extern "C" fn destroy(p: *mut ffi::sqlite3_pcache) {
    let c = Box::from_raw(p.cast::<Cache>());
    if let Some(f) = inner().xDestroy {
        f(c.inner)
    }
}

unsafe extern "C" fn shrink(p: *mut ffi::sqlite3_pcache) {
    if let Some(f) = inner().xShrink {
        f(cache(p).inner)
    }
}
