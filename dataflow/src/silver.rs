//! Silver: the valid record with the highest `revision` per `event_id`,
//! enriched with the entry list (SPEC §2), as a differential collection.
//!
//! [`silver_upsert`] is a custom timely operator rather than a differential
//! `reduce`, because its input is insert-only (bronze never retracts): the
//! winner for a key only ever moves up, so the operator keeps just the
//! current winner per `event_id` (one `Event` per key, no history, no second
//! arrangement of the input) and emits `-old +new` when a record beats it.
//! The tie rule for two different records with the same `event_id` and
//! `revision`: the greater by [`Event`]'s derived order wins (compared field
//! by field), which does not depend on arrival order.
//!
//! The operator has two outputs ([`Silver`]): the silver row (event and entry) for the sinks, and the
//! event's lap key and 48-byte [`LapSample`] for gold, so that gold needs
//! no copy of the row. A resumed run's restore ([`Restore`]) emits samples
//! only: its rows are in the sinks already.
//!
//! Entries (a few dozen records) are broadcast to every worker. When an
//! entry's winner changes, the operator re-emits the silver rows of that
//! (`session_id`, `car_number`) it holds with the new entry.
//!
//! Input is applied in timestamp order ([`TimeOrder`]): on arrival when it
//! is at the frontiers' own time, else when its time comes. The winner per
//! id and the entry per car do not depend on the order of updates within a
//! time, so the output at every time is exactly silver of the input up to
//! that time.
//!
//! A restore's rows are stored without a lookup and indexed together once
//! the last restore time is done ([`Winners::index_stored`]), in the order
//! of their places in the table rather than of their arrival.
//!
//! Memory: one `Event` (≤ 96 bytes, see `event.rs`) per retained event id,
//! in fixed-size chunks, plus a hash table of 4-byte slot numbers and a
//! control byte per slot, at most 7/8 of the slots full (between 1.14x and
//! 2.3x the slots per event, depending on where the table is between two
//! doublings): see [`Winners`].

use std::hash::{BuildHasher, Hash};
use std::rc::Rc;

use hashbrown::{HashMap, HashTable};

use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::vec::Broadcast;

use crate::Time;
use crate::entry::Entry;
use crate::event::{Event, EventIdRef};
use crate::gold::{LapKey, LapSample};
use crate::stats::{PipelineStats, StateSize, Upsert as Outcome};
use crate::symbol::Symbol;
use crate::time_order::{TimeOrder, earliest};

/// A silver row: the winning event and its car's entry, if any is known.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct SilverRow {
    /// The event.
    pub event: Event,
    /// The entry-list record of (`session_id`, `car_number`).
    pub entry: Option<Entry>,
}

/// What the silver upsert emits: changes of the silver collection, and the
/// same changes cut down to what gold reads (so that gold does not need a
/// copy of every silver row).
pub struct Silver<'scope> {
    /// The silver collection (none of it at restore times: see
    /// [`Restore`]).
    pub rows: VecCollection<'scope, Time, SilverRow, isize>,
    /// Each silver event's lap key and sample, at every time.
    pub samples: VecCollection<'scope, Time, (LapKey, LapSample), isize>,
}

/// A resumed run's restore: its state comes in as input at times up to
/// `until`, whose silver rows the sinks hold already, so the upsert emits
/// only their samples (gold's state is rebuilt, silver's is not written
/// again); `rows` silver rows in all (the state is sized for them once,
/// instead of doubling its way up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restore {
    /// The last restore time.
    pub until: Time,
    /// Silver rows restored, over all workers.
    pub rows: u64,
}

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
struct Winners {
    slots: HashTable<u32>,
    chunks: Vec<Vec<Event>>,
    hasher: foldhash::fast::RandomState,
}

impl Winners {
    fn hash(&self, id: EventIdRef<'_>) -> u64 {
        self.hasher.hash_one(id)
    }

    fn slot(chunks: &[Vec<Event>], slot: u32) -> &Event {
        let slot = slot as usize;
        &chunks[slot / CHUNK][slot % CHUNK]
    }

