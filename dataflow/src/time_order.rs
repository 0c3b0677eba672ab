//! [`TimeOrder`]: feeds a stateful operator its input one timestamp after
//! another, applying as much of it as possible the moment it arrives.
//!
//! The operators that keep their own state (the silver upsert, the lap
//! upkeep) must apply a time's input only after every earlier time's, and
//! emit a time's changes only once all of its input is in. Input at the
//! input frontier's own time (in practice nearly all of it: sources advance
//! one epoch at a time) can be applied at once: nothing earlier can still
//! arrive. Only input ahead of the frontier waits, in a map by time. When
//! the frontier passes a time, the time is *closed*: its waiting input is
//! handed over and the operator emits what changed at it.
//!
//! Applying on arrival saves a copy of every record into a per-time buffer
//! (and that buffer's growth, which for an epoch of a million events is
//! page faults as much as copying). It relies on the operator's state
//! being indifferent to the order of updates *within* one time, which both
//! operators are (a maximum, counts and sums).
//!
//! Protocol, per activation: first drain [`TimeOrder::next_closed`] (the
//! frontier may have moved since the last activation), then read the input,
//! asking [`TimeOrder::admit`] for each message's time and
//! [`TimeOrder::defer`]ring what is not admitted.

use std::collections::BTreeMap;

use timely::dataflow::operators::Capability;

use crate::Time;

/// A capability to emit at one time, on one output or several.
pub trait TimeCap: Clone {
    /// Its time.
    fn time(&self) -> Time;
    /// A capability at a later time.
    fn delayed(&self, time: &Time) -> Self;
}

impl TimeCap for Capability<Time> {
    fn time(&self) -> Time {
        *Capability::time(self)
    }
    fn delayed(&self, time: &Time) -> Self {
        Capability::delayed(self, time)
    }
}

/// One capability per output of a two-output operator.
impl TimeCap for (Capability<Time>, Capability<Time>) {
    fn time(&self) -> Time {
        *self.0.time()
    }
    fn delayed(&self, time: &Time) -> Self {
        (self.0.delayed(time), self.1.delayed(time))
    }
}

/// Input of one operator, by time; see the module docs.
pub struct TimeOrder<D, C: TimeCap = Capability<Time>> {
    /// The time whose input is being applied on arrival, with a capability
    /// to emit its changes at.
    open: Option<C>,
    /// Input ahead of the frontier.
    waiting: BTreeMap<Time, (C, Vec<D>)>,
}

impl<D, C: TimeCap> Default for TimeOrder<D, C> {
    fn default() -> Self {
        TimeOrder {
            open: None,
            waiting: BTreeMap::new(),
        }
    }
}

impl<D, C: TimeCap> TimeOrder<D, C> {
    /// Whether input at `time` may be applied now: `time` is `earliest`, the
    /// least time any input may still bring (the frontiers' minimum), and
    /// every earlier time has been closed. Holds a capability for `time`
    /// (from `cap`, at or before it) until the time is closed.
    pub fn admit(&mut self, cap: &C, time: Time, earliest: Option<Time>) -> bool {
        if earliest != Some(time) {
            return false;
        }
        match &self.open {
            Some(open) if open.time() == time => true,
            Some(_) => false,
            None => {
                self.open = Some(cap.delayed(&time));
                true
            }
        }
    }

    /// Keeps `items` at `time` until the time is closed.
    pub fn defer(&mut self, cap: &C, time: Time, items: impl IntoIterator<Item = D>) {
        self.waiting
            .entry(time)
            .or_insert_with(|| (cap.delayed(&time), Vec::new()))
            .1
            .extend(items);
    }

    /// The next time that `earliest` (as in [`TimeOrder::admit`]) has
    /// passed, in time order: a capability at it and its input that waited.
    /// The caller applies the input, then emits the time's changes.
    pub fn next_closed(&mut self, earliest: Option<Time>) -> Option<(C, Vec<D>)> {
        let open = self.open.as_ref().map(|c| c.time());
        let waiting = self.waiting.first_key_value().map(|(t, _)| *t);
        let time = match (open, waiting) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        if earliest.is_some_and(|e| e <= time) {
            return None;
        }
        let waited = self.waiting.remove(&time);
        let cap = match self.open.take_if(|c| c.time() == time) {
            Some(cap) => cap,
            None => waited.as_ref().map(|(c, _)| c.clone())?,
        };
        Some((cap, waited.map(|(_, items)| items).unwrap_or_default()))
    }
}

/// The least time in a totally ordered frontier, `None` when it is empty.
pub fn earliest(frontier: &timely::progress::frontier::MutableAntichain<Time>) -> Option<Time> {
    frontier.frontier().iter().min().copied()
}
