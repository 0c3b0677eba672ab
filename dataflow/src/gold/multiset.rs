//! [`Multiset`]: an ordered multiset of one kind of lap value, the state
//! behind a lap's extremes and its gear sequence.
//!
//! Each value is kept once with its multiplicity, a 4-byte count: a
//! `rpm` entry is 12 bytes of B-tree node (8-byte key, count), where a
//! map of every kind of value under one enum key and an `isize` count
//! took 32. Multiplicities can go below zero while a time's updates are
//! applied (a retraction may come before its insertion within one time);
//! queries see only values with a positive multiplicity, and a value whose
//! multiplicity returns to zero is removed.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::ops::Bound;

/// An ordered multiset of `K`.
#[derive(Debug)]
pub struct Multiset<K> {
    counts: BTreeMap<K, i32>,
}

impl<K> Default for Multiset<K> {
    fn default() -> Self {
        Multiset {
            counts: BTreeMap::new(),
        }
    }
}

/// A change of multiplicity as a count. A lap holds far fewer than 2^31
/// copies of a value (a lap of 2^31 events at 50 Hz would last 1.3 years),
/// so the count saturates rather than fail on an impossible input.
fn count(diff: isize) -> i32 {
    i32::try_from(diff).unwrap_or(if diff < 0 { i32::MIN } else { i32::MAX })
}

impl<K: Ord> Multiset<K> {
    /// Adds `diff` copies of `value` and returns its multiplicity before
    /// and after.
    pub fn add(&mut self, value: K, diff: isize) -> (i32, i32) {
        let diff = count(diff);
        match self.counts.entry(value) {
            Entry::Occupied(mut slot) => {
                let before = *slot.get();
                let after = before.saturating_add(diff);
                if after == 0 {
                    slot.remove();
                } else {
                    *slot.get_mut() = after;
                }
                (before, after)
            }
            Entry::Vacant(slot) => {
                if diff != 0 {
                    slot.insert(diff);
                }
                (0, diff)
            }
        }
    }

    /// The smallest present value.
    pub fn min(&self) -> Option<&K> {
        self.counts.iter().find(|(_, c)| **c > 0).map(|(v, _)| v)
    }

    /// The greatest present value.
    pub fn max(&self) -> Option<&K> {
        self.counts.iter().rev().find(|(_, c)| **c > 0).map(|(v, _)| v)
    }

    /// The greatest present value below `value`.
    pub fn below(&self, value: &K) -> Option<&K> {
        self.counts
            .range(..value)
            .rev()
            .find(|(_, c)| **c > 0)
            .map(|(v, _)| v)
    }

    /// The smallest present value above `value`.
    pub fn above(&self, value: &K) -> Option<&K> {
        self.counts
            .range((Bound::Excluded(value), Bound::Unbounded))
            .find(|(_, c)| **c > 0)
            .map(|(v, _)| v)
    }

    /// Whether any value is present.
    pub fn any(&self) -> bool {
        self.counts.values().any(|c| *c > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Queries agree with a plain map of multiplicities after any
        /// sequence of additions and removals, negative ones included.
        #[test]
        fn queries_agree_with_a_plain_map(ops in proptest::collection::vec((0u8..12, -2isize..3), 0..80), probe in 0u8..12) {
            let mut set = Multiset::default();
            let mut plain: BTreeMap<u8, isize> = BTreeMap::new();
            for (value, diff) in ops {
                let before = plain.get(&value).copied().unwrap_or(0);
                let after = before + diff;
                prop_assert_eq!(set.add(value, diff), (before as i32, after as i32));
                plain.insert(value, after);
            }
            let present: Vec<u8> = plain.iter().filter(|(_, c)| **c > 0).map(|(v, _)| *v).collect();
            prop_assert_eq!(set.min(), present.first());
            prop_assert_eq!(set.max(), present.last());
            prop_assert_eq!(set.any(), !present.is_empty());
            prop_assert_eq!(set.below(&probe), present.iter().rev().find(|v| **v < probe));
            prop_assert_eq!(set.above(&probe), present.iter().find(|v| **v > probe));
            prop_assert_eq!(set.counts.len(), plain.values().filter(|c| **c != 0).count());
        }
    }

    #[test]
    fn counts_saturate_instead_of_wrapping() {
        let mut set = Multiset::default();
        assert_eq!(set.add(1u8, isize::MAX), (0, i32::MAX));
        assert_eq!(set.add(1u8, 1), (i32::MAX, i32::MAX));
        assert_eq!(set.max(), Some(&1));
    }
}
