//! Silver: the valid record with the highest `revision` per `event_id`,
//! enriched with the entry list (SPEC §2), as a differential collection.
//!
//! [`UpsertLatest::upsert_latest`] is a custom timely operator rather than
//! a differential `reduce`, because its input is insert-only (bronze never
//! retracts): the winner for a key only ever moves up, so the operator
//! keeps just the current winner per `event_id` (one `Event` per key, no
//! history, no second arrangement of the input) and emits `-old +new` when
//! a record beats it. The tie rule for two different records with the same
//! `event_id` and `revision`: the greater by [`Event`]'s derived order wins
//! (compared field by field), which does not depend on arrival order.
//!
//! The operator has two outputs ([`Silver`]): the silver row (event and
//! entry) for the sinks, and the event's lap key and 48-byte
//! [`LapSample`] for gold, so that gold needs no copy of the row. A resumed
//! run's restore ([`Restore`]) emits samples only: its rows are in the
//! sinks already.
//!
//! Entries (a few dozen records) are broadcast to every worker. When an
//! entry's winner changes, the operator re-emits the silver rows of that
//! (`session_id`, `car_number`) it holds with the new entry.
//!
//! - [`upsert_latest`]: the operator, and when it applies its input;
//! - [`state`]: what one input does to the winners and entries;
//! - [`winners`]: the winner per id, stored compactly.
//!
//! Memory: one `Event` (≤ 96 bytes, see `event.rs`) per retained event id,
//! in fixed-size chunks, plus a hash table of 4-byte slot numbers and a
//! control byte per slot, at most 7/8 of the slots full (between 1.14x and
//! 2.3x the slots per event, depending on where the table is between two
//! doublings): see [`winners`].

mod state;
pub mod upsert_latest;
mod winners;

use differential_dataflow::VecCollection;

use crate::Time;
use crate::entry::Entry;
use crate::event::Event;
use crate::gold::{LapKey, LapSample};
pub use upsert_latest::UpsertLatest;

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

/// Whether `new` beats `current` for the same `event_id`.
pub fn beats(new: &Event, current: &Event) -> bool {
    (new.revision, new) > (current.revision, current)
}

/// Whether `new` beats `current` for the same entry key.
pub fn entry_beats(new: &Entry, current: &Entry) -> bool {
    (new.revision, new) > (current.revision, current)
}
