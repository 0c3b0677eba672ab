//! [`Winners`]: the silver upsert's state, the current winner per
//! `event_id`, stored so that a worker holds tens of millions of them.
//!
//! Events live in fixed-size chunks (allocated exactly, never moved or
//! doubled); a hash table of `u32` slot numbers finds an event by its id
//! (no second copy of the id). A restore's rows are stored without a
//! lookup and indexed together once the last restore time is done
//! ([`Winners::index_stored`]), in the order of their places in the table
//! rather than of their arrival.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::beats;
use crate::event::{Event, EventIdRef};
use crate::stats::StateSize;

/// Winners per chunk of [`Winners`]' event store.
const CHUNK: usize = 4096;

/// The upsert state: the current winner per `event_id`.
///
/// Events live in fixed-size chunks (allocated exactly, never moved or
/// doubled); a hash table of `u32` slot numbers finds an event by its id
/// (no second copy of the id), hashed once per incoming event with
/// foldhash (randomly seeded per process: the table never leaves the
/// worker, so its hashes need not agree across processes). Per retained
/// event: the event itself (≤ 96 bytes) plus 4-byte slots and control
/// bytes at most 7/8 full (5.7 to 11.4 bytes), instead of a table of whole
/// events whose empty slots cost 96 bytes each.
#[derive(Default)]
pub(super) struct Winners {
    slots: HashTable<u32>,
    chunks: Vec<Vec<Event>>,
    hasher: foldhash::fast::RandomState,
}

impl Winners {
    pub(super) fn hash(&self, id: EventIdRef<'_>) -> u64 {
        self.hasher.hash_one(id)
    }

    fn slot(chunks: &[Vec<Event>], slot: u32) -> &Event {
        let slot = slot as usize;
        &chunks[slot / CHUNK][slot % CHUNK]
    }

