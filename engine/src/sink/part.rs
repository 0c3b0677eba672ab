//! [`PartSink`]: every worker's half of a checkpoint. It buffers the
//! dataflow's changes that reach this worker (bronze and quarantine where
//! they were read, silver by the (date, car) it owns, source positions) by
//! epoch, and once the frontier passes a checkpoint boundary it hands the
//! checkpoint to the worker's part thread ([`super::part_thread`]), which
//! writes its files (and sends its silver changes and dead letters to
//! Kafka, [`super::part_files`]); the [`Part`] that comes back (the Delta
//! actions of those files and what was counted) goes on to worker 0 under
//! the capability this sink held meanwhile.
//!
//! A part that could not be written still goes to worker 0, marked failed,
//! so that worker 0 commits nothing without it; this sink then writes
//! nothing more and fails the run.

use racecast_connectors::storage::Location;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use deltalake::kernel::Add;
use racecast_connectors::delta::{PartWriter, bucket_of};
use racecast_connectors::host::now_ms;
use racecast_connectors::kafka::KafkaEmitter;
use racecast_dataflow::Time;
use timely::dataflow::operators::Capability;
use timely::progress::frontier::AntichainRef;
use timely::scheduling::SyncActivator;

use super::messages::{Part, PartFailure, Update};
use super::part_files::{EpochUpdates, PartFiles, PartJob};
use super::part_thread::{PartThread, PartThreadError};
use super::silver_changes::SilverBuckets;
use crate::clock::CheckpointClock;
use crate::control::ProcessState;
use crate::error::RunError;

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

/// Where a [`PartSink`]'s checkpoints are written.
enum Writes {
    /// Not yet started (the operator starts the thread, [`PartSink::start`]).
    Idle(Box<PartFiles>),
    /// On the part thread.
    Thread(PartThread),
    /// Nowhere: the thread could not start or stopped (reported).
    Stopped,
}

/// A worker's part sink: writes its files once per checkpoint boundary.
pub struct PartSink {
    clock: CheckpointClock,
    worker: usize,
    state: Arc<ProcessState>,
    writes: Writes,
    pending: BTreeMap<Time, Epoch>,
    /// Silver changes by the boundary of their checkpoint, then bucket.
    silver: BTreeMap<Time, SilverBuckets>,
    /// The capability of each checkpoint being written, in order, with its
    /// number.
    in_flight: VecDeque<(Capability<Time>, u64)>,
    measure: bool,
}

impl PartSink {
    /// Worker `worker`'s part sink, writing under `data` (where it owns the
    /// silver buckets of `silver_files`), cutting checkpoints by `clock`;
    /// measuring latencies when `measure`, sending to Kafka through
    /// `kafka` when given.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        data: &Location,
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
        let files = PartFiles::new(worker, writer, kafka, sources, Arc::clone(&state), measure);
        PartSink {
            clock,
            worker,
            state,
            writes: Writes::Idle(Box::new(files)),
            pending: BTreeMap::new(),
            silver: BTreeMap::new(),
            in_flight: VecDeque::new(),
            measure,
        }
    }

    /// Starts the part thread, which wakes `activator` (the operator's)
    /// whenever a part is written.
    pub(crate) fn start(&mut self, activator: SyncActivator) {
        if let Writes::Idle(files) = std::mem::replace(&mut self.writes, Writes::Stopped) {
            match PartThread::spawn(self.worker, *files, activator) {
                Ok(thread) => self.writes = Writes::Thread(thread),
                Err(e) => self.state.fail(e.into_run_error(self.worker)),
            }
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

    /// Hands every complete checkpoint to the part thread (waiting while
    /// it is behind), keeping the capability its part goes out at.
    pub fn complete(&mut self, frontier: AntichainRef<'_, Time>) {
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
            self.hand_over(first, epochs, silver);
        }
    }

    /// Hands the checkpoint whose first epoch is `first` to the thread.
    fn hand_over(&mut self, first: Time, epochs: BTreeMap<Time, Epoch>, silver: SilverBuckets) {
        let checkpoint = self.clock.number(first);
        let mut capability = None;
        let epochs = epochs
            .into_values()
            .map(|epoch| {
                // The part goes out at its first epoch.
                capability.get_or_insert(epoch.capability);
                EpochUpdates {
                    batches: epoch.batches,
                    processed_ms: epoch.processed_ms,
                }
            })
            .collect();
        let Some(capability) = capability else {
            return;
        };
        let job = PartJob {
            checkpoint,
            epochs,
            silver,
        };
        let sent = match &self.writes {
            Writes::Thread(thread) => thread.send(job),
            Writes::Idle(_) | Writes::Stopped => Err(PartThreadError::Stopped),
        };
        if let Err(e) = sent {
            self.stop(e);
        }
        self.in_flight.push_back((capability, checkpoint));
    }

    /// The parts written since the last call, each with the capability to
    /// send it at, in checkpoint order. Once the thread has stopped, every
    /// part in flight comes back failed, so that worker 0 commits none.
    pub fn written(&mut self) -> Vec<(Capability<Time>, Part)> {
        let mut out = Vec::new();
        while !self.in_flight.is_empty() {
            let next = match &self.writes {
                Writes::Thread(thread) => thread.try_part(),
                Writes::Idle(_) | Writes::Stopped => Err(PartThreadError::Stopped),
            };
            let part = match next {
                Ok(Some(part)) => part,
                Ok(None) => break,
                Err(e) => {
                    self.stop(e);
                    let checkpoint = self.in_flight.front().map_or(0, |(_, c)| *c);
                    Part {
                        checkpoint,
                        failed: Some(PartFailure {
                            worker: self.worker,
                            message: "its part writer stopped".into(),
                        }),
                        ..Part::default()
                    }
                }
            };
            if let Some((capability, _)) = self.in_flight.pop_front() {
                out.push((capability, part));
            }
        }
        out
    }

    /// Stops writing: the run fails with `error` (once).
    fn stop(&mut self, error: PartThreadError) {
        if !matches!(self.writes, Writes::Stopped) {
            self.state.fail(error.into_run_error(self.worker));
        }
        self.writes = Writes::Stopped;
    }
}