    /// The current winner for `event`'s id (whose hash is `hash`), with
    /// `event` handed back; or, when the id has none, `event` stored as its
    /// first winner. One probe of the table either way.
    fn upsert(&mut self, hash: u64, event: Event) -> Slot<'_> {
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
    fn store(&mut self, event: Event) -> &Event {
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
    fn index_stored(&mut self, capacity: usize) -> Vec<Event> {
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

    fn len(&self) -> usize {
        // Every chunk but the last is full.
        self.chunks
            .last()
            .map_or(0, |last| (self.chunks.len() - 1) * CHUNK + last.len())
    }

    /// Rows held and bytes allocated for them (chunks and slot table; the
    /// rare heap part of a system event's strings is not counted).
    fn size(&self) -> StateSize {
        let chunks: usize = self.chunks.iter().map(Vec::capacity).sum();
        let slots = self.slots.capacity() * (std::mem::size_of::<u32>() + 1);
        StateSize {
            rows: self.len() as u64,
            bytes: (chunks * std::mem::size_of::<Event>() + slots) as u64,
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Event> {
        self.chunks.iter().flatten()
    }
}

/// What [`Winners::upsert`] found.
enum Slot<'a> {
    /// The id's current winner, and the event that was offered.
    Held(&'a mut Event, Event),
    /// The offered event, now the id's first winner.
    Inserted(&'a Event),
}

/// Whether `new` beats `current` for the same `event_id`.
pub fn beats(new: &Event, current: &Event) -> bool {
    (new.revision, new) > (current.revision, current)
}

/// Whether `new` beats `current` for the same entry key.
pub fn entry_beats(new: &Entry, current: &Entry) -> bool {
    (new.revision, new) > (current.revision, current)
}

/// A hash for routing, the same in every process of a cluster (a fixed
/// seed; symbols hash their text, see [`Symbol`]).
pub fn route<T: Hash + ?Sized>(value: &T) -> u64 {
    foldhash::fast::FixedState::with_seed(ROUTE_SEED).hash_one(value)
}

/// The seed of [`route`].
const ROUTE_SEED: u64 = 0x0072_6f75_7465;

/// The silver collection of `events`, enriched with `entries`, and its
/// samples for gold.
pub fn silver_upsert<'scope>(
    events: StreamVec<'scope, Time, Event>,
    entries: StreamVec<'scope, Time, Entry>,
) -> Silver<'scope> {
    silver_upsert_counted(events, entries, None, None)
}

/// As [`silver_upsert`], counting upsert outcomes and the state's size in
/// `stats` when given, starting with a `restore` when given.
pub fn silver_upsert_counted<'scope>(
    events: StreamVec<'scope, Time, Event>,
    entries: StreamVec<'scope, Time, Entry>,
    stats: Option<Rc<PipelineStats>>,
    restore: Option<Restore>,
) -> Silver<'scope> {
    let peers = events.scope().peers() as u64;
    let mut builder = OperatorBuilder::new("SilverUpsert".to_owned(), events.scope());
    let mut events_in = builder.new_input(events, Exchange::new(|e: &Event| route(&e.event_id())));
    let mut entries_in = builder.new_input(entries.broadcast(), Pipeline);
    let (rows_out, rows) = builder.new_output::<Vec<(SilverRow, Time, isize)>>();
    let (samples_out, samples) = builder.new_output::<Vec<((LapKey, LapSample), Time, isize)>>();
    let (mut rows_out, mut samples_out) = (OutputBuilder::from(rows_out), OutputBuilder::from(samples_out));
    builder.build(move |initial| {
        let mut upsert = Upsert::default();
        let phase_at = move |time: Time| match restore {
            Some(r) if time <= r.until => Phase::Restore,
            _ => Phase::Live,
        };
        // While the restore is on: capabilities (following the frontier, up
        // to the last restore time) to retract, once it is over, what was
        // emitted for a restored row that lost to another with its id; and
        // the capacity the restored rows are indexed with (routing by id
        // spreads them evenly, to a few thousand at millions, so a little
        // slack is enough).
        let mut restoring = restore.and_then(|r| {
            let mut caps = initial.into_iter();
            let share = r.rows / peers.max(1);
            let capacity = (share + share / 256 + 1024) as usize;
            Some(((caps.next()?, caps.next()?), r.until, capacity))
        });
        let mut order: TimeOrder<Input, (Capability<Time>, Capability<Time>)> = TimeOrder::default();
        move |frontiers| {
            let (mut rows_out, mut samples_out) = (rows_out.activate(), samples_out.activate());
            let earliest = earliest(&frontiers[0])
                .into_iter()
                .chain(earliest(&frontiers[1]))
                .min();
            if let Some((caps, until, capacity)) = restoring.as_mut() {
                let (until, capacity) = (*until, *capacity);
                let held = earliest.unwrap_or(until).min(until);
                caps.0.downgrade(&held);
                caps.1.downgrade(&held);
                if earliest.is_none_or(|t| t > until) {
                    // Every restored row is in: index them before any
                    // later input looks one up.
                    let mut samples = samples_out.session(&caps.1);
                    for loser in upsert.winners.index_stored(capacity) {
                        samples.give((sample_of(&loser), until, -1));
                    }
                    drop(samples);
                    restoring = None;
                }
            }
            while let Some((caps, waited)) = order.next_closed(earliest) {
                let time = *caps.0.time();
                let (mut rows, mut samples) = (rows_out.session(&caps.0), samples_out.session(&caps.1));
                for input in waited {
                    upsert.apply(
                        input,
                        phase_at(time),
                        stats.as_deref(),
                        |row, diff| rows.give((row, time, diff)),
                        |sample, diff| samples.give((sample, time, diff)),
                    );
                }
            }
            let caps_of = |cap: timely::dataflow::operators::InputCapability<Time>| {
                Some((cap.retain_least(0)?, cap.retain_least(1)?))
            };
            events_in.for_each_stamp(|cap, data| {
                let Some(caps) = caps_of(cap) else { return };
                let time = *caps.0.time();
                let events = data.flat_map(|d| d.drain(..));
                // A restore's rows are stored as they come, in any order:
                // they are indexed together once the restore is over.
                if phase_at(time) == Phase::Restore || order.admit(&caps, time, earliest) {
                    let (mut rows, mut samples) = (rows_out.session(&caps.0), samples_out.session(&caps.1));
                    for event in events {
                        upsert.event(
                            event,
                            phase_at(time),
                            stats.as_deref(),
                            |row, diff| rows.give((row, time, diff)),
                            |sample, diff| samples.give((sample, time, diff)),
                        );
                    }
                } else {
                    order.defer(&caps, time, events.map(Input::Event));
                }
            });
            entries_in.for_each_stamp(|cap, data| {
                let Some(caps) = caps_of(cap) else { return };
                let time = *caps.0.time();
                let entries: Vec<Entry> = data.flat_map(|d| d.drain(..)).collect();
                // At a restore time, entries only set the known winners
                // (which do not depend on order).
                if phase_at(time) == Phase::Restore || order.admit(&caps, time, earliest) {
                    let mut rows = rows_out.session(&caps.0);
                    upsert.entries(entries, phase_at(time), |row, diff| rows.give((row, time, diff)));
                } else {
                    order.defer(&caps, time, [Input::Entries(entries)]);
                }
            });
            if let Some(stats) = &stats {
                stats.set_state_size(upsert.winners.size());
            }
        }
    });
    Silver {
        rows: rows.as_collection(),
        samples: samples.as_collection(),
    }
}

/// Whether a time is one of a resumed run's restore times, whose input is
/// silver's state as of the checkpoint it resumes from ([`Restore`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// A restore time: events are restored rows (distinct ids, stored
    /// without lookup and indexed at the end), and no silver row is
    /// emitted (the sinks hold them).
    Restore,
    /// Any other time.
    Live,
}

