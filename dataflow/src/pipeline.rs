//! The whole dataflow, from ingested records to bronze, quarantine, silver
//! and gold. Sources feed [`Ingested`] records at their epochs; sinks read
//! the five outputs and commit a checkpoint's changes once the frontier has
//! passed it.

use std::rc::Rc;

use differential_dataflow::VecCollection;
use timely::dataflow::StreamVec;

use crate::Time;
use crate::bronze::{BronzeRow, Ingested, QuarantineRow, decode_records_counted};
use crate::codec::Limits;
use crate::gold::{LapRow, SessionRow, gold_views};
use crate::silver::{SilverRow, silver_upsert_counted};
use crate::stats::PipelineStats;

/// The pipeline's outputs.
pub struct Outputs<'scope> {
    /// Every record as received (append-only).
    pub bronze: StreamVec<'scope, Time, BronzeRow>,
    /// Invalid records with their reasons (append-only).
    pub quarantine: StreamVec<'scope, Time, QuarantineRow>,
    /// Silver.
    pub silver: VecCollection<'scope, Time, SilverRow, isize>,
    /// `gold.lap_metrics`.
    pub lap_metrics: VecCollection<'scope, Time, LapRow, isize>,
    /// `gold.session_metrics`.
    pub session_metrics: VecCollection<'scope, Time, SessionRow, isize>,
}

/// Builds the pipeline over `records`; `restored` is silver as of the
/// checkpoint a run resumes from (empty for a fresh run; each worker passes
/// the rows it should own or all of them: rows are routed by `event_id`).
pub fn build<'scope>(
    records: StreamVec<'scope, Time, Ingested>,
    limits: Limits,
    restored: Vec<SilverRow>,
) -> Outputs<'scope> {
    build_counted(records, limits, restored, None)
}

/// As [`build`], counting what the pipeline sees in `stats` when given
/// (see [`crate::stats`]).
pub fn build_counted<'scope>(
    records: StreamVec<'scope, Time, Ingested>,
    limits: Limits,
    restored: Vec<SilverRow>,
    stats: Option<Rc<PipelineStats>>,
) -> Outputs<'scope> {
    let decoded = decode_records_counted(records, limits, stats.clone());
    let silver = silver_upsert_counted(decoded.events, decoded.entries, restored, stats);
    let gold = gold_views(silver.clone());
    Outputs {
        bronze: decoded.bronze,
        quarantine: decoded.quarantine,
        silver,
        lap_metrics: gold.lap_metrics,
        session_metrics: gold.session_metrics,
    }
}
