//! Time slices of a window, for the metrics that walk their rows in time
//! order: a window too large to hold is read slice after slice, each slice
//! sorted and handed on before the next is read, so that memory holds one
//! slice's rows, not the window's.

/// About how many rows a slice holds at most (42 MB of rows; its sort
/// briefly needs twice that and 8 bytes a row more).
pub const SLICE_ROWS: usize = 1 << 20;

/// At most this many slices: past `MAX_SLICES * SLICE_ROWS` events (ten
/// billion) a slice holds more.
const MAX_SLICES: usize = 10_000;

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

/// Splits `[from, until)` into consecutive half-open slices, in time order,
/// each holding about `most` of the events of `spread` or fewer: one slice
/// when they all fit. Cuts fall on whole milliseconds, so rows of equal
/// time are never split; a slice can hold more than `most` only when its
/// events crowd into fewer milliseconds than it has cuts, or the spread
/// misjudges them (events late in a long block, say).
pub fn cuts(window: (i64, i64), spread: &[Spread], most: usize) -> Vec<(i64, i64)> {
    let (from, until) = window;
    if from >= until {
        return vec![window];
    }
    let before_from: f64 = spread.iter().map(|s| s.before(from)).sum();
    let in_window =
        |t: i64| -> f64 { spread.iter().map(|s| s.before(t)).sum::<f64>() - before_from };
    let total = in_window(until);
    let most = most.max(1) as f64;
    if total <= most {
        return vec![window];
    }
    let slices = (total / most).ceil().min(MAX_SLICES as f64);
    let per = total / slices;
    let mut out = Vec::new();
    let mut start = from;
    loop {
        let have = in_window(start);
        if total - have <= most || out.len() + 1 >= MAX_SLICES {
            break;
        }
        // The first time with `per` more events before it than `start`
        // (the count grows with time).
        let target = have + per;
        let (mut lo, mut hi) = (start, until);
        while (hi as i128 - lo as i128) > 1 {
            let mid = (lo as i128 + (hi as i128 - lo as i128) / 2) as i64;
            if in_window(mid) >= target {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        if hi >= until {
            break;
        }
        out.push((start, hi));
        start = hi;
    }
    out.push((start, until));
    out
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
        let out = cuts((500, 90_500), &s, 50_000);
        assert!(out.len() > 1);
        assert_eq!(out.first().unwrap().0, 500);
        assert_eq!(out.last().unwrap().1, 90_500);
        for w in out.windows(2) {
            assert_eq!(w[0].1, w[1].0);
            assert!(w[0].0 < w[0].1);
        }
        // Each slice's estimate is within one block of the goal.
        for (a, b) in &out {
            let n: f64 = s.iter().map(|x| x.before(*b) - x.before(*a)).sum();
            assert!(n <= 50_000.0 + 4096.0, "{a}..{b}: {n}");
        }
    }

    #[test]
    fn a_window_that_fits_or_is_empty_is_one_slice() {
        let s = [spread(0, 1000, 100)];
        assert_eq!(cuts((0, 2000), &s, 1000), vec![(0, 2000)]);
        assert_eq!(cuts((5, 5), &s, 1), vec![(5, 5)]);
        assert_eq!(cuts((0, 2000), &[], 1), vec![(0, 2000)]);
    }

    #[test]
    fn events_in_one_millisecond_are_never_split() {
        let s = [spread(7, 7, 1_000_000)];
        assert_eq!(cuts((0, 100), &s, 10), vec![(0, 8), (8, 100)]);
        // Damaged counts and extreme times do not panic.
        let s = [spread(i64::MIN, i64::MAX, 1_000_000), spread(10, 0, -5)];
        let out = cuts((i64::MIN, i64::MAX), &s, 1000);
        assert_eq!(out.first().unwrap().0, i64::MIN);
        assert_eq!(out.last().unwrap().1, i64::MAX);
    }
}
