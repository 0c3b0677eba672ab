//! The whole dataflow, from ingested records to bronze, quarantine, silver
//! and gold, the entry list as read, and the expectation suite's tallies.
//! Sources feed [`Ingested`] records at their epochs; sinks read the
//! outputs and commit a checkpoint's changes once the frontier has
//! passed it.

use std::rc::Rc;
use std::sync::Arc;

use differential_dataflow::VecCollection;
use timely::dataflow::StreamVec;

use timely::dataflow::operators::Concat;

use crate::Time;
use crate::bronze::{BronzeRow, DecodeRecords, Ingested, QuarantineRow};
use crate::codec::Limits;
use crate::entry::Entry;
use crate::event::Event;
use crate::expect::{Suite, Tally};
use crate::gold::{GoldViews, LapRow, SessionRow};
use crate::silver::{Restore, SilverRow, UpsertLatest};
use crate::stats::PipelineStats;

/// The pipeline's outputs.
pub struct Outputs<'scope> {
    /// Every record as received (append-only).
    pub bronze: StreamVec<'scope, Time, BronzeRow>,
    /// Invalid records with their reasons (append-only).
    pub quarantine: StreamVec<'scope, Time, QuarantineRow>,
    /// Silver (without the restore epochs' rows: see [`Restored`]).
    pub silver: VecCollection<'scope, Time, SilverRow, isize>,
    /// `gold.lap_metrics`.
    pub lap_metrics: VecCollection<'scope, Time, LapRow, isize>,
    /// `gold.session_metrics`.
    pub session_metrics: VecCollection<'scope, Time, SessionRow, isize>,
    /// What the expectation suite saw of each time's records, per worker
    /// (one tally per expectation; empty without a suite).
    pub quality: StreamVec<'scope, Time, Vec<Tally>>,
    /// The valid entry-list records as read (and a resumed run's restored
    /// winners), on the worker that read them: the latest revision per
    /// (`session_id`, `car_number`) is the entry list in force.
    pub entries: StreamVec<'scope, Time, Entry>,
}

/// The state a resumed run starts from, fed as input at its restore
/// epochs (before any new record): silver's events as of the checkpoint it
/// resumes from, and the entry list's winners then. They enter the silver
/// upsert like new input, so silver's state and gold hold, after the
/// restore epochs, exactly the collections of that checkpoint. The silver
/// collection has no changes at those epochs (its rows are in the sinks
/// already); gold's changes there are the restored gold, which the sinks
/// take as their baseline.
pub struct Restored<'scope> {
    /// Silver's events (each worker feeds any share: they are routed by
    /// `event_id`).
    pub events: StreamVec<'scope, Time, Event>,
    /// The entry list's winners (fed once, by any one worker).
    pub entries: StreamVec<'scope, Time, Entry>,
    /// The restore times and size: silver emits no rows at those times.
    pub restore: Restore,
}

/// Builds the pipeline over `records`, validating with `limits` and the
/// expectation `suite`, starting from `restored` when a run resumes, and
/// counting what it sees in `stats` when given (see [`crate::stats`]).
pub fn build<'scope>(
    records: StreamVec<'scope, Time, Ingested>,
    limits: Limits,
    suite: Arc<Suite>,
    restored: Option<Restored<'scope>>,
    stats: Option<Rc<PipelineStats>>,
) -> Outputs<'scope> {
    let decoded = records.decode_records(limits, suite, stats.clone());
    let (events, entries, restore) = match restored {
        Some(r) => (
            decoded.events.concat(r.events),
            decoded.entries.concat(r.entries),
            Some(r.restore),
        ),
        None => (decoded.events, decoded.entries, None),
    };
    let silver = events.upsert_latest(entries.clone(), restore, stats);
    let gold = silver.samples.gold_views();
    Outputs {
        bronze: decoded.bronze,
        quarantine: decoded.quarantine,
        silver: silver.rows,
        lap_metrics: gold.lap_metrics,
        session_metrics: gold.session_metrics,
        quality: decoded.quality,
        entries,
    }
}
