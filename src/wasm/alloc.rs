//! The wasm build's allocator: Rust's own (dlmalloc), over a memory that
//! grows in steps of an eighth of its size, from 1 to 4 MiB, instead of the
//! few pages each request needs.
//!
//! Why: a JS host pays for every `memory.grow`. V8 replaces the memory's
//! `ArrayBuffer` and counts the new bytes as external memory, which starts
//! garbage collections of the JS heap. dlmalloc asks for 64 KiB at a time,
//! so building many small values (a preference of a million small objects,
//! 100 MB once read) grew the memory thousands of times, and the time went
//! into collecting the caller's heap at each step: the first such call took
//! 4.4 s, the same call once the memory had grown 0.65 s. Pages grown and
//! not yet used are never touched, so the larger steps cost no resident
//! memory; a host that counts the memory's size against a limit (a Worker's
//! 128 MB) sees at most 4 MiB more.

use std::alloc::{GlobalAlloc, Layout};
use std::arch::wasm32;
use std::cell::{Cell, UnsafeCell};
use std::ptr;

use dlmalloc::{Allocator, Dlmalloc};

/// A wasm page.
const PAGE: usize = 64 * 1024;

/// The fewest pages one growth adds: 1 MiB.
const LEAST_PAGES: usize = 16;

/// The most pages one growth adds beyond what was asked: 4 MiB.
const MOST_PAGES: usize = 64;

/// Memory for dlmalloc, grown in steps of an eighth of what the memory
/// holds, from [`LEAST_PAGES`] to [`MOST_PAGES`].
struct Steps;

// SAFETY: the memory returned is fresh pages past the memory's end, owned
// by dlmalloc alone; nothing is ever released, moved or remapped.
unsafe impl Allocator for Steps {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        let needed = size.div_ceil(PAGE);
        let step = (wasm32::memory_size(0) / 8).clamp(LEAST_PAGES, MOST_PAGES);
        let mut pages = needed.max(step);
        let mut prev = wasm32::memory_grow(0, pages);
        if prev == usize::MAX && pages > needed {
            // Near the memory's limit: only what was asked for.
            pages = needed;
            prev = wasm32::memory_grow(0, pages);
        }
        if prev == usize::MAX {
            return (ptr::null_mut(), 0, 0);
        }
        let base = prev * PAGE;
        let len = pages * PAGE;
        // The last pages of the address space: a Rust pointer may not wrap
        // to 0, so the last bytes are left out (as dlmalloc's own does).
        if base.wrapping_add(len) == 0 {
            return (base as *mut u8, len - 16, 0);
        }
        (base as *mut u8, len, 0)
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        ptr::null_mut()
    }

    fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }

    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }

    fn allocates_zeros(&self) -> bool {
        true
    }

    fn page_size(&self) -> usize {
        PAGE
    }
}

/// dlmalloc over [`Steps`], as the global allocator, with the heap bytes
/// held and their peak counted (one thread: two additions a call) for the
/// tests that bound a call's memory ([`heap_peak`]).
struct Global {
    dl: UnsafeCell<Dlmalloc<Steps>>,
    live: Cell<isize>,
    peak: Cell<isize>,
}

// SAFETY: this target runs one thread (no `atomics` feature), so the
// allocator is never entered twice at once.
unsafe impl Sync for Global {}

const _: () = assert!(!cfg!(target_feature = "atomics"));

impl Global {
    fn count(&self, delta: isize) {
        let now = self.live.get() + delta;
        self.live.set(now);
        if now > self.peak.get() {
            self.peak.set(now);
        }
    }
}

// SAFETY: each method forwards to dlmalloc with the layout it was given;
// dlmalloc keeps the `GlobalAlloc` contracts. Each call stays a call
// (`inline(never)`): inlined at every allocation, dlmalloc made the module
// 330 KB larger.
unsafe impl GlobalAlloc for Global {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = (*self.dl.get()).malloc(layout.size(), layout.align());
        if !p.is_null() {
            self.count(layout.size() as isize);
        }
        p
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = (*self.dl.get()).calloc(layout.size(), layout.align());
        if !p.is_null() {
            self.count(layout.size() as isize);
        }
        p
    }

    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        (*self.dl.get()).free(ptr, layout.size(), layout.align());
        self.count(-(layout.size() as isize));
    }

    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = (*self.dl.get()).realloc(ptr, layout.size(), layout.align(), new_size);
        if !p.is_null() {
            self.count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Global = Global {
    dl: UnsafeCell::new(Dlmalloc::new_with_allocator(Steps)),
    live: Cell::new(0),
    peak: Cell::new(0),
};

/// Runs `f` and returns what it gave with the most heap bytes held during
/// it beyond what was held before (a realloc counts once, at its new size).
/// For the tests; not part of the JS API.
#[doc(hidden)]
pub fn heap_peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = ALLOCATOR.live.get();
    ALLOCATOR.peak.set(start);
    let out = f();
    let peak = ALLOCATOR.peak.get();
    (out, usize::try_from(peak - start).unwrap_or(0))
}
