//! [`PartFiles`]: turns one worker's buffered updates of a checkpoint
//! ([`PartJob`]) into the checkpoint's files (and its silver changes and
//! dead letters on Kafka) and the [`Part`] that tells worker 0 about them.
//! It runs on the worker's part thread ([`super::part_thread`]), one job
//! at a time in checkpoint order, so that the worker goes on processing
//! epochs while the files are written.
//!
//! A part that could not be written is still returned, marked failed, so
//! that worker 0 commits nothing without it; nothing more is written then.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use racecast_connectors::crash;
use racecast_connectors::delta::{PartChanges, PartWriter};
use racecast_connectors::kafka::KafkaEmitter;
use racecast_dataflow::bronze::RecordKind;
use racecast_dataflow::expect::Tally;
use racecast_dataflow::silver::SilverRow;

use super::messages::{Latencies, Part, PartFailure, Update, WireTablePart};
use super::silver_changes::{SilverBuckets, consolidate_silver};
use crate::control::ProcessState;
use crate::error::{RunError, error_chain};
use crate::positions::{Position, Positions};

/// One checkpoint of one worker, as the part sink hands it over.
pub(crate) struct PartJob {
    /// The checkpoint's number.
    pub checkpoint: u64,
    /// Its epochs, in time order.
    pub epochs: Vec<EpochUpdates>,
    /// Its silver changes, by bucket.
    pub silver: SilverBuckets,
}

/// One epoch's updates, in the batches they arrived in.
pub(crate) struct EpochUpdates {
    pub batches: Vec<Vec<Update>>,
    /// When the frontier first passed the epoch (Unix ms), when measured.
    pub processed_ms: Option<i64>,
}

/// What a worker needs to write its parts.
pub(crate) struct PartFiles {
    worker: usize,
    writer: Option<PartWriter>,
    kafka: Option<KafkaEmitter>,
    sources: Vec<String>,
    run_id: Option<String>,
    state: Arc<ProcessState>,
    measure: bool,
}

impl PartFiles {
    /// Worker `worker`'s part files, through `writer` (`None` when it could
    /// not be opened: reported already) and `kafka` when given; measuring
    /// latencies when `measure`.
    pub fn new(
        worker: usize,
        writer: Option<PartWriter>,
        kafka: Option<KafkaEmitter>,
        sources: Vec<String>,
        state: Arc<ProcessState>,
        measure: bool,
    ) -> PartFiles {
        PartFiles {
            worker,
            writer,
            kafka,
            sources,
            run_id: None,
            state,
            measure,
        }
    }

    /// Writes `job`'s files; returns its part (marked failed when they
    /// could not be written).
    pub fn write(&mut self, job: PartJob) -> Part {
        let PartJob {
            checkpoint,
            epochs,
            silver,
        } = job;
        let mut part = Part {
            checkpoint,
            ..Part::default()
        };
        let mut changes = PartChanges::default();
        let mut latencies = self.measure.then(Latencies::default);
        let mut positions: BTreeMap<(u32, u32), Position> = BTreeMap::new();
        let (mut bronze, mut quarantine) = (0, 0);
        for update in epochs.iter().flat_map(|e| &e.batches).flatten() {
            match update {
                Update::Bronze(_) => bronze += 1,
                Update::Quarantine(_) => quarantine += 1,
                _ => {}
            }
        }
        changes.bronze.reserve_exact(bronze);
        changes.quarantine.reserve_exact(quarantine);
        for epoch in &epochs {
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
                    // (Silver changes are kept by bucket: see `PartSink::push`.)
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
        // written; the part goes to worker 0 only once both are done.
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
        part
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
        let tables = writer.write(part.checkpoint, changes)?;
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
