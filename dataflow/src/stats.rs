//! What the pipeline counts as it runs, for monitoring: records in per
//! source and type, quarantine reasons, the expectation suite's outcomes,
//! silver upsert outcomes, the silver state's size, and how late late
//! events are.
//!
//! [`PipelineStats`] lives in the worker that builds the dataflow (one per
//! worker, shared by its operators through an `Rc`): plain numbers, no
//! clock, no I/O. A connector reads it between steps ([`PipelineStats::take`])
//! and exports what it read. Nothing is counted unless the pipeline was
//! built with stats, so a run without metrics pays nothing.
//!
//! *Late*, here: an event whose event time is earlier than the newest event
//! time the same worker has already read for the same car (sources keep a
//! car's records in order within a partition, so an on-time stream has no
//! late event); its lateness is the difference.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use hashbrown::HashMap;

use crate::event::{Event, EventType};
use crate::expect::Tally;
use crate::reason::Reasons;
use crate::symbol::Symbol;

/// Record kinds counted per source: the six event types, then entry-list
/// records, then invalid records.
pub const KINDS: usize = EventType::ALL.len() + 2;

/// Index of valid entry-list records in a [`Counts::records`] row.
pub const ENTRY: usize = EventType::ALL.len();
/// Index of invalid records in a [`Counts::records`] row.
pub const INVALID: usize = EventType::ALL.len() + 1;

/// The label of record kind `kind` (an event type's SPEC name, `entry` or
/// `invalid`).
pub fn kind_name(kind: usize) -> &'static str {
    match kind {
        ENTRY => "entry",
        INVALID => "invalid",
        k => EventType::ALL.get(k).map_or("unknown", |t| t.as_str()),
    }
}

/// Counts taken out of [`PipelineStats`] since the previous take.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records per source index and kind (see [`KINDS`]).
    pub records: BTreeMap<u32, [u64; KINDS]>,
    /// Quarantined records per reason code (a record can have several).
    pub reasons: BTreeMap<String, u64>,
    /// Valid events that were the first of their `event_id`.
    pub inserted: u64,
    /// Valid events that replaced their id's winner (a correction).
    pub corrections: u64,
    /// Valid events equal in revision to their id's winner and not beating it.
    pub duplicates: u64,
    /// Valid events with a lower revision than their id's winner.
    pub stale: u64,
    /// Lateness of each late event, in milliseconds.
    pub lateness_ms: Vec<u64>,
    /// What each record-level expectation of the run's suite saw (by the
    /// expectation's index; empty without a suite).
    pub expectations: Vec<Tally>,
}

/// The silver upsert state's size, as of the last applied timestamp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateSize {
    /// Rows held (one winner per `event_id`).
    pub rows: u64,
    /// Bytes allocated for them (event chunks and the slot table).
    pub bytes: u64,
}

/// One worker's pipeline counters.
#[derive(Debug, Default)]
pub struct PipelineStats {
    counts: RefCell<Counts>,
    newest: RefCell<HashMap<(Symbol, u8), i64>>,
    state: Cell<StateSize>,
}

impl PipelineStats {
    /// Counts taken since the previous call.
    pub fn take(&self) -> Counts {
        std::mem::take(&mut *self.counts.borrow_mut())
    }

    /// The silver state's current size on this worker.
    pub fn state_size(&self) -> StateSize {
        self.state.get()
    }

    pub(crate) fn record_in(&self, source: u32, kind: usize) {
        if let Some(slot) = self
            .counts
            .borrow_mut()
            .records
            .entry(source)
            .or_default()
            .get_mut(kind)
        {
            *slot += 1;
        }
    }

    pub(crate) fn record_valid_event(&self, source: u32, event: &Event) {
        self.record_in(source, event.event_type() as usize);
        let mut newest = self.newest.borrow_mut();
        let slot = newest
            .entry((event.session_id, event.car_number))
            .or_insert(event.timestamp_ms);
        if event.timestamp_ms < *slot {
            let late = (*slot - event.timestamp_ms) as u64;
            self.counts.borrow_mut().lateness_ms.push(late);
        } else {
            *slot = event.timestamp_ms;
        }
    }

    pub(crate) fn record_invalid(&self, source: u32, reasons: &Reasons) {
        self.record_in(source, INVALID);
        let mut counts = self.counts.borrow_mut();
        for code in reasons.codes() {
            *counts.reasons.entry(code).or_default() += 1;
        }
    }

    /// Adds what the suite saw of some records to this take's tallies.
    pub(crate) fn add_expectations(&self, tallies: &[Tally]) {
        Tally::add_each(&mut self.counts.borrow_mut().expectations, tallies);
    }

    pub(crate) fn record_upsert(&self, outcome: Upsert) {
        let mut counts = self.counts.borrow_mut();
        match outcome {
            Upsert::Inserted => counts.inserted += 1,
            Upsert::Corrected => counts.corrections += 1,
            Upsert::Duplicate => counts.duplicates += 1,
            Upsert::Stale => counts.stale += 1,
        }
    }

    pub(crate) fn set_state_size(&self, size: StateSize) {
        self.state.set(size);
    }
}

/// What an event did to silver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Upsert {
    Inserted,
    Corrected,
    Duplicate,
    Stale,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_cover_every_kind() {
        let names: Vec<&str> = (0..KINDS).map(kind_name).collect();
        assert_eq!(
            names,
            [
                "position",
                "dynamics",
                "power_unit",
                "tire",
                "aerodynamics",
                "system",
                "entry",
                "invalid"
            ]
        );
    }
}
