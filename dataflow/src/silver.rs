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
//! Entries (a few dozen records) are broadcast to every worker. When an
//! entry's winner changes, the operator re-emits the silver rows of that
//! (`session_id`, `car_number`) it holds with the new entry.
//!
//! Updates are applied per timestamp, in timestamp order, once both input
//! frontiers have passed it, so the output at every time is exactly silver
//! of the input up to that time.
//!
//! Memory: one `Event` (≤ 128 bytes, see `event.rs`) per retained event id in
//! a hash table keyed by the event's own id, plus the table's overhead (one
//! control byte per slot, at most 7/8 of the slots full, so between 1.14x
//! and 2.3x the slots per event, depending on where the table is between
//! two doublings).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::rc::Rc;

use hashbrown::{HashMap, HashTable};

use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;

use crate::Time;
use crate::entry::Entry;
use crate::event::{Event, EventId};
use crate::stats::{PipelineStats, StateSize, Upsert};
use crate::symbol::Symbol;

/// A silver row: the winning event and its car's entry, if any is known.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct SilverRow {
    /// The event.
    pub event: Event,
    /// The entry-list record of (`session_id`, `car_number`).
    pub entry: Option<Entry>,
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
/// event: the event itself (≤ 128 bytes) plus 4-byte slots and control
/// bytes at most 7/8 full (5.7 to 11.4 bytes), instead of a table of whole
/// events whose empty slots cost 128 bytes each.
struct Winners {
    slots: HashTable<u32>,
    chunks: Vec<Vec<Event>>,
    hasher: foldhash::fast::RandomState,
}

