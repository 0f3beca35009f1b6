//! Weighted counts that add up the same however they are split.
//!
//! A sampled event counts `1 / rate`. Adding such weights one by one gives
//! a float whose last bits depend on the order, so the sum of two
//! partitions' sums can differ from one engine's sum, and a ranking or a
//! threshold that compares them can flip. A [`Tally`] keeps a whole count
//! per distinct weight instead: whole counts add exactly in any order, and
//! [`Tally::value`] multiplies and adds them in one fixed order (smallest
//! weight first), so equal data gives equal values, merged or not.

use serde::{Deserialize, Serialize};

/// How many times each weight was counted, by weight (ascending).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tally(Vec<(f64, u64)>);

impl Tally {
    /// Counts `weight` once more.
    pub fn add(&mut self, weight: f64) {
        self.add_n(weight, 1);
    }

    /// Counts `weight` `n` more times.
    pub fn add_n(&mut self, weight: f64, n: u64) {
        // Almost always one weight (unsampled data): a linear search.
        match self.0.iter().position(|(w, _)| *w >= weight) {
            Some(i) if self.0[i].0 == weight => self.0[i].1 = self.0[i].1.saturating_add(n),
            Some(i) => self.0.insert(i, (weight, n)),
            None => self.0.push((weight, n)),
        }
    }

    /// Adds another tally's counts, in one pass over both (each in
    /// ascending order of weight, as [`Tally::add`] keeps them and
    /// [`Tally::is_valid`] checks), counts saturating: a tally from
    /// elsewhere costs its length, and a count past `u64::MAX` stays there
    /// (a value [`Tally::is_valid`] then refuses as infinite or not).
    pub fn merge(&mut self, other: &Tally) {
        if other.0.is_empty() {
            return;
        }
        // The common cases without a new array: nothing here yet (a copy),
        // or one weight in both, the same (unsampled data: one addition).
        if self.0.is_empty() {
            self.0.clone_from(&other.0);
            return;
        }
        if let ([x], [y]) = (&mut self.0[..], &other.0[..]) {
            if x.0 == y.0 {
                x.1 = x.1.saturating_add(y.1);
                return;
            }
        }
        let (a, b) = (&self.0, &other.0);
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
        self.0 = out;
    }

    /// How many things were counted, whatever their weights (saturating).
    pub fn count(&self) -> u64 {
        self.0.iter().fold(0u64, |a, (_, n)| a.saturating_add(*n))
    }

    /// The weighted sum: each weight times its count, smallest weight
    /// first; +0.0 when empty.
    pub fn value(&self) -> f64 {
        self.0.iter().fold(0.0, |a, (w, n)| a + w * *n as f64)
    }

    /// The weights added one by one, smallest first, from +0.0: the sum
    /// [`crate::kernel::stats::Total`] gives for the same weights (whole
    /// numbers add exactly in any order; others it adds smallest first),
    /// with memory for the distinct weights only.
    pub fn sum_one_by_one(&self) -> f64 {
        let mut sum = 0.0;
        for (w, n) in &self.0 {
            for _ in 0..*n {
                sum += w;
            }
        }
        sum
    }

    /// True when every weight is a finite number of at least 1 (a weight
    /// is `1 / rate`, with the rate in (0, 1]) counted at least once, the
    /// weights in ascending order, as [`Tally::add`] keeps them, the
    /// value finite and the counts' sum below `u64::MAX` (where
    /// [`Tally::merge`] stops): what a tally from elsewhere, or the sum of
    /// several, must be.
    pub fn is_valid(&self) -> bool {
        self.0
            .iter()
            .all(|(w, n)| w.is_finite() && *w >= 1.0 && *n > 0)
            && self.0.windows(2).all(|p| p[0].0 < p[1].0)
            && self.value().is_finite()
            && self.count() < u64::MAX
    }

    /// [`Tally::is_valid`], or empty (nothing counted).
    pub fn is_valid_or_empty(&self) -> bool {
        self.0.is_empty() || self.is_valid()
    }

    /// True when, for every weight, this tally counts it at most as often as
    /// `other` does. One pass over both, in ascending order of weight.
    pub fn within(&self, other: &Tally) -> bool {
        let mut theirs = other.0.iter().peekable();
        self.0.iter().all(|(w, n)| {
            while theirs.next_if(|(v, _)| v < w).is_some() {}
            theirs
                .next_if(|(v, _)| v.to_bits() == w.to_bits())
                .is_some_and(|(_, m)| m >= n)
        })
    }

    /// True when some weight is not 1 (some counted event was sampled).
    pub fn is_weighted(&self) -> bool {
        self.0.iter().any(|(w, _)| *w != 1.0)
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
