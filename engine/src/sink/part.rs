//! [`PartSink`]: every worker's half of a checkpoint. It buffers the
//! dataflow's changes that reach this worker (bronze and quarantine where
//! they were read, silver by the (date, car) it owns, source positions) by
//! epoch, and once the frontier passes a checkpoint boundary it writes the
//! checkpoint's files (and sends its silver changes and dead letters to
//! Kafka) and hands worker 0 a [`Part`]: the Delta actions of those files
//! and what it counted.
//!
//! A part that could not be written still goes to worker 0, marked failed,
//! so that worker 0 commits nothing without it; this sink then writes
//! nothing more and fails the run.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use deltalake::kernel::Add;
use racecast_connectors::crash;
use racecast_connectors::delta::{PartChanges, PartWriter, bucket_of};
use racecast_connectors::host::now_ms;
use racecast_connectors::kafka::KafkaEmitter;
use racecast_dataflow::Time;
use racecast_dataflow::bronze::RecordKind;
use racecast_dataflow::expect::Tally;
use racecast_dataflow::silver::SilverRow;
use timely::dataflow::operators::Capability;
use timely::progress::frontier::AntichainRef;

use super::messages::{Latencies, Part, PartFailure, Update, WireTablePart};
use super::silver_changes::{SilverBuckets, consolidate_silver};
use crate::clock::CheckpointClock;
use crate::control::ProcessState;
use crate::error::{RunError, error_chain};
use crate::positions::{Position, Positions};

/// Capacity of the batches a [`PartSink`] makes for updates that arrive
/// in a batch of another epoch.
const LOOSE_BATCH: usize = 1024;

/// Starting capacity of a checkpoint's silver bucket (most get hundreds
/// to thousands of rows; a few late ones get one).
const BUCKET_START: usize = 64;

/// One pending epoch of a [`PartSink`].
struct Epoch {
    capability: Capability<Time>,
    /// The epoch's updates, in the batches they arrived in: a batch is
    /// kept whole rather than copied into one growing vector (whose
    /// doublings copied every update again into freshly faulted pages).
    batches: Vec<Vec<Update>>,
    /// When the frontier first passed the epoch (Unix ms).
    processed_ms: Option<i64>,
}

/// A worker's part sink: writes its files once per checkpoint boundary.
pub struct PartSink {
    clock: CheckpointClock,
    worker: usize,
    writer: Option<PartWriter>,
    kafka: Option<KafkaEmitter>,
    sources: Vec<String>,
    run_id: Option<String>,
    state: Arc<ProcessState>,
    pending: BTreeMap<Time, Epoch>,
    /// Silver changes by the boundary of their checkpoint, then bucket.
    silver: BTreeMap<Time, SilverBuckets>,
    measure: bool,
}