impl Winners {
    fn new() -> Winners {
        Winners {
            slots: HashTable::new(),
            chunks: Vec::new(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn hash(&self, id: &EventId) -> u64 {
        self.hasher.hash_one(id)
    }

    fn slot(chunks: &[Vec<Event>], slot: u32) -> &Event {
        let slot = slot as usize;
        &chunks[slot / CHUNK][slot % CHUNK]
    }

    /// The current winner for `id` (whose hash is `hash`), if any.
    fn find_mut(&mut self, hash: u64, id: &EventId) -> Option<&mut Event> {
        let chunks = &self.chunks;
        let slot = *self
            .slots
            .find(hash, |&s| Self::slot(chunks, s).event_id == *id)? as usize;
        Some(&mut self.chunks[slot / CHUNK][slot % CHUNK])
    }

    /// Adds the first winner for an id that has none (`hash` is its id's).
    fn insert_new(&mut self, hash: u64, event: Event) {
        let slot = u32::try_from(self.len()).expect("a worker holds fewer than 2^32 silver rows");
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks.last_mut().expect("pushed above").push(event);
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        self.slots
            .insert_unique(hash, slot, |&s| hasher.hash_one(&Self::slot(chunks, s).event_id));
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

/// Whether `new` beats `current` for the same `event_id`.
pub fn beats(new: &Event, current: &Event) -> bool {
    (new.revision, new) > (current.revision, current)
}

/// Whether `new` beats `current` for the same entry key.
pub fn entry_beats(new: &Entry, current: &Entry) -> bool {
    (new.revision, new) > (current.revision, current)
}

/// A stable hash for routing, the same in every process.
pub fn route<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// The silver collection of `events`, enriched with `entries`.
pub fn silver_upsert<'scope>(
    events: StreamVec<'scope, Time, Event>,
    entries: StreamVec<'scope, Time, Entry>,
) -> VecCollection<'scope, Time, SilverRow, isize> {
    silver_upsert_counted(events, entries, None)
}

/// As [`silver_upsert`], counting upsert outcomes and the state's size in
/// `stats` when given.
pub fn silver_upsert_counted<'scope>(
    events: StreamVec<'scope, Time, Event>,
    entries: StreamVec<'scope, Time, Entry>,
    stats: Option<Rc<PipelineStats>>,
) -> VecCollection<'scope, Time, SilverRow, isize> {
    let entries = entries.broadcast();
    events
        .binary_frontier(
            entries,
            Exchange::new(|e: &Event| route(&e.event_id)),
            timely::dataflow::channels::pact::Pipeline,
            "SilverUpsert",
            move |_capability, _info| {
                let mut state = Winners::new();
                let mut known: HashMap<(Symbol, u8), Entry> = HashMap::default();
                let mut pending_events: BTreeMap<
                    Time,
                    (timely::dataflow::operators::Capability<Time>, Vec<Event>),
                > = BTreeMap::new();
                let mut pending_entries: BTreeMap<Time, Vec<Entry>> = BTreeMap::new();
                move |(events_in, events_frontier), (entries_in, entries_frontier), output| {
                    events_in.for_each_stamp(|cap, data| {
                        if let Some(cap) = cap.retain_least(output.output_index()) {
                            let time = *cap.time();
                            let slot = pending_events.entry(time).or_insert_with(|| (cap, Vec::new()));
                            slot.1.extend(data.flat_map(|d| d.drain(..)));
                        }
                    });
                    entries_in.for_each_stamp(|cap, data| {
                        if let Some(cap) = cap.retain_least(output.output_index()) {
                            let time = *cap.time();
                            pending_entries
                                .entry(time)
                                .or_default()
                                .extend(data.flat_map(|d| d.drain(..)));
                            // Entry changes re-emit rows: hold a capability for them too.
                            pending_events.entry(time).or_insert_with(|| (cap, Vec::new()));
                        }
                    });
                    let ready = |t: &Time| {
                        !events_frontier.frontier().less_equal(t)
                            && !entries_frontier.frontier().less_equal(t)
                    };
                    while let Some(entry) = pending_events.first_entry() {
                        if !ready(entry.key()) {
                            break;
                        }
                        let (time, (cap, events)) = entry.remove_entry();
                        let new_entries = pending_entries.remove(&time).unwrap_or_default();
                        let mut session = output.session(&cap);
                        apply_time(
                            &mut state,
                            &mut known,
                            new_entries,
                            events,
                            stats.as_deref(),
                            |row, diff| session.give((row, time, diff)),
                        );
                    }
                    if let Some(stats) = &stats {
                        stats.set_state_size(state.size());
                    }
                }
            },
        )
        .as_collection()
}

/// Applies one timestamp's entries and events to the state, emitting the
/// changes of the silver collection.
///
/// Entries first: every held row of a key whose entry changed is moved to
/// the new entry. Events then see only current entries, so a replaced
/// winner is retracted with the entry it is held with now, and each event
/// costs one hash and one probe. An id that changes twice in one timestamp
/// emits `-a +b -b +c`, which consolidates to `-a +c` downstream.
fn apply_time(
    state: &mut Winners,
    known: &mut HashMap<(Symbol, u8), Entry>,
    entries: Vec<Entry>,
    events: Vec<Event>,
    stats: Option<&PipelineStats>,
    mut emit: impl FnMut(SilverRow, isize),
) {
    let count = |outcome| {
        if let Some(stats) = stats {
            stats.record_upsert(outcome);
        }
    };
    let mut before: HashMap<(Symbol, u8), Option<Entry>> = HashMap::default();
    for entry in entries {
        let key = entry.key();
        let current = known.get(&key);
        if current.is_none_or(|c| entry_beats(&entry, c)) {
            before.entry(key).or_insert_with(|| current.cloned());
            known.insert(key, entry);
        }
    }
    if !before.is_empty() {
        for event in state.iter() {
            let key = (event.session_id, event.car_number);
            let Some(old) = before.get(&key) else { continue };
            let new = known.get(&key);
            if old.as_ref() != new {
                emit(
                    SilverRow {
                        event: event.clone(),
                        entry: old.clone(),
                    },
                    -1,
                );
                emit(
                    SilverRow {
                        event: event.clone(),
                        entry: new.cloned(),
                    },
                    1,
                );
            }
        }
    }
    let entry_of = |event: &Event| known.get(&(event.session_id, event.car_number)).cloned();
    for event in events {
        let hash = state.hash(&event.event_id);
        match state.find_mut(hash, &event.event_id) {
            Some(current) => {
                if !beats(&event, current) {
                    count(if event.revision < current.revision {
                        Upsert::Stale
                    } else {
                        Upsert::Duplicate
                    });
                } else {
                    count(Upsert::Corrected);
                    let old = std::mem::replace(current, event);
                    let entry = entry_of(&old);
                    emit(SilverRow { event: old, entry }, -1);
                    emit(
                        SilverRow {
                            entry: entry_of(current),
                            event: current.clone(),
                        },
                        1,
                    );
                }
            }
            None => {
                count(Upsert::Inserted);
                let entry = entry_of(&event);
                emit(
                    SilverRow {
                        event: event.clone(),
                        entry,
                    },
                    1,
                );
                state.insert_new(hash, event);
            }
        }
    }
}
