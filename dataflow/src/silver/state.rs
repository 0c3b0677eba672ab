//! [`Upsert`]: what the silver upsert operator does with one input, apart
//! from when it does it: the winning event per id ([`Winners`]) and the
//! entry per car, and the silver rows and gold samples each change emits.

use hashbrown::HashMap;

use super::winners::{Slot, Winners};
use super::{SilverRow, beats, entry_beats};
use crate::entry::Entry;
use crate::event::Event;
use crate::gold::{LapKey, LapSample};
use crate::stats::{PipelineStats, Upsert as Outcome};
use crate::symbol::Symbol;

/// Whether a time is one of a resumed run's restore times, whose input is
/// silver's state as of the checkpoint it resumes from ([`super::Restore`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// A restore time: events are restored rows (distinct ids, stored
    /// without lookup and indexed at the end), and no silver row is
    /// emitted (the sinks hold them).
    Restore,
    /// Any other time.
    Live,
}

/// Input that waits for its time.
pub(super) enum Input {
    /// An event.
    Event(Event),
    /// A batch of entries.
    Entries(Vec<Entry>),
}

/// The upsert's state: the winning event per id and entry per car.
#[derive(Default)]
pub(super) struct Upsert {
    pub(super) winners: Winners,
    known: HashMap<(Symbol, u8), Entry>,
}

/// What gold reads of `event`: its lap key and sample.
pub(super) fn sample_of(event: &Event) -> (LapKey, LapSample) {
    (
        (event.session_id, event.car_number, event.lap),
        LapSample::of(event),
    )
}

impl Upsert {
    /// Applies one waiting input.
    pub(super) fn apply(
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
    pub(super) fn entries(
        &mut self,
        entries: Vec<Entry>,
        phase: Phase,
        mut row: impl FnMut(SilverRow, isize),
    ) {
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
    pub(super) fn event(
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
