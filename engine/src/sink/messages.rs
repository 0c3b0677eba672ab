//! What crosses workers (and processes) on the way to a commit: the
//! dataflow's changes for each worker's part sink ([`Update`]), and what
//! worker 0's commit sink receives ([`ToCommit`]): every worker's [`Part`]
//! of a checkpoint (the files it wrote, as Delta actions, and what it
//! counted) and gold's changes.

use std::collections::BTreeMap;

use racecast_dataflow::Time;
use racecast_dataflow::bronze::{BronzeRow, QuarantineRow};
use racecast_dataflow::expect::Tally;
use racecast_dataflow::gold::{LapRow, SessionRow};
use racecast_dataflow::silver::SilverRow;

use crate::positions::Position;

/// What the dataflow hands to the sinks.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Update {
    /// A bronze row (to the worker that read it).
    Bronze(BronzeRow),
    /// A quarantine row (to the worker that read it).
    Quarantine(QuarantineRow),
    /// A silver change at its time (to the worker that owns its date and
    /// car). Differential sends changes under a capability at or before
    /// their time, so the time travels with the change.
    Silver(SilverRow, Time, isize),
    /// A source position (to the worker that read it).
    Position(Position),
    /// The run id, broadcast by worker 0 at the first epoch (it tags the
    /// Kafka records every worker writes).
    Run(String),
    /// The worker failed (what it read from then on is missing): the
    /// commit sink commits nothing more.
    Failed(PartFailure),
    /// What the expectation suite saw of an epoch's records on this worker
    /// (to the worker that read them).
    Quality(Vec<Tally>),
}

/// What worker 0's commit operator receives.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum ToCommit {
    /// One worker's part of a checkpoint.
    Part(Part),
    /// A lap-metric change at its time (differential sends a change under a
    /// capability at or before its time: the time travels with it).
    Lap(LapRow, Time, isize),
    /// A session-metric change at its time.
    Session(SessionRow, Time, isize),
}

/// Millisecond values, run-length encoded (records arrive mostly in time
/// order, so runs are long).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct MsRuns(pub(crate) Vec<(i64, u64)>);

impl MsRuns {
    pub(crate) fn add(&mut self, ms: i64) {
        self.add_n(ms, 1);
    }

    pub(crate) fn add_n(&mut self, ms: i64, n: u64) {
        match self.0.last_mut() {
            Some((last, count)) if *last == ms => *count += n,
            _ => self.0.push((ms, n)),
        }
    }

    pub(crate) fn extend(&mut self, other: MsRuns) {
        for (ms, n) in other.0 {
            self.add_n(ms, n);
        }
    }

    /// `(now - time, count)` for every time not after `now`.
    pub(crate) fn ages(&self, now: i64) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.0
            .iter()
            .filter(move |(t, _)| *t <= now)
            .map(move |(t, n)| (now - t, *n))
    }
}

/// What a checkpoint's latencies are measured from.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Latencies {
    /// Ingest times of its records.
    pub(crate) ingested: MsRuns,
    /// Ingest to the frontier passing the record's epoch, per record.
    pub(crate) processing: MsRuns,
    /// Event times of the silver rows it inserts.
    pub(crate) event_time: MsRuns,
}

/// One table's share of a part, as it crosses workers and processes
/// (actions as Delta log JSON).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct WireTablePart {
    pub(crate) table: String,
    pub(crate) actions: Vec<String>,
    pub(crate) write_us: u64,
    pub(crate) inserted: u64,
    pub(crate) retracted: u64,
}

/// One worker's part of one checkpoint: the files it wrote and what it
/// counted.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Part {
    /// The checkpoint (boundary index) it belongs to.
    pub(crate) checkpoint: u64,
    pub(crate) tables: Vec<WireTablePart>,
    pub(crate) records: u64,
    pub(crate) valid_events: u64,
    pub(crate) valid_entries: u64,
    pub(crate) quarantined: u64,
    pub(crate) reasons: BTreeMap<String, u64>,
    pub(crate) silver_delta: i64,
    pub(crate) corrections: u64,
    /// (session id, car number) → driver code, from the entries of silver rows.
    pub(crate) drivers: BTreeMap<(String, u8), String>,
    pub(crate) positions: Vec<Position>,
    /// What the expectation suite saw of the part's records, per
    /// expectation (empty without a suite).
    pub(crate) expectations: Vec<Tally>,
    pub(crate) latencies: Option<Latencies>,
    /// Why the worker's share of the checkpoint is missing, if it is.
    pub(crate) failed: Option<PartFailure>,
}

/// Why a worker's share of a checkpoint is missing.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PartFailure {
    /// The worker's global index.
    pub worker: usize,
    /// What it reported (the error and its causes).
    pub message: String,
}