/// Input that waits for its time.
enum Input {
    /// An event.
    Event(Event),
    /// A batch of entries.
    Entries(Vec<Entry>),
}

/// The upsert's state: the winning event per id and entry per car.
#[derive(Default)]
struct Upsert {
    winners: Winners,
    known: HashMap<(Symbol, u8), Entry>,
}

/// What gold reads of `event`: its lap key and sample.
fn sample_of(event: &Event) -> (LapKey, LapSample) {
    (
        (event.session_id, event.car_number, event.lap),
        LapSample::of(event),
    )
}

impl Upsert {
    /// Applies one waiting input.
    fn apply(
        &mut self,
        input: Input,
        phase: Phase,
        stats: Option<&PipelineStats>,
        row: impl FnMut(SilverRow, isize),
        sample: impl FnMut((LapKey, LapSample), isize),
    ) {
        match input {
            Input::Event(event) => self.event(event, phase, stats, row, sample),
            Input::Entries(entries) => self.entries(entries, phase, row),
        }
    }

    /// Applies entries, emitting the changes of the silver collection
    /// (none at a restore time): every held row of a key whose entry changed
    /// moves to the new entry. Samples do not depend on entries.
    fn entries(&mut self, entries: Vec<Entry>, phase: Phase, mut row: impl FnMut(SilverRow, isize)) {
        let known = &mut self.known;
        let mut before: HashMap<(Symbol, u8), Option<Entry>> = HashMap::default();
        for entry in entries {
            let key = entry.key();
            let current = known.get(&key);
            if current.is_none_or(|c| entry_beats(&entry, c)) {
                before.entry(key).or_insert_with(|| current.cloned());
                known.insert(key, entry);
            }
        }
        if before.is_empty() || phase == Phase::Restore {
            return;
        }
        for event in self.winners.iter() {
            let key = (event.session_id, event.car_number);
            let Some(old) = before.get(&key) else { continue };
            let new = known.get(&key);
            if old.as_ref() != new {
                row(
                    SilverRow {
                        event: event.clone(),
                        entry: old.clone(),
                    },
                    -1,
                );
                row(
                    SilverRow {
                        event: event.clone(),
                        entry: new.cloned(),
                    },
                    1,
                );
            }
        }
    }