impl PartSink {
    /// Worker `worker`'s part sink, writing under `data` (where it owns the
    /// silver buckets of `silver_files`), cutting checkpoints by `clock`;
    /// measuring latencies when `measure`, sending to Kafka through
    /// `kafka` when given.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        data: &Path,
        sources: Vec<String>,
        worker: usize,
        silver_files: Vec<Add>,
        deletion_vectors: bool,
        clock: CheckpointClock,
        state: Arc<ProcessState>,
        measure: bool,
        kafka: Option<KafkaEmitter>,
    ) -> PartSink {
        let writer = match PartWriter::open(data, sources.clone(), worker, silver_files, deletion_vectors) {
            Ok(writer) => Some(writer),
            Err(e) => {
                state.fail(RunError::Delta(e));
                None
            }
        };
        PartSink {
            clock,
            worker,
            writer,
            kafka,
            sources,
            run_id: None,
            state,
            pending: BTreeMap::new(),
            silver: BTreeMap::new(),
            measure,
        }
    }

    /// Buffers `updates` of the epoch `capability` holds.
    /// Silver changes go to the epoch of their own time (at or after the
    /// capability's) and into their bucket; everything else to the
    /// capability's epoch, in the batches it came in.
    pub fn push(&mut self, capability: Capability<Time>, updates: &mut Vec<Update>) {
        let at = *capability.time();
        if !updates.iter().any(|u| matches!(u, Update::Silver(..))) {
            // A batch is kept whole rather than copied into one growing
            // vector (whose doublings copied every update again into
            // freshly faulted pages).
            let batch = std::mem::take(updates);
            self.epoch(&capability, at).batches.push(batch);
            return;
        }
        for update in updates.drain(..) {
            match update {
                Update::Silver(row, t, d) => {
                    let time = t.max(at);
                    // The epoch holds the capability its part goes out at.
                    self.epoch(&capability, time);
                    let bucket = bucket_of(&row);
                    self.silver
                        .entry(self.clock.boundary_after(time))
                        .or_default()
                        .entry(bucket)
                        .or_insert_with(|| Vec::with_capacity(BUCKET_START))
                        .push((row, d));
                }
                update => {
                    let batches = &mut self.epoch(&capability, at).batches;
                    match batches.last_mut() {
                        Some(batch) if batch.len() < batch.capacity() => batch.push(update),
                        _ => {
                            let mut batch = Vec::with_capacity(LOOSE_BATCH);
                            batch.push(update);
                            batches.push(batch);
                        }
                    }
                }
            }
        }
    }

    /// The pending epoch `time` (at or after `capability`'s), created if new.
    fn epoch(&mut self, capability: &Capability<Time>, time: Time) -> &mut Epoch {
        self.pending.entry(time).or_insert_with(|| Epoch {
            capability: capability.delayed(&time),
            batches: Vec::new(),
            processed_ms: None,
        })
    }

    /// Writes the part of every complete checkpoint; returns each with the
    /// capability to send it at.
    pub fn complete(&mut self, frontier: AntichainRef<'_, Time>) -> Vec<(Capability<Time>, Part)> {
        if self.measure {
            let now = now_ms();
            for (_, epoch) in self
                .pending
                .iter_mut()
                .take_while(|(t, _)| !frontier.less_equal(t))
            {
                epoch.processed_ms.get_or_insert(now);
            }
        }
        let below = self.clock.complete_below(frontier);
        let mut out = Vec::new();
        while let Some((&first, _)) = self.pending.first_key_value() {
            let boundary = self.clock.boundary_after(first);
            if boundary > below {
                break;
            }
            let rest = self.pending.split_off(&boundary);
            let epochs = std::mem::replace(&mut self.pending, rest);
            // Silver is kept by boundary: take every boundary up to this one.
            let mut rest = self.silver.split_off(&boundary);
            // (Every silver change has an epoch, so no earlier boundary is
            // left; merged all the same, should one be.)
            let mut silver = rest.remove(&boundary).unwrap_or_default();
            for buckets in std::mem::replace(&mut self.silver, rest).into_values() {
                for (bucket, rows) in buckets {
                    silver.entry(bucket).or_default().extend(rows);
                }
            }
            if let Some(part) = self.write(epochs, silver) {
                out.push(part);
            }
        }
        out
    }

    fn write(
        &mut self,
        epochs: BTreeMap<Time, Epoch>,
        silver: SilverBuckets,
    ) -> Option<(Capability<Time>, Part)> {
        // (`None` only when no epoch was given.)
        let mut part = Part::default();
        let mut changes = PartChanges::default();
        let mut latencies = self.measure.then(Latencies::default);
        let mut positions: BTreeMap<(u32, u32), Position> = BTreeMap::new();
        let first = epochs.first_key_value().map_or(0, |(t, _)| *t);
        part.checkpoint = self.clock.number(first);
        let (mut bronze, mut quarantine) = (0, 0);
        for update in epochs.values().flat_map(|e| &e.batches).flatten() {
            match update {
                Update::Bronze(_) => bronze += 1,
                Update::Quarantine(_) => quarantine += 1,
                _ => {}
            }
        }
        changes.bronze.reserve_exact(bronze);
        changes.quarantine.reserve_exact(quarantine);
        for epoch in epochs.values() {
            for update in epoch.batches.iter().flatten() {
                match update {
                    Update::Bronze(row) => {
                        part.records += 1;
                        match (row.valid, row.record.kind) {
                            (true, RecordKind::Event) => part.valid_events += 1,
                            (true, RecordKind::Entry) => part.valid_entries += 1,
                            (false, _) => {}
                        }
                        if let Some(l) = latencies.as_mut() {
                            l.ingested.add(row.record.ingested_ms);
                            if let Some(processed) = epoch.processed_ms {
                                l.processing.add(processed - row.record.ingested_ms);
                            }
                        }
                        changes.bronze.push(row);
                    }
                    Update::Quarantine(row) => {
                        part.quarantined += 1;
                        for code in row.reasons.codes() {
                            *part.reasons.entry(code).or_default() += 1;
                        }
                        changes.quarantine.push(row);
                    }
                    // (Silver changes are kept by bucket: see `push`.)
                    Update::Silver(..) => {}
                    Update::Position(p) => Positions::merge(&mut positions, *p),
                    Update::Run(id) => self.run_id = Some(id.clone()),
                    Update::Failed(failure) => part.failed = Some(failure.clone()),
                    Update::Quality(tallies) => Tally::add_each(&mut part.expectations, tallies),
                }
            }
        }
        part.positions = positions.into_values().collect();
        let consolidated = consolidate_silver(&silver);
        changes.silver = consolidated.buckets;
        part.corrections = consolidated.corrections;
        let mut drivers = HashMap::new();
        for (row, d) in changes.silver.values().flatten() {
            part.silver_delta += *d as i64;
            if let Some(entry) = &row.entry {
                drivers.insert((entry.session_id, entry.car_number), entry.driver_code);
            }
            if let (Some(l), true) = (latencies.as_mut(), *d > 0) {
                l.event_time.add(row.event.timestamp_ms);
            }
        }
        part.drivers = drivers
            .into_iter()
            .map(|((s, c), d)| ((s.to_string(), c), d.to_string()))
            .collect();
        part.latencies = latencies;
        // Kafka delivers in the background while the Delta files are
        // written; the part goes to worker 0 only once both are done. A
        // part that could not be written goes too, marked failed, so that
        // worker 0 commits nothing without it.
        if part.failed.is_none()
            && let Err(e) = self.write_part(&mut part, &changes)
        {
            part.failed = Some(PartFailure {
                worker: self.worker,
                message: error_chain(&e),
            });
            self.kafka = None;
            self.writer = None;
            self.state.fail(e);
        }
        let capability = epochs.into_values().next()?.capability;
        Some((capability, part))
    }

    /// Sends `changes` to Kafka (when wanted) and writes their Delta files,
    /// recording them in `part`.
    fn write_part(&mut self, part: &mut Part, changes: &PartChanges) -> Result<(), RunError> {
        let Some(writer) = self.writer.as_mut() else {
            // Reported when it failed.
            return Err(RunError::WorkerFailed {
                worker: self.worker,
                message: "its sink failed at an earlier checkpoint".into(),
            });
        };
        if self.worker == 1 && crash::armed("fail-part", part.checkpoint) {
            return Err(RunError::Injected {
                worker: self.worker,
                checkpoint: part.checkpoint,
            });
        }
        if let (Some(kafka), Some(run)) = (self.kafka.as_mut(), self.run_id.as_deref()) {
            let silver: Vec<(&SilverRow, isize)> = changes.silver.values().flatten().copied().collect();
            kafka.send_part(part.checkpoint, run, &silver, &changes.quarantine, &self.sources)?;
        }
        let tables = writer.write(changes)?;
        part.tables = tables
            .into_iter()
            .map(|(table, t)| WireTablePart {
                table: table.path().to_owned(),
                actions: t
                    .actions
                    .iter()
                    .map(|a| serde_json::to_string(a).expect("Delta actions serialize to JSON"))
                    .collect(),
                write_us: t.write.as_micros() as u64,
                inserted: t.inserted,
                retracted: t.retracted,
            })
            .collect();
        if let Some(kafka) = self.kafka.as_mut() {
            kafka.finish(part.checkpoint)?;
        }
        Ok(())
    }
}
