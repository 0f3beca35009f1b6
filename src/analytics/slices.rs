//! Time slices of a window, for the metrics that walk their rows in time
//! order: a window too large to hold is read slice after slice, each slice
//! sorted and handed on before the next is read, so that memory holds one
//! slice's rows, not the window's.

/// About how many rows a slice holds at most: 4,194,304, the order of the
/// in-memory projection's cap (`projection::MAX_ROWS`), so that no query
/// holds more rows than an engine under the cap keeps anyway. 168 MB of
/// rows, and 16 bytes a row more while the slice's order is worked out
/// (`scan::time_order`; the rows are then handed on in that order a chunk
/// at a time, not copied). Measured at 10M events stored out of time
/// order (wasm in Node): slices of 1M rows left the process at 434-441 MB
/// but made top pages 2.7 times as slow as holding the window; 4M rows,
/// 534-536 MB and 1.5 times.
pub const SLICE_ROWS: usize = 1 << 22;

/// How many slices' rows a slice may hold before it is dropped and read
/// again narrower: a slice is cut from the blocks' times before its rows
/// are read, so it can hold more than its goal when the blocks misjudge
/// it (events late in a long block, ids in no block) or a filter keeps
/// more of it than of the slices before.
pub const MOST_HELD: usize = 2;

/// How wide the next slice of a window is asked to be, in events as the
/// blocks' times estimate them: one slice's rows, widened by the share of
/// their events the slices read so far kept (a filter or a names
/// pushdown keeps few), and halved after each slice that read more than
/// [`MOST_HELD`] slices' rows, which is dropped and read again; after
/// that, no slice is widened.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    kept: f64,
    estimated: f64,
    widen: bool,
    narrow: f64,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            kept: 0.0,
            estimated: 0.0,
            widen: true,
            narrow: 1.0,
        }
    }
}

impl Pace {
    /// Counts a slice read (or a sample): `kept` rows of the `estimated`
    /// events its times were thought to hold.
    pub fn read(&mut self, kept: f64, estimated: f64) {
        self.kept += kept;
        self.estimated += estimated;
        self.narrow = 1.0;
    }

    /// The goal of the next slice for slices of about `slice` rows, the
    /// share kept so far counted within `bounds` (least, most).
    pub fn goal(&self, slice: f64, bounds: (f64, f64)) -> f64 {
        let share = if self.widen && self.estimated > 0.0 {
            (self.kept / self.estimated).clamp(bounds.0, bounds.1)
        } else {
            1.0
        };
        slice / share / self.narrow
    }

    /// The most rows the slice `window` may hold, for slices of about
    /// `slice` rows: `None` for a single millisecond, which is never split.
    pub fn most(slice: usize, window: (i64, i64)) -> Option<usize> {
        (window.1 > window.0.saturating_add(1)).then(|| slice.saturating_mul(MOST_HELD))
    }

    /// The slice held more than [`Pace::most`]: the next try is half as
    /// wide, and no slice is widened from now on.
    pub fn overflowed(&mut self) {
        self.widen = false;
        self.narrow *= 2.0;
    }
}

/// Events known to lie between two times, counted as if spread evenly
/// over them: a packed block's `min_ts`, `max_ts` and `events`.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    /// The earliest time, ms.
    pub min: i64,
    /// The latest time, ms.
    pub max: i64,
    /// How many events.
    pub events: i64,
}

impl Spread {
    /// Roughly how many of the events fall before `t`.
    fn before(&self, t: i64) -> f64 {
        if t <= self.min {
            return 0.0;
        }
        // In floats: times far apart must not overflow.
        let span = (self.max as f64 - self.min as f64 + 1.0).max(1.0);
        let inside = (t.min(self.max.saturating_add(1)) as f64 - self.min as f64).max(0.0);
        self.events.max(0) as f64 * (inside / span).min(1.0)
    }
}

/// Roughly how many of the events of `spread` fall in `[from, until)`.
pub fn estimate(window: (i64, i64), spread: &[Spread]) -> f64 {
    let (from, until) = window;
    spread
        .iter()
        .map(|s| s.before(until) - s.before(from))
        .sum::<f64>()
        .max(0.0)
}

