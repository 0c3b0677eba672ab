//! Exact, order-independent sums of `f64` measurements.
//!
//! Floating-point addition is not associative, so a mean summed in arrival
//! order would differ in its last bits between two runs with different
//! batching. Instead each value is turned into a fixed-point integer with
//! 2^-72 resolution (exact for every value whose lowest set bit is ≥ 2^-72,
//! which includes every value with up to 6 decimal places above 1e-6 in
//! practice) and summed as `i128`: integer addition is associative and
//! commutative, so the sum is the same whatever the order, and retracting a
//! value subtracts exactly what adding it added. Headroom: |v| ≤ 2^24 and up
//! to 2^30 values per sum stay below 2^127.

/// Fractional bits of the fixed-point representation.
pub const FRACTION_BITS: i32 = 72;

/// `value` as a fixed-point integer (truncated toward zero below 2^-72).
pub fn to_fixed(value: f64) -> i128 {
    (value * 2f64.powi(FRACTION_BITS)) as i128
}

/// The mean of `count` values whose fixed-point sum is `sum`, correctly
/// rounded from the exact sum; `None` when `count` is 0.
pub fn mean(sum: i128, count: i64) -> Option<f64> {
    (count > 0).then(|| (sum as f64) * 2f64.powi(-FRACTION_BITS) / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_do_not_depend_on_order() {
        let values = [0.1, 0.2, 0.3, 1e-3, 399.9, 12_345.6, 0.7];
        let forward: i128 = values.iter().map(|&v| to_fixed(v)).sum();
        let backward: i128 = values.iter().rev().map(|&v| to_fixed(v)).sum();
        assert_eq!(forward, backward);
        let naive_mean = values.iter().sum::<f64>() / values.len() as f64;
        let exact = mean(forward, values.len() as i64).expect("non-empty");
        assert!((exact - naive_mean).abs() < 1e-9);
        assert_eq!(mean(0, 0), None);
        assert_eq!(mean(to_fixed(3.5) * 2, 2), Some(3.5));
    }
}
