//! Weighted counts that add up the same however they are split.
//!
//! A sampled event counts `1 / rate`. Adding such weights one by one gives
//! a float whose last bits depend on the order, so the sum of two
//! partitions' sums can differ from one engine's sum, and a ranking or a
//! threshold that compares them can flip. A [`Tally`] keeps a whole count
//! per distinct weight instead: whole counts add exactly in any order, and
//! [`Tally::value`] multiplies and adds them in one fixed order (smallest
//! weight first), so equal data gives equal values, merged or not.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How many times each weight was counted, by weight (ascending).
/// Serialized as a list of `[weight, count]` pairs.
#[derive(Debug, Clone)]
pub struct Tally(Counts);

/// A tally's pairs. Most tallies hold one weight (all of unsampled data's),
/// kept inline: a metric that counts a million keys allocates nothing per
/// key. A list never holds exactly one pair ([`Tally::from_pairs`]).
#[derive(Debug, Clone)]
enum Counts {
    /// One weight, counted at least once.
    One((f64, u64)),
    /// No pair (nothing counted), or two and more.
    Many(Vec<(f64, u64)>),
}

impl Default for Tally {
    fn default() -> Self {
        Tally(Counts::Many(Vec::new()))
    }
}

impl PartialEq for Tally {
    fn eq(&self, other: &Self) -> bool {
        self.pairs() == other.pairs()
    }
}

impl Serialize for Tally {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.pairs())
    }
}

impl<'de> Deserialize<'de> for Tally {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Vec::<(f64, u64)>::deserialize(d).map(Tally::from_pairs)
    }
}

impl Tally {
    /// A tally of these pairs, as they are (one is kept inline).
    fn from_pairs(pairs: Vec<(f64, u64)>) -> Self {
        match pairs[..] {
            [one] => Tally(Counts::One(one)),
            _ => Tally(Counts::Many(pairs)),
        }
    }

    /// The pairs, by weight (ascending).
    fn pairs(&self) -> &[(f64, u64)] {
        match &self.0 {
            Counts::One(p) => std::slice::from_ref(p),
            Counts::Many(v) => v,
        }
    }

    /// Counts `weight` once more.
    #[inline]
    pub fn add(&mut self, weight: f64) {
        self.add_n(weight, 1);
    }

    /// Counts `weight` `n` more times.
    #[inline]
    pub fn add_n(&mut self, weight: f64, n: u64) {
        // The common case inline (a metric adds a row at a time).
        if let Counts::One(p) = &mut self.0 {
            if p.0 == weight {
                p.1 = p.1.saturating_add(n);
                return;
            }
        }
        self.add_other(weight, n);
    }

    /// [`Tally::add_n`] past its common case: a first weight, or another.
    #[inline(never)]
    fn add_other(&mut self, weight: f64, n: u64) {
        match &mut self.0 {
            Counts::Many(v) if v.is_empty() => self.0 = Counts::One((weight, n)),
            Counts::One(p) if p.0 == weight => p.1 = p.1.saturating_add(n),
            Counts::One(p) => {
                let mut v = vec![*p];
                count_in(&mut v, weight, n);
                self.0 = Counts::Many(v);
            }
            Counts::Many(v) => count_in(v, weight, n),
        }
    }