/// Where the first slice of `[from, until)` ends: the first time with
/// about `most` of the events of `spread` before it from `from` (at least
/// one millisecond on), or `until` when the rest fits. Cuts fall on whole
/// milliseconds, so rows of equal time are never split; a slice holds more
/// than `most` when its events crowd into one millisecond or the spread
/// misjudges them (events late in a long block, say).
pub fn next_cut(window: (i64, i64), spread: &[Spread], most: f64) -> i64 {
    let (from, until) = window;
    if from >= until {
        return until;
    }
    let before_from: f64 = spread.iter().map(|s| s.before(from)).sum();
    let in_window =
        |t: i64| -> f64 { spread.iter().map(|s| s.before(t)).sum::<f64>() - before_from };
    let most = most.max(1.0);
    if in_window(until) <= most {
        return until;
    }
    // The first time with `most` events before it (the count grows with
    // time): a binary search, in 128 bits so that no range overflows.
    let (mut lo, mut hi) = (from, until);
    while (hi as i128 - lo as i128) > 1 {
        let mid = (lo as i128 + (hi as i128 - lo as i128) / 2) as i64;
        if in_window(mid) >= most {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// The slices [`next_cut`] gives for `[from, until)` with the same `most`
/// each time, in order.
#[cfg(test)]
fn cuts(window: (i64, i64), spread: &[Spread], most: f64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut at = window.0;
    loop {
        let to = next_cut((at, window.1), spread, most);
        out.push((at, to));
        if to >= window.1 {
            return out;
        }
        at = to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(min: i64, max: i64, events: i64) -> Spread {
        Spread { min, max, events }
    }

    #[test]
    fn slices_cover_the_window_in_order_without_gaps() {
        // Blocks in time order, then one block of late events over all.
        let mut s: Vec<Spread> = (0..100)
            .map(|i| spread(i * 1000, i * 1000 + 999, 4096))
            .collect();
        s.push(spread(0, 99_999, 4096));
        let out = cuts((500, 90_500), &s, 50_000.0);
        assert!(out.len() > 1);
        assert_eq!(out.first().unwrap().0, 500);
        assert_eq!(out.last().unwrap().1, 90_500);
        for w in out.windows(2) {
            assert_eq!(w[0].1, w[1].0);
            assert!(w[0].0 < w[0].1);
        }
        // Each slice's estimate is within a millisecond's events of the
        // goal, and all but the last reach it.
        for (i, w) in out.iter().enumerate() {
            let n = estimate(*w, &s);
            assert!(n <= 50_000.0 + 100.0, "{w:?}: {n}");
            assert!(i + 1 == out.len() || n >= 49_900.0, "{w:?}: {n}");
        }
        let all: f64 = out.iter().map(|w| estimate(*w, &s)).sum();
        assert!((all - estimate((500, 90_500), &s)).abs() < 1e-6);
    }

    #[test]
    fn a_window_that_fits_or_is_empty_is_one_slice() {
        let s = [spread(0, 1000, 100)];
        assert_eq!(cuts((0, 2000), &s, 1000.0), vec![(0, 2000)]);
        assert_eq!(cuts((5, 5), &s, 1.0), vec![(5, 5)]);
        assert_eq!(cuts((0, 2000), &[], 1.0), vec![(0, 2000)]);
    }

    #[test]
    fn events_in_one_millisecond_are_never_split() {
        let s = [spread(7, 7, 1_000_000)];
        assert_eq!(cuts((0, 100), &s, 10.0), vec![(0, 8), (8, 100)]);
        // Damaged counts and extreme times do not panic.
        let s = [spread(i64::MIN, i64::MAX, 1_000_000), spread(10, 0, -5)];
        let out = cuts((i64::MIN, i64::MAX), &s, 1000.0);
        assert_eq!(out.first().unwrap().0, i64::MIN);
        assert_eq!(out.last().unwrap().1, i64::MAX);
    }
}