    /// The current winner for `event`'s id (whose hash is `hash`), with
    /// `event` handed back; or, when the id has none, `event` stored as its
    /// first winner. One probe of the table either way.
    pub(super) fn upsert(&mut self, hash: u64, event: Event) -> Slot<'_> {
        if self.slots.len() == self.slots.capacity() {
            self.grow();
        }
        let next = u32::try_from(self.len()).expect("a worker holds fewer than 2^32 silver rows");
        let Winners {
            slots,
            chunks,
            hasher,
        } = self;
        let found = slots.entry(
            hash,
            |&s| Self::slot(chunks, s).event_id() == event.event_id(),
            |&s| hasher.hash_one(Self::slot(chunks, s).event_id()),
        );
        match found {
            hashbrown::hash_table::Entry::Occupied(held) => {
                let slot = *held.get() as usize;
                Slot::Held(&mut chunks[slot / CHUNK][slot % CHUNK], event)
            }
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                vacant.insert(next);
                if chunks.last().is_none_or(|c| c.len() == CHUNK) {
                    chunks.push(Vec::with_capacity(CHUNK));
                }
                let chunk = chunks.last_mut().expect("pushed above");
                chunk.push(event);
                Slot::Inserted(chunk.last().expect("pushed above"))
            }
        }
    }

    /// Doubles the slot table.
    fn grow(&mut self) {
        self.rebuild((self.slots.capacity() * 2).max(1024));
    }

    /// Replaces the slot table by one with room for `capacity` events,
    /// inserting the events in the order of their places in the new table
    /// ([`Winners::in_table_order`]): a rehash by the table itself visits
    /// them in slot order, and inserting them in storage order puts each
    /// at a random place of a table of tens of megabytes; either costs a
    /// cache (and TLB) miss per event, at millions of events the most
    /// expensive part of an insert.
    fn rebuild(&mut self, capacity: usize) {
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        let rehash = |&s: &u32| hasher.hash_one(Self::slot(chunks, s).event_id());
        let mut rebuilt = HashTable::with_capacity(capacity.max(self.len()));
        for (hash, slot) in Self::in_table_order(chunks, hasher, rebuilt.capacity()) {
            rebuilt.insert_unique(hash, slot, rehash);
        }
        self.slots = rebuilt;
    }

    /// Every stored event's (hash, slot), ordered by the event's place in
    /// a table of `capacity` (binned by the hash's position bits: a
    /// counting sort, two sequential passes over the events), so that
    /// consecutive inserts touch neighbouring slots.
    fn in_table_order(
        chunks: &[Vec<Event>],
        hasher: &foldhash::fast::RandomState,
        capacity: usize,
    ) -> Vec<(u64, u32)> {
        // hashbrown places a hash at `hash & (buckets - 1)`, buckets being
        // the power of two above capacity * 8 / 7; a wrong guess here only
        // costs speed.
        let buckets = (capacity * 8 / 7).next_power_of_two().max(1);
        let position_bits = buckets.trailing_zeros();
        let bin_bits = position_bits.min(12);
        let bin_of = |hash: u64| ((hash & (buckets as u64 - 1)) >> (position_bits - bin_bits)) as usize;
        let mut starts = vec![0usize; (1 << bin_bits) + 1];
        let mut count = 0;
        for event in chunks.iter().flatten() {
            starts[bin_of(hasher.hash_one(event.event_id())) + 1] += 1;
            count += 1;
        }
        for bin in 1..starts.len() {
            starts[bin] += starts[bin - 1];
        }
        let mut binned = vec![(0u64, 0u32); count];
        for (slot, event) in chunks.iter().flatten().enumerate() {
            let hash = hasher.hash_one(event.event_id());
            let at = &mut starts[bin_of(hash)];
            // Fewer than 2^32 events: `upsert` and `store` check the count.
            binned[*at] = (hash, slot as u32);
            *at += 1;
        }
        binned
    }

    /// Stores `event` without looking up or indexing its id: a restore's
    /// rows, which [`Winners::index_stored`] indexes in one pass once the
    /// restore is over. Only before any [`Winners::upsert`].
    pub(super) fn store(&mut self, event: Event) -> &Event {
        debug_assert!(self.slots.is_empty(), "stored before any upsert");
        u32::try_from(self.len()).expect("a worker holds fewer than 2^32 silver rows");
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let chunk = self.chunks.last_mut().expect("pushed above");
        chunk.push(event);
        chunk.last().expect("pushed above")
    }

    /// Indexes every event [`Winners::store`]d, in the order of their
    /// places in the table rather than of their arrival: inserting millions
    /// of ids in arrival order costs a cache miss or two per id (the slots
    /// a hash picks are spread over a table of tens of megabytes), while in
    /// table order consecutive inserts touch neighbouring slots. The ids are
    /// binned by their table position (a counting sort on the hash's
    /// position bits), which costs two sequential passes over the events.
    ///
    /// Silver holds one row per id, so a restore's ids are distinct; should
    /// two stored events share one (a table that was not written by
    /// racecast), the lesser by [`beats`] is dropped and returned, so that
    /// its caller can retract what it emitted for it.
    pub(super) fn index_stored(&mut self, capacity: usize) -> Vec<Event> {
        let count = self.len();
        if count == 0 || !self.slots.is_empty() {
            return Vec::new();
        }
        let mut table = HashTable::with_capacity(count.max(capacity));
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        let binned = Self::in_table_order(chunks, hasher, table.capacity());
        let rehash = |&s: &u32| hasher.hash_one(Self::slot(chunks, s).event_id());
        let mut dropped: Vec<u32> = Vec::new();
        for (hash, slot) in binned {
            // The ids are compared (reading the events) only when a slot's
            // 7 hash bits match, which for a new id is rare.
            let same = |&s: &u32| Self::slot(chunks, s).event_id() == Self::slot(chunks, slot).event_id();
            match table.entry(hash, same, rehash) {
                hashbrown::hash_table::Entry::Vacant(vacant) => {
                    vacant.insert(slot);
                }
                hashbrown::hash_table::Entry::Occupied(mut held) => {
                    let kept = *held.get();
                    if beats(Self::slot(chunks, slot), Self::slot(chunks, kept)) {
                        *held.get_mut() = slot;
                        dropped.push(kept);
                    } else {
                        dropped.push(slot);
                    }
                }
            }
        }
        if dropped.is_empty() {
            self.slots = table;
            return Vec::new();
        }
        // Rare: take the dropped events out of the store and index again.
        let capacity = table.capacity();
        dropped.sort_unstable();
        let mut losers = Vec::with_capacity(dropped.len());
        for (slot, event) in std::mem::take(&mut self.chunks).into_iter().flatten().enumerate() {
            if dropped.binary_search(&(slot as u32)).is_ok() {
                losers.push(event);
            } else {
                self.store(event);
            }
        }
        self.rebuild(capacity);
        losers
    }

    pub(super) fn len(&self) -> usize {
        // Every chunk but the last is full.
        self.chunks
            .last()
            .map_or(0, |last| (self.chunks.len() - 1) * CHUNK + last.len())
    }

    /// Rows held and bytes allocated for them (chunks and slot table; the
    /// rare heap part of a system event's strings is not counted).
    pub(super) fn size(&self) -> StateSize {
        let chunks: usize = self.chunks.iter().map(Vec::capacity).sum();
        let slots = self.slots.capacity() * (std::mem::size_of::<u32>() + 1);
        StateSize {
            rows: self.len() as u64,
            bytes: (chunks * std::mem::size_of::<Event>() + slots) as u64,
        }
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Event> {
        self.chunks.iter().flatten()
    }
}

