//! Rows of many units (sessions, users) kept in the order a window's read
//! gives them, then handed on unit by unit, each unit's in time order: for
//! the metrics that need only each unit's own order (paths, patterns, time
//! on page), so that a window too large to hold is read once, in id order,
//! instead of a time slice at a time (each slice's packed blocks decoded
//! again and its rows put in time order; docs/PERFORMANCE.md).
//!
//! Rows must come in an order that keeps rows of equal time in the order
//! of their ids: id order (a window read from the packed blocks, a wide
//! scan) or time order (the projection, a scan through the time index).
//! Each unit's rows are then put in (time, id) order, as a read of the
//! whole window in time order gives them: a counting sort by unit (units
//! are numbered densely; stable, so each unit's rows stay in the order they
//! came), then a stable sort of each unit's rows by time.

/// One row as kept: 16 bytes with a `u32` item, where a
/// [`super::scan::Row`] is 40.
#[derive(Debug, Clone, Copy)]
pub(super) struct Kept<T = u32> {
    /// When, ms.
    pub ts: i64,
    /// The unit's number (never 0).
    pub unit: u32,
    /// What the metric keeps of the row.
    pub item: T,
}

/// Rows kept unit by unit; see the module's text.
#[derive(Debug)]
pub(super) struct UnitRows<T = u32> {
    kept: Vec<Kept<T>>,
    /// One more than the highest unit number pushed.
    units: usize,
    /// Whether every row came no earlier than the one before it: then each
    /// unit's rows are in time order as they came, and none is sorted.
    in_order: bool,
}

/// Rows or units a step of [`UnitRows::each_unit`] handles per call: in a
/// fresh wasm instance V8 optimises a function after its first calls but
/// never swaps the loop of a call already running, so one loop over
/// millions of rows would run unoptimised throughout (a first `paths` at
/// 10M events took 11 s instead of 4.5).
const STEP: usize = 4096;

impl<T: Copy> UnitRows<T> {
    /// No rows yet.
    pub fn new() -> Self {
        Self {
            kept: Vec::new(),
            units: 0,
            in_order: true,
        }
    }

    /// Keeps the next row of `unit` (not 0).
    pub fn push(&mut self, ts: i64, unit: u32, item: T) {
        if let Some(last) = self.kept.last() {
            self.in_order &= ts >= last.ts;
        }
        self.units = self.units.max(unit as usize + 1);
        self.kept.push(Kept { ts, unit, item });
    }

    /// How many rows are kept.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    /// Whether no row was kept out of time order so far.
    #[cfg(test)]
    pub fn in_order(&self) -> bool {
        self.in_order
    }

    /// Calls `each(unit, rows)` for every unit with rows, in ascending
    /// order of units, `rows` the unit's in (time, id) order.
    pub fn each_unit(self, mut each: impl FnMut(usize, UnitIter<'_, T>)) {
        let Self {
            kept,
            units,
            in_order,
        } = self;
        // Where each unit's rows go (a counting sort of their positions,
        // not of the rows: 4 bytes a row more on wasm, not 16).
        let mut next = vec![0usize; units + 1];
        for chunk in kept.chunks(STEP) {
            count_units(chunk, &mut next);
        }
        for k in 1..next.len() {
            next[k] += next[k - 1];
        }
        let mut order = vec![0usize; kept.len()];
        for (c, chunk) in kept.chunks(STEP).enumerate() {
            place_units(chunk, c * STEP, &mut next, &mut order);
        }
        // `next[k]` is now where unit `k`'s rows end.
        let mut start = 0;
        for first in (0..units).step_by(STEP) {
            let range = first..(first + STEP).min(units);
            start = hand_on_units(&kept, range, &next, &mut order, start, in_order, &mut each);
        }
    }
}

/// A unit's rows, in (time, id) order.
pub(super) struct UnitIter<'a, T = u32> {
    order: std::slice::Iter<'a, usize>,
    kept: &'a [Kept<T>],
}

impl<T: Copy> Iterator for UnitIter<'_, T> {
    type Item = Kept<T>;

    fn next(&mut self) -> Option<Kept<T>> {
        self.order.next().map(|i| self.kept[*i])
    }
}

/// Counts the rows of each unit (`next[unit + 1]`).
#[inline(never)]
fn count_units<T>(kept: &[Kept<T>], next: &mut [usize]) {
    for k in kept {
        next[k.unit as usize + 1] += 1;
    }
}

/// Puts the positions of `kept` (the first at `offset`) where their units'
/// rows go, moving each unit's `next` on.
#[inline(never)]
fn place_units<T>(kept: &[Kept<T>], offset: usize, next: &mut [usize], order: &mut [usize]) {
    for (i, k) in kept.iter().enumerate() {
        let at = &mut next[k.unit as usize];
        order[*at] = offset + i;
        *at += 1;
    }
}

/// Hands on the rows of `units` (from `start`, each unit's to where `ends`
/// says), each unit's put in time order unless every row came in order.
/// Returns where the next unit's rows start.
#[inline(never)]
fn hand_on_units<T: Copy>(
    kept: &[Kept<T>],
    units: std::ops::Range<usize>,
    ends: &[usize],
    order: &mut [usize],
    mut start: usize,
    in_order: bool,
    each: &mut impl FnMut(usize, UnitIter<'_, T>),
) -> usize {
    for k in units {
        let end = ends[k];
        if end == start {
            continue;
        }
        let span = &mut order[start..end];
        start = end;
        let ts = |i: &usize| kept[*i].ts;
        if !in_order && !span.windows(2).all(|w| ts(&w[0]) <= ts(&w[1])) {
            // Stable: rows of equal time keep the order they came in.
            span.sort_by_key(ts);
        }
        each(
            k,
            UnitIter {
                order: span.iter(),
                kept,
            },
        );
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unit_gets_its_rows_in_time_then_arrival_order() {
        let mut rand = crate::kernel::testing::xorshift(362_436_069);
        let mut rows = UnitRows::<u32>::new();
        let mut all = Vec::new();
        for i in 0..20_000u32 {
            let (ts, unit) = (i64::from(rand(500)), 1 + rand(700));
            rows.push(ts, unit, i);
            all.push((unit, ts, i));
        }
        assert!(!rows.in_order());
        // The arrival index breaks ties: a stable sort by (unit, time).
        all.sort_by_key(|(unit, ts, _)| (*unit, *ts));
        let mut got = Vec::new();
        let mut units = Vec::new();
        rows.each_unit(|unit, it| {
            units.push(unit);
            got.extend(it.map(|k| (k.unit, k.ts, k.item)));
        });
        assert_eq!(got, all);
        assert!(units.windows(2).all(|w| w[0] < w[1]));
        // Rows in time order are handed on as they came.
        let mut rows = UnitRows::<u32>::new();
        for i in 0..100u32 {
            rows.push(i64::from(i / 3), 1 + i % 4, i);
        }
        assert!(rows.in_order());
        let mut n = 0;
        rows.each_unit(|unit, it| {
            let items: Vec<u32> = it.map(|k| k.item).collect();
            assert!(items.windows(2).all(|w| w[0] < w[1]), "{unit}: {items:?}");
            n += items.len();
        });
        assert_eq!(n, 100);
    }
}
