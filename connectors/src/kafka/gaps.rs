//! [`OffsetGaps`]: what a reader that must see every record of a partition
//! does with each record's offset.
//!
//! A Kafka partition's offsets may have gaps a reader never sees a record
//! for: transaction markers, aborted or compacted records. A broker can
//! also *make* a gap it later fills: tansu 0.6 moves a partition's high
//! watermark past a produced batch before it stores that batch, and
//! answers a fetch with the batches it has stored, so while two producers
//! write one partition, a reader can be given the later batch before the
//! earlier one exists, and the client moves past the earlier one for good
//! (racecast's change topics have a producer per worker). So a record past
//! the next expected offset is not taken at once: the reader reads the
//! partition again from the expected offset, a few times with a short pause,
//! and takes the gap as real only when the same record comes first again.
//! A record before the expected offset (read again) is skipped.

use std::time::Duration;

/// How many times a gap is read again before it is taken as real.
pub const REREADS: u32 = 3;

/// The pause before the `attempt`-th reread of a gap (1-based).
pub fn pause(attempt: u32) -> Duration {
    Duration::from_millis(5 * u64::from(attempt))
}

/// What to do with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Take {
    /// Apply it: it is the next record of its partition.
    Apply,
    /// Skip it: it was applied before.
    Skip,
    /// Drop it and read the partition again from `from` (after
    /// [`pause`]`(attempt)`): records may be missing before it.
    Reread {
        /// The first offset not applied yet.
        from: i64,
        /// Which reread of this gap this is (1-based).
        attempt: u32,
    },
}

/// Per partition: the next offset to apply, and the gap being reread.
#[derive(Clone, Debug)]
pub struct OffsetGaps {
    next: Vec<i64>,
    /// (the partition's next offset, the first offset after the gap, rereads so far).
    rereading: Vec<Option<(i64, i64, u32)>>,
}

impl OffsetGaps {
    /// A reader of `partitions` partitions, each starting at offset 0.
    pub fn new(partitions: usize) -> OffsetGaps {
        OffsetGaps {
            next: vec![0; partitions],
            rereading: vec![None; partitions],
        }
    }

    /// The next offset to apply per partition.
    pub fn next(&self) -> &[i64] {
        &self.next
    }

    /// Decides what to do with the record at `offset` of `partition`.
    pub fn take(&mut self, partition: usize, offset: i64) -> Take {
        let (Some(next), Some(rereading)) = (self.next.get_mut(partition), self.rereading.get_mut(partition))
        else {
            // A partition the reader does not know: nothing to keep in order.
            return Take::Apply;
        };
        if offset < *next {
            return Take::Skip;
        }
        if offset > *next {
            let attempt = match *rereading {
                Some((from, after, done)) if from == *next && after == offset => done + 1,
                // The records after the gap changed: a new gap.
                _ => 1,
            };
            if attempt <= REREADS {
                *rereading = Some((*next, offset, attempt));
                return Take::Reread { from: *next, attempt };
            }
        }
        *rereading = None;
        *next = offset + 1;
        Take::Apply
    }

    /// Moves `partition` on to `offset` without a record (the client's
    /// position at the partition's end, past markers no record stands for).
    pub fn skip_to(&mut self, partition: usize, offset: i64) {
        if let (Some(next), Some(rereading)) =
            (self.next.get_mut(partition), self.rereading.get_mut(partition))
            && offset > *next
        {
            *next = offset;
            *rereading = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_in_order_are_applied_and_repeats_skipped() {
        let mut gaps = OffsetGaps::new(2);
        assert_eq!(gaps.take(0, 0), Take::Apply);
        assert_eq!(gaps.take(0, 1), Take::Apply);
        assert_eq!(gaps.take(1, 0), Take::Apply);
        assert_eq!(gaps.take(0, 1), Take::Skip);
        assert_eq!(gaps.take(0, 0), Take::Skip);
        assert_eq!(gaps.next(), &[2, 1]);
    }

    #[test]
    fn a_gap_that_fills_on_a_reread_loses_nothing() {
        let mut gaps = OffsetGaps::new(1);
        assert_eq!(gaps.take(0, 0), Take::Apply);
        // The batch at 1-4 is not stored yet; 5 comes first.
        assert_eq!(gaps.take(0, 5), Take::Reread { from: 1, attempt: 1 });
        // Read again from 1: the batch is there now.
        for offset in 1..=5 {
            assert_eq!(gaps.take(0, offset), Take::Apply);
        }
        assert_eq!(gaps.next(), &[6]);
    }

    #[test]
    fn a_gap_that_stays_is_taken_after_the_rereads() {
        let mut gaps = OffsetGaps::new(1);
        assert_eq!(gaps.take(0, 0), Take::Apply);
        for attempt in 1..=REREADS {
            assert_eq!(gaps.take(0, 2), Take::Reread { from: 1, attempt });
        }
        // A transaction marker at 1: the same record comes first every time.
        assert_eq!(gaps.take(0, 2), Take::Apply);
        // The next gap is reread again.
        assert_eq!(gaps.take(0, 4), Take::Reread { from: 3, attempt: 1 });
    }

    #[test]
    fn a_partition_start_past_zero_is_a_gap_like_any_other() {
        // Offsets 0-99 are an aborted transaction a read_committed reader
        // never sees. (A partition whose first records the broker deleted
        // fails the read before this: `KafkaError::Truncated`.)
        let mut gaps = OffsetGaps::new(1);
        for attempt in 1..=REREADS {
            assert_eq!(gaps.take(0, 100), Take::Reread { from: 0, attempt });
        }
        assert_eq!(gaps.take(0, 100), Take::Apply);
    }

    #[test]
    fn the_position_at_the_end_moves_past_markers() {
        let mut gaps = OffsetGaps::new(1);
        assert_eq!(gaps.take(0, 0), Take::Apply);
        gaps.skip_to(0, 2);
        gaps.skip_to(0, 1);
        assert_eq!(gaps.take(0, 2), Take::Apply);
        assert_eq!(gaps.next(), &[3]);
    }
}