    /// Applies one event, emitting the changes of the silver collection
    /// and of its samples: nothing when it loses to the current winner,
    /// `-old +new` when it beats it, `+new` for a new id. An id that changes
    /// twice in one timestamp emits `-a +b -b +c`, which consolidates to `-a
    /// +c` downstream. A restored row is stored as a new id and emits its
    /// sample only.
    fn event(
        &mut self,
        event: Event,
        phase: Phase,
        stats: Option<&PipelineStats>,
        mut row: impl FnMut(SilverRow, isize),
        mut sample: impl FnMut((LapKey, LapSample), isize),
    ) {
        let count = |outcome| {
            if let Some(stats) = stats {
                stats.record_upsert(outcome);
            }
        };
        if phase == Phase::Restore {
            count(Outcome::Inserted);
            sample(sample_of(self.winners.store(event)), 1);
            return;
        }
        let known = &self.known;
        let entry_of = |event: &Event| known.get(&(event.session_id, event.car_number)).cloned();
        let state = &mut self.winners;
        let hash = state.hash(event.event_id());
        match state.upsert(hash, event) {
            Slot::Held(current, event) => {
                if !beats(&event, current) {
                    count(if event.revision < current.revision {
                        Outcome::Stale
                    } else {
                        Outcome::Duplicate
                    });
                } else {
                    count(Outcome::Corrected);
                    let old = std::mem::replace(current, event);
                    sample(sample_of(&old), -1);
                    sample(sample_of(current), 1);
                    let entry = entry_of(&old);
                    row(SilverRow { event: old, entry }, -1);
                    row(
                        SilverRow {
                            entry: entry_of(current),
                            event: current.clone(),
                        },
                        1,
                    );
                }
            }
            Slot::Inserted(event) => {
                count(Outcome::Inserted);
                sample(sample_of(event), 1);
                row(
                    SilverRow {
                        event: event.clone(),
                        entry: entry_of(event),
                    },
                    1,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::position as event;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

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

        /// A restore followed by live input (corrections of restored ids,
        /// new ids) gives the samples that the same events give all live:
        /// gold does not see whether its state was restored, even when the
        /// restored rows repeat an id.
        #[test]
        fn a_restore_then_live_input_samples_as_all_live(
            restored in proptest::collection::vec((0u64..30, 0u32..2, 0u8..3), 0..60),
            live in proptest::collection::vec((0u64..40, 0u32..4, 0u8..3), 0..60),
        ) {
            let restored: Vec<Event> = restored.iter().map(|&(s, r, v)| event(3, s, false, r, v)).collect();
            let live: Vec<Event> = live.iter().map(|&(s, r, v)| event(3, s, false, r, v)).collect();
            let all_live = samples_of(&[], &[restored.clone(), live.clone()].concat());
            prop_assert_eq!(samples_of(&restored, &live), all_live);
        }
    }

    /// The samples (consolidated, as of the end) and the live silver rows
    /// of a run that restores `restored` (on two restore times) and then
    /// reads `live` (on two times).
    fn samples_of(restored: &[Event], live: &[Event]) -> BTreeMap<(LapKey, LapSample), isize> {
        use timely::dataflow::operators::capture::{Capture, Extract};
        use timely::dataflow::operators::vec::Input as _;
        let (restored, live) = (restored.to_vec(), live.to_vec());
        let captured = timely::execute_directly(move |worker| {
            let (mut events, mut entries, samples) = worker.dataflow::<Time, _, _>(|scope| {
                let (events_in, events) = scope.new_input::<Event>();
                let (entries_in, entries) = scope.new_input::<Entry>();
                let restore = (!restored.is_empty()).then_some(Restore {
                    until: 1,
                    rows: restored.len() as u64,
                });
                let silver = silver_upsert_counted(events, entries, None, restore);
                (events_in, entries_in, silver.samples.inner.capture())
            });
            let start = if restored.is_empty() { 2 } else { 0 };
            events.advance_to(start);
            entries.advance_to(start);
            // Each list on two times: its first half, then the rest.
            for (i, e) in restored.iter().enumerate() {
                events.advance_to(Time::from(2 * i >= restored.len()));
                events.send(e.clone());
            }
            for (i, e) in live.iter().enumerate() {
                events.advance_to(2 + Time::from(2 * i >= live.len()));
                events.send(e.clone());
            }
            // execute_directly runs the dataflow to completion.
            drop((events, entries));
            samples
        });
        let mut out: BTreeMap<(LapKey, LapSample), isize> = BTreeMap::new();
        for (_, batch) in captured.extract() {
            for (sample, _, diff) in batch {
                *out.entry(sample).or_default() += diff;
            }
        }
        out.retain(|_, d| *d != 0);
        out
    }
}
