//! Small statistics: medians, percentiles, and the two-proportion z-test.

use serde::Serialize;

/// The median of `v` (the mean of the two middle values when the count is
/// even), or `None` when empty. Sorts `v`.
pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    // Values equal by `total_cmp` are the same bits: an unstable sort
    // gives the same order as a stable one, faster.
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The nearest-rank `p`-th percentile of sorted `v`: the smallest value
/// with at least `p`% of the values at or below it.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// The median, the nearest-rank 90th percentile and the maximum of `v`,
/// as [`median`] and [`percentile`] give them on the sorted values, but by
/// selection (linear time) rather than a sort. Reorders `v`.
pub fn median_p90_max(v: &mut [f64]) -> (Option<f64>, Option<f64>, Option<f64>) {
    let n = v.len();
    if n == 0 {
        return (None, None, None);
    }
    let max = v.iter().copied().max_by(f64::total_cmp);
    let p90_at = ((0.9 * n as f64).ceil().max(1.0) as usize).min(n) - 1;
    let (_, mid, right) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *mid;
    // The p90's rank is at or above the middle: found among the larger half.
    let p90 = match p90_at.cmp(&(n / 2)) {
        std::cmp::Ordering::Equal => upper,
        std::cmp::Ordering::Greater => {
            *right
                .select_nth_unstable_by(p90_at - n / 2 - 1, f64::total_cmp)
                .1
        }
        // Never below the middle (n = 1 is `Equal`); selected anew if so.
        std::cmp::Ordering::Less => *v.select_nth_unstable_by(p90_at, f64::total_cmp).1,
    };
    let median = if n % 2 == 1 {
        upper
    } else {
        // The largest of the smaller half, which the selection put first.
        let lower = v[..n / 2]
            .iter()
            .copied()
            .max_by(f64::total_cmp)
            .unwrap_or(upper);
        (lower + upper) / 2.0
    };
    (Some(median), Some(p90), max)
}

/// The standard normal CDF, from the complementary error function
/// (Numerical Recipes' `erfcc`, relative error below 1.2e-7).
pub fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let erfc = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        1.0 - erfc / 2.0
    } else {
        erfc / 2.0
    }
}

/// Sums floats from +0.0. `Iterator::sum` for `f64` starts from -0.0 (since
/// Rust 1.81), so an empty sum is -0.0, which JS shows as `-0`: a count of
/// nothing must be 0. The sum does not depend on the order of the values.
pub trait Total {
    /// The sum, +0.0 when empty.
    fn total(self) -> f64;
}

impl<I, T> Total for I
where
    I: Iterator<Item = T>,
    T: std::borrow::Borrow<f64>,
{
    fn total(self) -> f64 {
        let mut values: Vec<f64> = self.map(|b| *b.borrow()).collect();
        // Whole numbers add exactly in any order; other weights (sampled
        // data) are added smallest first, so that the answer does not depend
        // on the order they came in (a hash map's, or a merge's).
        if values.iter().any(|v| v.fract() != 0.0) {
            values.sort_by(f64::total_cmp);
        }
        values.iter().fold(0.0, |a, b| a + b)
    }
}

/// A variant compared with the control.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Comparison {
    /// Variant rate minus control rate.
    pub diff: f64,
    /// The pooled two-proportion z statistic.
    pub z: f64,
    /// Its two-sided p-value.
    pub p_value: f64,
    /// The 95% confidence interval of `diff` (unpooled standard error).
    pub ci95: [f64; 2],
}

/// The two-proportion z-test of `x1/n1` (a variant) against `x0/n0` (the
/// control), or `None` when it is undefined (an empty group, or both rates
/// 0 or both 1).
pub fn z_test(x1: f64, n1: f64, x0: f64, n0: f64) -> Option<Comparison> {
    if n1 <= 0.0 || n0 <= 0.0 {
        return None;
    }
    let (p1, p0) = (x1 / n1, x0 / n0);
    let pooled = (x1 + x0) / (n1 + n0);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n0)).sqrt();
    if se == 0.0 || !se.is_finite() {
        return None;
    }
    let z = (p1 - p0) / se;
    let se_diff = (p1 * (1.0 - p1) / n1 + p0 * (1.0 - p0) / n0).sqrt();
    let diff = p1 - p0;
    Some(Comparison {
        diff,
        z,
        p_value: (2.0 * (1.0 - normal_cdf(z.abs()))).clamp(0.0, 1.0),
        ci95: [diff - 1.959_964 * se_diff, diff + 1.959_964 * se_diff],
    })
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn totals_do_not_depend_on_the_order() {
        // Weights of sampled events: added in two orders, one answer.
        let w = [0.1, 0.2, 0.3];
        let rev = [0.3, 0.2, 0.1];
        let naive = |v: &[f64]| v.iter().fold(0.0, |a, b| a + b);
        assert_ne!(naive(&w), naive(&rev), "the case must show order mattering");
        assert_eq!(w.iter().total(), rev.iter().total());
        assert_eq!([3.0, 1.0, 2.0].iter().total(), 6.0);
        assert!(std::iter::empty::<f64>().total().is_sign_positive());
    }

    #[test]
    fn selection_gives_what_the_sort_gives() {
        let mut rand = super::super::testing::xorshift(2_463_534_242);
        for n in (0..40).chain([99, 100, 101, 1000, 1001]) {
            // Few distinct values (ties), and spread ones.
            for spread in [3, 1_000_000] {
                let mut v: Vec<f64> = (0..n).map(|_| f64::from(rand(spread))).collect();
                let mut sorted = v.clone();
                let want = (
                    median(&mut sorted),
                    percentile(&sorted, 90.0),
                    sorted.last().copied(),
                );
                assert_eq!(median_p90_max(&mut v), want, "n {n}, spread {spread}");
            }
        }
    }

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        let sorted: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 90.0), Some(9.0));
        assert_eq!(percentile(&sorted, 100.0), Some(10.0));
        assert_eq!(percentile(&sorted[..1], 90.0), Some(1.0));
    }

    #[test]
    fn an_empty_total_is_positive_zero() {
        let none: [f64; 0] = [];
        assert!(none.iter().total().is_sign_positive());
        assert_eq!([1.5, 2.5].iter().total(), 4.0);
        assert_eq!([-0.0, -0.0].into_iter().total().to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn normal_cdf_matches_tables() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158_655_25).abs() < 1e-6);
    }

    #[test]
    fn z_test_worked_example() {
        // 200/1000 against 150/1000: pooled p = 0.175,
        // se = sqrt(0.175 * 0.825 * 0.002) = 0.016994, z = 0.05 / se = 2.9422,
        // two-sided p = 0.00326.
        let c = z_test(200.0, 1000.0, 150.0, 1000.0).unwrap();
        assert!((c.z - 2.9422).abs() < 1e-3, "{c:?}");
        assert!((c.p_value - 0.00326).abs() < 1e-4, "{c:?}");
        let se = (0.2f64 * 0.8 / 1000.0 + 0.15 * 0.85 / 1000.0).sqrt();
        assert!((c.ci95[0] - (0.05 - 1.959_964 * se)).abs() < 1e-9);
        assert!(z_test(0.0, 10.0, 0.0, 10.0).is_none());
        assert!(z_test(1.0, 0.0, 0.0, 10.0).is_none());
    }
}
