//! [`SeqMap`]: a value per distinct sequence of interned items, the
//! sequences kept one after another in one array. `paths` counts a
//! million journeys at ten million events (the scale bench's); a map keyed
//! by a vector per distinct journey spent much of its time allocating,
//! copying and rehashing those vectors.

/// A value per distinct sequence of `u32` items, in order of first
/// insertion: the items of every sequence in one array, a span and a value
/// per sequence, and an open-addressing table of entry numbers (linear
/// probing, at most half full) found by each sequence's hash. Each slot
/// keeps 32 bits of its entry's hash too, so a probe that passes another
/// sequence's slot reads nothing else (the table is the only array a new
/// sequence's probe reads).
#[derive(Debug, Clone)]
pub(crate) struct SeqMap<T> {
    /// Every sequence's items, one after another.
    items: Vec<u32>,
    /// Each entry's items: start in `items` and length.
    spans: Vec<(usize, usize)>,
    /// Each entry's value.
    values: Vec<T>,
    /// Per slot, entry number + 1 (0 for an empty slot) and the high 32
    /// bits of the entry's hash; a power of two long.
    table: Vec<(usize, u32)>,
}

impl<T> Default for SeqMap<T> {
    fn default() -> Self {
        SeqMap {
            items: Vec::new(),
            spans: Vec::new(),
            values: Vec::new(),
            table: Vec::new(),
        }
    }
}

/// The hash of a sequence: its length and items through the FxHash mix
/// (the map's keys are numbers of our own interning).
fn hash(seq: &[u32]) -> u64 {
    let mix = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
    let h = seq
        .iter()
        .fold(mix(0, seq.len() as u64), |h, x| mix(h, u64::from(*x)));
    // The high bits into the low ones: the table's slot is the low bits.
    h ^ (h >> 32)
}

impl<T: Default> SeqMap<T> {
    /// The value of `seq`, inserted as `T::default()` when absent (its items
    /// copied once).
    pub fn entry(&mut self, seq: &[u32]) -> &mut T {
        if (self.spans.len() + 1) * 2 > self.table.len() {
            self.grow();
        }
        let h = hash(seq);
        let print = (h >> 32) as u32;
        let mask = self.table.len() - 1;
        let mut slot = (h as usize) & mask;
        loop {
            match self.table[slot] {
                (0, _) => break,
                (n, p) => {
                    if p == print && self.seq(n - 1) == seq {
                        return &mut self.values[n - 1];
                    }
                }
            }
            slot = (slot + 1) & mask;
        }
        let i = self.spans.len();
        self.table[slot] = (i + 1, print);
        self.spans.push((self.items.len(), seq.len()));
        self.items.extend_from_slice(seq);
        self.values.push(T::default());
        &mut self.values[i]
    }

    /// Doubles the table (16 slots at first) and places every entry again
    /// (each sequence's hash taken again from its items: a growth reads
    /// them in order, once).
    fn grow(&mut self) {
        let len = (self.table.len() * 2).max(16);
        let mut table = vec![(0usize, 0u32); len];
        let mask = len - 1;
        for i in 0..self.spans.len() {
            let h = hash(self.seq(i));
            let mut slot = (h as usize) & mask;
            while table[slot].0 != 0 {
                slot = (slot + 1) & mask;
            }
            table[slot] = (i + 1, (h >> 32) as u32);
        }
        self.table = table;
    }
}

impl<T> SeqMap<T> {
    /// How many distinct sequences.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Entry `i`'s items (`i` below [`SeqMap::len`]).
    pub fn seq(&self, i: usize) -> &[u32] {
        let (from, len) = self.spans[i];
        &self.items[from..from + len]
    }

    /// Entry `i`'s value.
    pub fn value(&self, i: usize) -> &T {
        &self.values[i]
    }

    /// Every sequence and its value, in order of first insertion.
    pub fn iter(&self) -> impl Iterator<Item = (&[u32], &T)> {
        (0..self.len()).map(|i| (self.seq(i), &self.values[i]))
    }

    /// Every sequence and its value, the values moved out, in order of
    /// first insertion.
    pub fn into_iter_values(self) -> impl Iterator<Item = (Vec<u32>, T)> {
        let SeqMap {
            items,
            spans,
            values,
            ..
        } = self;
        spans
            .into_iter()
            .zip(values)
            .map(move |((from, len), v)| (items[from..from + len].to_vec(), v))
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::kernel::fastmap::FastMap;

    /// Sequences of every length from 0, repeated, prefixes of each other
    /// and colliding in their low bits, through many growths: the counts a
    /// map keyed by vectors gives, in order of first insertion.
    #[test]
    fn counts_what_a_map_of_vectors_counts() {
        let mut map: SeqMap<u64> = SeqMap::default();
        let mut want: FastMap<Vec<u32>, u64> = FastMap::default();
        let mut first: Vec<Vec<u32>> = Vec::new();
        let mut x = 7u64;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (x >> 60) as usize % 6;
            let seq: Vec<u32> = (0..len)
                .map(|j| ((x >> (8 * j)) % 5) as u32 * 65_536)
                .collect();
            *map.entry(&seq) += 1;
            let e = want.entry(seq.clone()).or_default();
            if *e == 0 {
                first.push(seq);
            }
            *e += 1;
        }
        assert_eq!(map.len(), want.len());
        assert!(map.len() > 1000, "{} distinct", map.len());
        for (i, (seq, n)) in map.iter().enumerate() {
            assert_eq!(seq, &first[i][..]);
            assert_eq!(Some(n), want.get(seq));
        }
        let moved: Vec<(Vec<u32>, u64)> = map.clone().into_iter_values().collect();
        assert_eq!(moved.len(), first.len());
        assert!(moved.iter().all(|(s, n)| want.get(s) == Some(n)));
        // The empty sequence is one entry like any other.
        assert_eq!(map.iter().filter(|(s, _)| s.is_empty()).count(), 1);
    }

    #[test]
    fn an_empty_map_has_no_entries() {
        let map: SeqMap<u64> = SeqMap::default();
        assert_eq!(map.len(), 0);
        assert_eq!(map.iter().count(), 0);
    }
}
