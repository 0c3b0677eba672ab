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
//! a hash set keyed by the event's own id, plus the set's overhead.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;

use crate::Time;
use crate::entry::Entry;
use crate::event::{Event, EventId};
use crate::symbol::Symbol;

/// A silver row: the winning event and its car's entry, if any is known.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct SilverRow {
    /// The event.
    pub event: Event,
    /// The entry-list record of (`session_id`, `car_number`).
    pub entry: Option<Entry>,
}

/// An event in the state set, hashed and compared by its `event_id` only.
struct ById(Event);

impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.0.event_id == other.0.event_id
    }
}
impl Eq for ById {}
impl Hash for ById {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.event_id.hash(state)
    }
}
impl Borrow<EventId> for ById {
    fn borrow(&self) -> &EventId {
        &self.0.event_id
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
    silver_upsert_from(events, entries, Vec::new())
}

/// As [`silver_upsert`], starting from a restored silver state: `restored`
/// rows are taken as already emitted (they are not output again).
pub fn silver_upsert_from<'scope>(
    events: StreamVec<'scope, Time, Event>,
    entries: StreamVec<'scope, Time, Entry>,
    restored: Vec<SilverRow>,
) -> VecCollection<'scope, Time, SilverRow, isize> {
    let entries = entries.broadcast();
    events
        .binary_frontier(
            entries,
            Exchange::new(|e: &Event| route(&e.event_id)),
            timely::dataflow::channels::pact::Pipeline,
            "SilverUpsert",
            move |_capability, _info| {
                let mut state: HashSet<ById> = HashSet::new();
                let mut known: HashMap<(Symbol, u8), Entry> = HashMap::new();
                for row in restored {
                    if let Some(entry) = row.entry {
                        known.insert(entry.key(), entry);
                    }
                    state.insert(ById(row.event));
                }
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
                        apply_time(&mut state, &mut known, new_entries, events, |row, diff| {
                            session.give((row, time, diff))
                        });
                    }
                }
            },
        )
        .as_collection()
}

/// Applies one timestamp's entries and events to the state, emitting the
/// changes of the silver collection.
fn apply_time(
    state: &mut HashSet<ById>,
    known: &mut HashMap<(Symbol, u8), Entry>,
    entries: Vec<Entry>,
    events: Vec<Event>,
    mut emit: impl FnMut(SilverRow, isize),
) {
    // Entries first: remember what each changed key had before this time.
    let mut before: HashMap<(Symbol, u8), Option<Entry>> = HashMap::new();
    for entry in entries {
        let key = entry.key();
        let current = known.get(&key);
        if current.is_none_or(|c| entry_beats(&entry, c)) {
            before.entry(key).or_insert_with(|| current.cloned());
            known.insert(key, entry);
        }
    }
    // Then events: remember each touched id's previous winner.
    let mut previous: HashMap<EventId, Option<Event>> = HashMap::new();
    for event in events {
        match state.get(&event.event_id) {
            Some(current) if !beats(&event, &current.0) => {}
            current => {
                let old = current.map(|c| c.0.clone());
                previous.entry(event.event_id.clone()).or_insert(old);
                state.replace(ById(event));
            }
        }
    }
    let entry_then = |event: &Event, before: &HashMap<(Symbol, u8), Option<Entry>>| {
        let key = (event.session_id, event.car_number);
        match before.get(&key) {
            Some(old) => old.clone(),
            None => known.get(&key).cloned(),
        }
    };
    let entry_now = |event: &Event| known.get(&(event.session_id, event.car_number)).cloned();
    // Rows whose entry changed but whose event did not.
    if !before.is_empty() {
        for ById(event) in state.iter() {
            let key = (event.session_id, event.car_number);
            if before.contains_key(&key) && !previous.contains_key(&event.event_id) {
                let (old, new) = (entry_then(event, &before), entry_now(event));
                if old != new {
                    emit(
                        SilverRow {
                            event: event.clone(),
                            entry: old,
                        },
                        -1,
                    );
                    emit(
                        SilverRow {
                            event: event.clone(),
                            entry: new,
                        },
                        1,
                    );
                }
            }
        }
    }
    // Rows whose event changed.
    for (id, old) in previous {
        if let Some(old) = old {
            let entry = entry_then(&old, &before);
            emit(SilverRow { event: old, entry }, -1);
        }
        let new = &state.get(&id).expect("touched ids are in the state").0;
        emit(
            SilverRow {
                event: new.clone(),
                entry: entry_now(new),
            },
            1,
        );
    }
}
