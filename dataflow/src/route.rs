//! [`route`]: the hash that sends a record to its worker, the same in every
//! process of a cluster (a fixed seed; symbols hash their text, see
//! [`crate::Symbol`]). Silver routes events by `event_id`, gold routes
//! samples by lap, and the sinks route silver rows by id when they match a
//! correction's retraction with its insertion.

use std::hash::{BuildHasher, Hash};

/// A hash for routing, the same in every process of a cluster.
pub fn route<T: Hash + ?Sized>(value: &T) -> u64 {
    foldhash::fast::FixedState::with_seed(ROUTE_SEED).hash_one(value)
}

/// The seed of [`route`].
const ROUTE_SEED: u64 = 0x0072_6f75_7465;
