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
//! Memory: one `Event` (≤ 112 bytes, see `event.rs`) per retained event id in
//! a hash table keyed by the event's own id, plus the table's overhead (one
//! control byte per slot, at most 7/8 of the slots full, so between 1.14x
//! and 2.3x the slots per event, depending on where the table is between
//! two doublings).

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
use crate::event::{Event, EventId};
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
/// event: the event itself (≤ 112 bytes) plus 4-byte slots and control
/// bytes at most 7/8 full (5.7 to 11.4 bytes), instead of a table of whole
/// events whose empty slots cost 112 bytes each.
#[derive(Default)]
struct Winners {
    slots: HashTable<u32>,
    chunks: Vec<Vec<Event>>,
    hasher: foldhash::fast::RandomState,
}

impl Winners {
    fn hash(&self, id: &EventId) -> u64 {
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
            |&s| Self::slot(chunks, s).event_id == event.event_id,
            |&s| hasher.hash_one(&Self::slot(chunks, s).event_id),
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

    /// Makes room for `rows` events in all without growing.
    fn reserve(&mut self, rows: usize) {
        if rows > self.slots.capacity() {
            self.rebuild(rows);
        }
    }

    /// Replaces the slot table by one with room for `capacity` events,
    /// inserting the events in the order they are stored: a rehash by the
    /// table itself would visit them in slot order, one cache miss per
    /// event (at millions of events, the most expensive part of an insert).
    fn rebuild(&mut self, capacity: usize) {
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        let rehash = |&s: &u32| hasher.hash_one(&Self::slot(chunks, s).event_id);
        let mut rebuilt = HashTable::with_capacity(capacity);
        for (slot, event) in chunks.iter().flatten().enumerate() {
            // Fewer than 2^32 events: `upsert` checked the count.
            rebuilt.insert_unique(hasher.hash_one(&event.event_id), slot as u32, rehash);
        }
        self.slots = rebuilt;
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
    let mut events_in = builder.new_input(events, Exchange::new(|e: &Event| route(&e.event_id)));
    let mut entries_in = builder.new_input(entries.broadcast(), Pipeline);
    let (rows_out, rows) = builder.new_output::<Vec<(SilverRow, Time, isize)>>();
    let (samples_out, samples) = builder.new_output::<Vec<((LapKey, LapSample), Time, isize)>>();
    let (mut rows_out, mut samples_out) = (OutputBuilder::from(rows_out), OutputBuilder::from(samples_out));
    builder.build(move |_initial| {
        let mut upsert = Upsert::default();
        if let Some(r) = restore {
            // Routing by id spreads the rows evenly (to a few thousand at
            // millions), so a little slack is enough.
            let share = r.rows / peers.max(1);
            upsert.winners.reserve((share + share / 256 + 1024) as usize);
        }
        let rows_at = move |time: Time| restore.is_none_or(|r| time > r.until);
        let mut order: TimeOrder<Input, (Capability<Time>, Capability<Time>)> = TimeOrder::default();
        move |frontiers| {
            let (mut rows_out, mut samples_out) = (rows_out.activate(), samples_out.activate());
            let earliest = earliest(&frontiers[0])
                .into_iter()
                .chain(earliest(&frontiers[1]))
                .min();
            while let Some((caps, waited)) = order.next_closed(earliest) {
                let time = *caps.0.time();
                let (mut rows, mut samples) = (rows_out.session(&caps.0), samples_out.session(&caps.1));
                for input in waited {
                    upsert.apply(
                        input,
                        rows_at(time),
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
                if order.admit(&caps, time, earliest) {
                    let (mut rows, mut samples) = (rows_out.session(&caps.0), samples_out.session(&caps.1));
                    for event in events {
                        upsert.event(
                            event,
                            rows_at(time),
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
                if order.admit(&caps, time, earliest) {
                    let mut rows = rows_out.session(&caps.0);
                    upsert.entries(entries, rows_at(time), |row, diff| rows.give((row, time, diff)));
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
    /// Applies one waiting input (emitting silver rows only when `rows`).
    fn apply(
        &mut self,
        input: Input,
        rows: bool,
        stats: Option<&PipelineStats>,
        row: impl FnMut(SilverRow, isize),
        sample: impl FnMut((LapKey, LapSample), isize),
    ) {
        match input {
            Input::Event(event) => self.event(event, rows, stats, row, sample),
            Input::Entries(entries) => self.entries(entries, rows, row),
        }
    }

    /// Applies entries, emitting the changes of the silver collection (when
    /// `rows`): every held row of a key whose entry changed moves to the new
    /// entry. Samples do not depend on entries.
    fn entries(&mut self, entries: Vec<Entry>, rows: bool, mut row: impl FnMut(SilverRow, isize)) {
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
        if before.is_empty() || !rows {
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
    /// (when `rows`) and of its samples: nothing when it loses to the
    /// current winner, `-old +new` when it beats it, `+new` for a new id. An
    /// id that changes twice in one timestamp emits `-a +b -b +c`, which
    /// consolidates to `-a +c` downstream.
    fn event(
        &mut self,
        event: Event,
        rows: bool,
        stats: Option<&PipelineStats>,
        mut row: impl FnMut(SilverRow, isize),
        mut sample: impl FnMut((LapKey, LapSample), isize),
    ) {
        let count = |outcome| {
            if let Some(stats) = stats {
                stats.record_upsert(outcome);
            }
        };
        let known = &self.known;
        let entry_of = |event: &Event| known.get(&(event.session_id, event.car_number)).cloned();
        let state = &mut self.winners;
        let hash = state.hash(&event.event_id);
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
                    if rows {
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
            }
            Slot::Inserted(event) => {
                count(Outcome::Inserted);
                sample(sample_of(event), 1);
                if rows {
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
}
