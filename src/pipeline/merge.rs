//! Analytics across partitions: each partition answers a query in a
//! mergeable partial form, and [`merge`] sums them. Partitions hold disjoint
//! subjects, so per-subject counts add up exactly.