    /// Adds another tally's counts, in one pass over both (each in
    /// ascending order of weight, as [`Tally::add`] keeps them and
    /// [`Tally::is_valid`] checks), counts saturating: a tally from
    /// elsewhere costs its length, and a count past `u64::MAX` stays there
    /// (a value [`Tally::is_valid`] then refuses as infinite or not).
    pub fn merge(&mut self, other: &Tally) {
        if other.pairs().is_empty() {
            return;
        }
        // The common cases without a new array: nothing here yet (a copy),
        // or one weight in both, the same (unsampled data: one addition).
        if self.pairs().is_empty() {
            self.clone_from(other);
            return;
        }
        if let (Counts::One(x), [y]) = (&mut self.0, other.pairs()) {
            if x.0 == y.0 {
                x.1 = x.1.saturating_add(y.1);
                return;
            }
        }
        let (a, b) = (self.pairs(), other.pairs());
        let mut out = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        loop {
            match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    out.push((x.0, x.1.saturating_add(y.1)));
                    (i, j) = (i + 1, j + 1);
                }
                (Some(x), Some(y)) if x.0 < y.0 => {
                    out.push(*x);
                    i += 1;
                }
                (Some(x), None) => {
                    out.push(*x);
                    i += 1;
                }
                (_, Some(y)) => {
                    out.push(*y);
                    j += 1;
                }
                (None, None) => break,
            }
        }
        *self = Tally::from_pairs(out);
    }

    /// How many things were counted, whatever their weights (saturating).
    pub fn count(&self) -> u64 {
        self.pairs()
            .iter()
            .fold(0u64, |a, (_, n)| a.saturating_add(*n))
    }

    /// The weighted sum: each weight times its count, smallest weight
    /// first; +0.0 when empty.
    pub fn value(&self) -> f64 {
        self.pairs().iter().fold(0.0, |a, (w, n)| a + w * *n as f64)
    }

    /// The weights added one by one, smallest first, from +0.0: the sum
    /// [`crate::kernel::stats::Total`] gives for the same weights (whole
    /// numbers add exactly in any order; others it adds smallest first),
    /// with memory for the distinct weights only.
    pub fn sum_one_by_one(&self) -> f64 {
        let mut sum = 0.0;
        for (w, n) in self.pairs() {
            for _ in 0..*n {
                sum += w;
            }
        }
        sum
    }

    /// True when it counts something, every weight is a finite number of
    /// at least 1 (a weight is `1 / rate`, with the rate in (0, 1])
    /// counted at least once, the weights in ascending order, as
    /// [`Tally::add`] keeps them, the value finite and the counts' sum
    /// below `u64::MAX` (where [`Tally::merge`] stops): what a tally from
    /// elsewhere, or the sum of several, must be. An empty tally (nothing
    /// counted) is not: see [`Tally::is_valid_or_empty`].
    pub fn is_valid(&self) -> bool {
        !self.pairs().is_empty()
            && self
                .pairs()
                .iter()
                .all(|(w, n)| w.is_finite() && *w >= 1.0 && *n > 0)
            && self.pairs().windows(2).all(|p| p[0].0 < p[1].0)
            && self.value().is_finite()
            && self.count() < u64::MAX
    }

    /// [`Tally::is_valid`], or empty (nothing counted).
    pub fn is_valid_or_empty(&self) -> bool {
        self.pairs().is_empty() || self.is_valid()
    }

    /// True when, for every weight, this tally counts it at most as often as
    /// `other` does. One pass over both, in ascending order of weight.
    pub fn within(&self, other: &Tally) -> bool {
        let mut theirs = other.pairs().iter().peekable();
        self.pairs().iter().all(|(w, n)| {
            while theirs.next_if(|(v, _)| v < w).is_some() {}
            theirs
                .next_if(|(v, _)| v.to_bits() == w.to_bits())
                .is_some_and(|(_, m)| m >= n)
        })
    }

    /// True when some weight is not 1 (some counted event was sampled).
    pub fn is_weighted(&self) -> bool {
        self.pairs().iter().any(|(w, _)| *w != 1.0)
    }
}

/// Counts `weight` `n` more times in a list of pairs by weight
/// (ascending). Almost always one weight (unsampled data): a linear search.
fn count_in(v: &mut Vec<(f64, u64)>, weight: f64, n: u64) {
    match v.iter().position(|(w, _)| *w >= weight) {
        Some(i) if v[i].0 == weight => v[i].1 = v[i].1.saturating_add(n),
        Some(i) => v.insert(i, (weight, n)),
        None => v.push((weight, n)),
    }
}

