//! A checkpoint's silver changes, as one worker's part sink collected them
//! by bucket, consolidated for writing ([`consolidate_silver`]): equal rows'
//! differences summed, rows in the order a silver file holds them, and the
//! corrections among them counted.

use std::collections::{BTreeMap, HashMap};

use racecast_connectors::delta::Bucket;
use racecast_dataflow::route::route;
use racecast_dataflow::silver::SilverRow;

/// One checkpoint's silver changes as they arrived, by bucket.
pub(crate) type SilverBuckets = HashMap<Bucket, Vec<(SilverRow, isize)>>;

/// A checkpoint's silver changes, consolidated ([`consolidate_silver`]).
pub(crate) struct SilverChanges<'a> {
    /// Per bucket, rows with their summed differences (none zero), in the
    /// order a silver file holds them.
    pub(crate) buckets: BTreeMap<Bucket, Vec<(&'a SilverRow, isize)>>,
    /// Corrections applied: ids retracted and re-inserted with another
    /// revision.
    pub(crate) corrections: u64,
}

/// Silver changes consolidated: per bucket, the differences of equal rows
/// summed and rows whose sum is zero dropped, ordered by (event type, time,
/// sequence) as the sink writes them; and the corrections among them
/// counted.
///
/// The rows were put in their bucket as they arrived (while in cache), so
/// that everything here reads one bucket's rows at a time: reading a
/// checkpoint's rows in any global order (by id hash, before) cost a cache
/// miss per row and pass. Only references are sorted; no row is moved.
pub(crate) fn consolidate_silver(silver: &SilverBuckets) -> SilverChanges<'_> {
    let mut buckets = BTreeMap::new();
    for (bucket, rows) in silver {
        let mut order: Vec<(&SilverRow, isize)> = rows.iter().map(|(r, d)| (r, *d)).collect();
        order.sort_unstable_by(|(a, _), (b, _)| {
            let key = |r: &SilverRow| (r.event.event_type(), r.event.timestamp_ms, r.event.sequence);
            key(a).cmp(&key(b)).then_with(|| a.cmp(b))
        });
        let mut summed: Vec<(&SilverRow, isize)> = Vec::with_capacity(order.len());
        for (row, d) in order {
            match summed.last_mut() {
                Some((previous, sum)) if *previous == row => *sum += d,
                _ => summed.push((row, d)),
            }
        }
        summed.retain(|(_, sum)| *sum != 0);
        if !summed.is_empty() {
            buckets.insert(*bucket, summed);
        }
    }
    // A correction retracts the old revision and inserts the new one,
    // perhaps in another lap's bucket: match insertions against the (few)
    // retractions by id hash, then by id.
    let id_hash = |row: &SilverRow| route(&row.event.event_id());
    let mut retracted: HashMap<u64, Vec<&SilverRow>> = HashMap::new();
    for (row, _) in buckets.values().flatten().filter(|(_, d)| *d < 0) {
        retracted.entry(id_hash(row)).or_default().push(row);
    }
    let corrections = if retracted.is_empty() {
        0
    } else {
        buckets
            .values()
            .flatten()
            .filter(|(row, d)| {
                *d > 0
                    && retracted.get(&id_hash(row)).is_some_and(|old| {
                        old.iter().any(|o| {
                            o.event.event_id() == row.event.event_id()
                                && o.event.revision != row.event.revision
                        })
                    })
            })
            .count() as u64
    };
    SilverChanges { buckets, corrections }
}

#[cfg(test)]
mod tests {
    use racecast_connectors::delta::bucket_of;
    use racecast_dataflow::testing::silver_row;

    use super::*;

    proptest::proptest! {
        /// Consolidating by bucket gives what a map of rows gives, in file
        /// order, and counts as corrections the ids with a retracted and an
        /// inserted row of different revisions.
        #[test]
        fn silver_changes_consolidate_as_a_map_of_rows(
            changes in proptest::collection::vec(
                (1u8..4, 0u64..6, proptest::bool::ANY, 0u32..3, 0u8..3, -2isize..=2),
                0..80,
            )
        ) {
            let rows: Vec<(SilverRow, isize)> = changes
                .iter()
                .map(|&(car, seq, text, rev, speed, d)| (silver_row(car, seq, text, rev, speed), d))
                .collect();
            let mut expected: BTreeMap<SilverRow, isize> = BTreeMap::new();
            for (row, d) in &rows {
                *expected.entry(row.clone()).or_insert(0) += d;
            }
            expected.retain(|_, d| *d != 0);
            let mut revisions: BTreeMap<String, (Vec<u32>, Vec<u32>)> = BTreeMap::new();
            for (row, d) in &expected {
                let (old, new) = revisions.entry(row.event.event_id().to_string()).or_default();
                if *d < 0 { old.push(row.event.revision) } else { new.push(row.event.revision) }
            }
            let corrections: u64 = revisions
                .values()
                .map(|(old, new)| new.iter().filter(|n| old.iter().any(|o| o != *n)).count() as u64)
                .sum();
            let mut buckets = SilverBuckets::new();
            for (row, d) in rows {
                buckets.entry(bucket_of(&row)).or_default().push((row, d));
            }
            let got = consolidate_silver(&buckets);
            proptest::prop_assert_eq!(got.corrections, corrections);
            for (bucket, rows) in &got.buckets {
                for (row, _) in rows {
                    proptest::prop_assert_eq!(bucket_of(row), *bucket);
                }
                let order = |r: &SilverRow| (r.event.event_type(), r.event.timestamp_ms, r.event.sequence);
                proptest::prop_assert!(rows.is_sorted_by(|a, b| order(a.0) <= order(b.0)), "a bucket's rows are in file order");
            }
            let got: BTreeMap<SilverRow, isize> =
                got.buckets.into_values().flatten().map(|(r, d)| (r.clone(), d)).collect();
            proptest::prop_assert_eq!(got, expected);
        }
    }
}
