//! A counting allocator for the suite: each thread's live heap bytes and
//! their peak, so that a test can say how much memory a call needed at
//! most (tests run side by side on other threads; each counts its own).
//! In wasm the engine's own allocator counts (one thread): a test crate
//! cannot replace the global allocator a library declares.

#[cfg(not(target_family = "wasm"))]
pub use native::peak;

#[cfg(target_family = "wasm")]
pub use usertrail::wasm::heap_peak as peak;

#[cfg(not(target_family = "wasm"))]
mod native {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    /// The system allocator, counting each thread's bytes.
    struct Counting;

    thread_local! {
        static LIVE: Cell<isize> = const { Cell::new(0) };
        static PEAK: Cell<isize> = const { Cell::new(0) };
    }

    fn count(delta: isize) {
        // `try_with`: a thread being torn down has no counters left.
        let _ = LIVE.try_with(|live| {
            let now = live.get() + delta;
            live.set(now);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
        });
    }

    // SAFETY: every call goes to `System` unchanged; only counters change.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                count(layout.size() as isize);
            }
            p
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                count(layout.size() as isize);
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) };
            count(-(layout.size() as isize));
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                count(new_size as isize - layout.size() as isize);
            }
            p
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;

    /// Runs `f` and returns what it gave with the most heap bytes this thread
    /// held during it beyond what it held before (a realloc counts once, at
    /// its new size: the copy's moment of both is not seen).
    pub fn peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
        let start = LIVE.with(Cell::get);
        PEAK.with(|p| p.set(start));
        let out = f();
        let peak = PEAK.with(Cell::get);
        (out, usize::try_from(peak - start).unwrap_or(0))
    }
}