impl FromIterator<f64> for Tally {
    /// Counts each weight; a run of equal weights (all of them, for
    /// unsampled data) is counted once.
    fn from_iter<I: IntoIterator<Item = f64>>(weights: I) -> Self {
        let mut tally = Tally::default();
        let mut run: Option<(f64, u64)> = None;
        for w in weights {
            run = match run {
                Some((last, n)) if last.to_bits() == w.to_bits() => Some((last, n + 1)),
                Some((last, n)) => {
                    tally.add_n(last, n);
                    Some((w, 1))
                }
                None => Some((w, 1)),
            };
        }
        if let Some((last, n)) = run {
            tally.add_n(last, n);
        }
        tally
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// `sum_one_by_one` is `Total`'s sum to the last bit, for weights in
    /// any order: fractional ones (where it differs from `value`), whole
    /// ones, and none.
    #[test]
    fn one_by_one_is_the_total_of_the_weights() {
        use crate::kernel::stats::Total;
        let fractional = [1.0 / 0.3, 1.0, 1.0 / 0.7, 2.0, 1.0 / 0.3, 1.0 / 0.9];
        let whole = [1.0, 4.0, 2.0, 1.0];
        for weights in [&fractional[..], &whole[..], &[]] {
            let values: Vec<f64> = weights
                .iter()
                .cycle()
                .take(weights.len() * 97)
                .copied()
                .collect();
            let tally: Tally = values.iter().rev().copied().collect();
            assert_eq!(
                tally.sum_one_by_one().to_bits(),
                values.iter().total().to_bits()
            );
        }
        let mut tally = Tally::default();
        for w in fractional.iter().cycle().take(6 * 1000) {
            tally.add(*w);
        }
        let total = fractional.iter().cycle().take(6 * 1000).total();
        assert_eq!(tally.sum_one_by_one(), total);
        assert_ne!(
            tally.value(),
            total,
            "the product differs: the test tells them apart"
        );
    }

    #[test]
    fn split_counts_merge_to_the_same_value_as_counted_together() {
        let weights = [1.0 / 0.9, 1.0 / 0.3, 1.0, 1.0 / 0.9, 1.0 / 0.7, 1.0 / 0.3];
        let mut whole = Tally::default();
        for w in weights.iter().cycle().take(600) {
            whole.add(*w);
        }
        for split in [1, 7, 299, 599] {
            let (mut a, mut b) = (Tally::default(), Tally::default());
            for (i, w) in weights.iter().cycle().take(600).enumerate() {
                if i < split {
                    a.add(*w)
                } else {
                    b.add(*w)
                }
            }
            b.merge(&a);
            assert_eq!(b, whole);
            assert_eq!(b.value().to_bits(), whole.value().to_bits());
        }
        // One by one, the same weights give another last bit in some order:
        // what the tally is for.
        let plain = |ws: &mut dyn Iterator<Item = &f64>| ws.fold(0.0, |a, w| a + w);
        let forward = plain(&mut weights.iter().cycle().take(600));
        let backward = plain(
            &mut weights
                .iter()
                .cycle()
                .take(600)
                .collect::<Vec<_>>()
                .into_iter()
                .rev(),
        );
        assert_ne!(forward.to_bits(), backward.to_bits());
        assert_eq!(Tally::default().value().to_bits(), 0.0f64.to_bits());
        // Collected, in runs or not, the same tally.
        let collected: Tally = weights.iter().cycle().take(600).copied().collect();
        assert_eq!(collected, whole);
        let mut sorted: Vec<f64> = weights.iter().cycle().take(600).copied().collect();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(sorted.into_iter().collect::<Tally>(), whole);
        assert_eq!(std::iter::empty().collect::<Tally>(), Tally::default());
    }

    #[test]
    fn tallies_from_elsewhere_are_checked() {
        let mut t = Tally::default();
        t.add(3.0);
        t.add(1.0);
        assert!(t.is_valid());
        assert_eq!(serde_json::to_string(&t).unwrap(), "[[1.0,1],[3.0,1]]");
        for bad in [
            "[[0.5,1]]",
            "[[3.0,1],[1.0,1]]",
            "[[1.0,1],[1.0,2]]",
            "[[-1.0,1]]",
        ] {
            let t: Tally = serde_json::from_str(bad).unwrap();
            assert!(!t.is_valid(), "{bad}");
        }
        assert!(serde_json::from_str::<Tally>("[[1.0,-1]]").is_err());
        assert!(serde_json::from_str::<Tally>("[[1.0,1.5]]").is_err());
        let (mut small, mut big) = (Tally::default(), Tally::default());
        small.add(2.0);
        big.add_n(2.0, 2);
        big.add(1.0);
        assert!(small.within(&big) && !big.within(&small));
        assert!(big.is_weighted() && !Tally::default().is_weighted());
        let mut other = Tally::default();
        other.add_n(5.0, 1);
        assert!(!small.within(&other) && Tally::default().within(&other));
        assert_eq!((big.count(), Tally::default().count()), (3, 0));
    }

    /// One weight is kept inline, more in a list: either way the same
    /// pairs in JSON, read back equal, and counting goes on from them in
    /// order of weight.
    #[test]
    fn one_weight_or_many_serialize_as_their_pairs() {
        let mut one = Tally::default();
        assert_eq!(serde_json::to_string(&one).unwrap(), "[]");
        one.add_n(2.0, 3);
        assert_eq!(serde_json::to_string(&one).unwrap(), "[[2.0,3]]");
        let mut many = one.clone();
        many.add(1.0);
        assert_eq!(serde_json::to_string(&many).unwrap(), "[[1.0,1],[2.0,3]]");
        for t in [&Tally::default(), &one, &many] {
            let back: Tally = serde_json::from_str(&serde_json::to_string(t).unwrap()).unwrap();
            assert_eq!(&back, t);
        }
        let mut back: Tally = serde_json::from_str("[[2.0,3]]").unwrap();
        assert_eq!(back, one);
        back.add(4.0);
        back.add(1.0);
        back.add_n(2.0, 2);
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            "[[1.0,1],[2.0,5],[4.0,1]]"
        );
        assert_eq!(back.count(), 7);
        assert_eq!(back.value(), 1.0 + 10.0 + 4.0);
        let mut merged = Tally::default();
        merged.merge(&one);
        merged.merge(&one);
        assert_eq!(serde_json::to_string(&merged).unwrap(), "[[2.0,6]]");
    }

