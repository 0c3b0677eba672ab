//! [`HdrHistogram`]: a Prometheus histogram whose observations are kept in an
//! HDR histogram (microsecond resolution, 3 significant digits, 1 µs to one
//! hour), exported with fixed bucket bounds ([`BUCKETS`]).
//!
//! Recording is cheap (an array increment under a mutex taken once per
//! batch of values) and the full distribution is kept, so the exported
//! buckets resolve 1 ms to 60 s whatever the values' spread.

use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Upper bounds (seconds) of the exported buckets, then `+Inf`.
pub const BUCKETS: [f64; 16] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0,
];

/// Largest value kept exactly (one hour, in microseconds); larger ones are
/// counted as this (they land in the `+Inf` bucket either way).
const HIGHEST_US: u64 = 3_600_000_000;

#[derive(Debug)]
struct Inner {
    histogram: Histogram<u64>,
    sum_seconds: f64,
}

/// A histogram of durations, shared by clones.
#[derive(Clone, Debug)]
pub struct HdrHistogram(Arc<Mutex<Inner>>);

impl Default for HdrHistogram {
    fn default() -> Self {
        let histogram = Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("constant, valid bounds");
        HdrHistogram(Arc::new(Mutex::new(Inner {
            histogram,
            sum_seconds: 0.0,
        })))
    }
}

impl HdrHistogram {
    /// Records each `(milliseconds, count)` pair; negative values count as 0.
    pub fn record_ms(&self, values: impl IntoIterator<Item = (i64, u64)>) {
        let mut inner = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for (ms, n) in values {
            let us = (ms.max(0) as u64).saturating_mul(1000).clamp(1, HIGHEST_US);
            inner.histogram.saturating_record_n(us, n);
            inner.sum_seconds += ms.max(0) as f64 / 1000.0 * n as f64;
        }
    }

    /// Records one duration.
    pub fn record(&self, duration: std::time::Duration) {
        let mut inner = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let us = (duration.as_micros() as u64).clamp(1, HIGHEST_US);
        inner.histogram.saturating_record(us);
        inner.sum_seconds += duration.as_secs_f64();
    }

    /// The value at `quantile` (0..=1), in seconds.
    pub fn quantile(&self, quantile: f64) -> f64 {
        let inner = self.0.lock().unwrap_or_else(|e| e.into_inner());
        inner.histogram.value_at_quantile(quantile) as f64 / 1e6
    }

    /// Count per exported bucket (not cumulative), the last one `+Inf`.
    fn buckets(inner: &Inner) -> Vec<(f64, u64)> {
        let h = &inner.histogram;
        let mut out = Vec::with_capacity(BUCKETS.len() + 1);
        let mut below = 0;
        for bound in BUCKETS {
            let upto = h.count_between(0, (bound * 1e6) as u64);
            out.push((bound, upto.saturating_sub(below)));
            below = upto.max(below);
        }
        out.push((f64::MAX, h.len().saturating_sub(below)));
        out
    }
}

impl TypedMetric for HdrHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for HdrHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let inner = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let buckets = Self::buckets(&inner);
        encoder.encode_histogram::<NoLabelSet>(inner.sum_seconds, inner.histogram.len(), &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_split_values_at_their_bounds() {
        let h = HdrHistogram::default();
        h.record_ms([(0, 2), (1, 3), (3, 1), (750, 4), (120_000, 1), (-5, 1)]);
        let inner = h.0.lock().expect("lock");
        let buckets = HdrHistogram::buckets(&inner);
        let count = |bound: f64| buckets.iter().find(|(b, _)| *b == bound).map(|(_, n)| *n);
        // 0 ms (and the negative one) and 1 ms are at most 1 ms.
        assert_eq!(count(0.001), Some(6));
        assert_eq!(count(0.005), Some(1));
        assert_eq!(count(1.0), Some(4));
        assert_eq!(count(f64::MAX), Some(1));
        assert_eq!(buckets.iter().map(|(_, n)| n).sum::<u64>(), 12);
        assert!((inner.sum_seconds - (0.003 + 0.003 + 3.0 + 120.0)).abs() < 1e-9);
    }

    #[test]
    fn quantiles_keep_three_digits() {
        let h = HdrHistogram::default();
        h.record_ms((1..=1000).map(|ms| (ms, 1)));
        assert!((h.quantile(0.5) - 0.5).abs() < 0.001, "{}", h.quantile(0.5));
        assert!((h.quantile(0.99) - 0.99).abs() < 0.001, "{}", h.quantile(0.99));
    }
}
