//! racecast's pure dataflow: everything between bytes and gold rows that needs
//! no I/O, no clock and no environment.
//!
//! Start with [`event`] (the domain record) and [`codec`] (bytes → valid
//! event or reasons), then [`pipeline`], which wires [`bronze`] (decode and
//! quarantine), [`silver`] (upsert by `event_id`, joined with the entry
//! list) and [`gold`] (lap and session metrics). Operators are extension
//! traits named for what they compute, as differential's own:
//! [`bronze::DecodeRecords::decode_records`],
//! [`silver::UpsertLatest::upsert_latest`],
//! [`gold::LapPartials::lap_partials`], [`gold::GoldViews::gold_views`].
//! With the `testing` feature, [`mod@reference`] is the batch computation every
//! crate's tests compare with, and [`testing`] runs the pipeline
//! in-process. Sources and sinks live in `racecast-connectors`, the
//! orchestration of a run (epochs, checkpoints, recovery) in
//! `racecast-engine`, the race simulator in `racecast-sim`.
#![deny(missing_docs)]

pub mod bronze;
pub mod codec;
pub mod date;
pub mod entry;
pub mod event;
pub mod expect;
pub mod gold;
pub mod pipeline;
pub mod real;
pub mod reason;
#[cfg(any(test, feature = "testing"))]
pub mod reference;
pub mod route;
pub mod silver;
pub mod stats;
pub mod symbol;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time_order;

pub use codec::{Format, Limits, decode_entry, decode_event};
pub use date::SessionDate;
pub use entry::{Entry, SessionType};
pub use event::{Event, EventId, EventIdRef, EventType, Payload, StoredId};
pub use real::Real;
pub use reason::{Reason, ReasonKind, Reasons};
pub use symbol::Symbol;

/// The dataflow's timestamp: an ingestion epoch, assigned by the sources.
/// A checkpoint is the frontier passing an epoch on every worker.
pub type Time = u64;