    #[test]
    fn merging_walks_both_lists_and_saturates() {
        let tally = |pairs: &[(f64, u64)]| {
            let mut t = Tally::default();
            for (w, n) in pairs {
                t.add_n(*w, *n);
            }
            t
        };
        type Pairs = &'static [(f64, u64)];
        let cases: [(Pairs, Pairs); 8] = [
            (&[(1.0, 2), (3.0, 1)], &[(2.0, 4), (3.0, 2), (9.0, 1)]),
            (&[], &[(1.5, 1)]),
            (&[(1.5, 1)], &[]),
            (&[(7.0, 1)], &[(1.0, 1), (2.0, 1)]),
            // Into nothing, or one weight into one: merged without a new
            // array, as the general case merges them.
            (&[], &[(1.0, 1), (2.0, 3)]),
            (&[(2.0, 3)], &[(2.0, 4)]),
            (&[(2.0, 3)], &[(1.0, 4)]),
            (&[(1.0, 3)], &[(2.0, 4)]),
        ];
        for (a, b) in cases {
            let mut merged = tally(a);
            merged.merge(&tally(b));
            let mut added = tally(a);
            for (w, n) in b {
                added.add_n(*w, *n);
            }
            assert_eq!(merged, added, "{a:?} + {b:?}");
            assert!(merged.is_valid() || merged == Tally::default());
        }
        // Counts from elsewhere that would wrap stay at the top instead.
        let mut huge = tally(&[(1.0, u64::MAX - 1)]);
        assert!(huge.is_valid());
        huge.merge(&tally(&[(1.0, 5)]));
        assert_eq!(huge.count(), u64::MAX);
        huge.add(1.0);
        assert_eq!(huge.count(), u64::MAX);
        assert!(!huge.is_valid(), "a sum that reached the top");
        // Weights that are each finite can add up past f64: not valid.
        let mut wide = tally(&[(f64::MAX, 1)]);
        wide.merge(&tally(&[(f64::MAX, 1)]));
        assert!(!wide.is_valid());
    }
}