/// What [`Winners::upsert`] found.
pub(super) enum Slot<'a> {
    /// The id's current winner, and the event that was offered.
    Held(&'a mut Event, Event),
    /// The offered event, now the id's first winner.
    Inserted(&'a Event),
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::testing::position as event;

    /// The winner per id of `events`, by [`beats`].
    fn winners_of(events: &[Event]) -> BTreeMap<EventIdRef<'_>, Event> {
        let mut winners: BTreeMap<EventIdRef<'_>, Event> = BTreeMap::new();
        for e in events {
            match winners.get(&e.event_id()) {
                Some(w) if !beats(e, w) => {}
                _ => {
                    winners.insert(e.event_id(), e.clone());
                }
            }
        }
        winners
    }

    #[test]
    fn stored_events_are_indexed_for_lookup() {
        let mut winners = Winners::default();
        let stored: Vec<Event> = (0..20_000u64)
            .map(|i| event(1 + (i % 20) as u8, i, i % 7 == 0, 0, 0))
            .collect();
        for e in stored.iter().cloned() {
            winners.store(e);
        }
        assert!(winners.index_stored(0).is_empty(), "distinct ids");
        assert_eq!(winners.len(), stored.len());
        for e in &stored {
            // The same event again is found, not inserted.
            let hash = winners.hash(e.event_id());
            match winners.upsert(hash, e.clone()) {
                Slot::Held(held, _) => assert_eq!(held, e),
                Slot::Inserted(_) => panic!("{:?} not found", e.event_id()),
            }
        }
        let new = event(1, 1_000_000, false, 0, 0);
        let hash = winners.hash(new.event_id());
        assert!(matches!(winners.upsert(hash, new), Slot::Inserted(_)));
        assert_eq!(winners.len(), stored.len() + 1);
    }

    proptest! {
        /// Stored events with repeated ids: indexing keeps the winner per id
        /// and hands back exactly the others.
        #[test]
        fn indexing_drops_all_but_the_winner_per_id(
            specs in proptest::collection::vec((0u64..40, any::<bool>(), 0u32..3, 0u8..3), 0..200),
        ) {
            let events: Vec<Event> = specs
                .iter()
                .map(|&(seq, text, revision, speed)| event(7, seq, text, revision, speed))
                .collect();
            let mut winners = Winners::default();
            for e in events.iter().cloned() {
                winners.store(e);
            }
            let mut losers = winners.index_stored(0);
            let expected = winners_of(&events);
            let mut kept: Vec<Event> = winners.iter().cloned().collect();
            kept.sort();
            let mut expected_kept: Vec<Event> = expected.values().cloned().collect();
            expected_kept.sort();
            prop_assert_eq!(&kept, &expected_kept);
            // Winners and losers together are the stored events.
            losers.extend(kept);
            losers.sort();
            let mut all = events.clone();
            all.sort();
            prop_assert_eq!(losers, all);
            for w in expected.values() {
                let hash = winners.hash(w.event_id());
                match winners.upsert(hash, w.clone()) {
                    Slot::Held(held, _) => prop_assert_eq!(&*held, w),
                    Slot::Inserted(_) => prop_assert!(false, "{:?} not found", w.event_id()),
                }
            }
        }
    }
}
