//! [`Feeder`]: what each worker puts into the dataflow: a resumed run's
//! restored state first ([`restore`]), then its share of the input
//! ([`files`], [`simulator`] or [`kafka`]) from the positions it resumes
//! from, stamped with ingestion epochs of [`crate::RunConfig::epoch`] wall
//! time each.
//!
//! Every source reports its positions ([`Position`](crate::positions::Position))
//! at the epoch of the records they cover, so a checkpoint's positions are
//! exactly where its input ends (see [`crate::positions`]). The dataflow is
//! kept at most two epochs behind the input: memory stays bounded whatever
//! the source's speed.

mod files;
mod kafka;
mod restore;
mod simulator;

use std::time::{Duration, Instant};

use racecast_connectors::crash;
use racecast_connectors::metrics::worker::WorkerMetrics;
use racecast_dataflow::Time;
use racecast_dataflow::bronze::Ingested;
use timely::dataflow::{InputHandleVec, ProbeHandle};

pub(crate) use restore::RestoreInputs;

use crate::clock::CheckpointClock;
use crate::control::ProcessState;
use crate::error::RunError;
use crate::sink::Update;

/// Adds one record ingested at `ms` to `marks` (run-length encoded: a
/// source reads many records per clock reading).
fn mark(marks: &mut Vec<(i64, u64)>, ms: i64) {
    match marks.last_mut() {
        Some((last, n)) if *last == ms => *n += 1,
        _ => marks.push((ms, 1)),
    }
}

impl Drop for Feeder<'_> {
    fn drop(&mut self) {
        // The last epoch's ingest times (its records are sent already).
        self.send_marks();
    }
}

/// Feeds one worker's share of the input.
pub(crate) struct Feeder<'a> {
    index: usize,
    peers: usize,
    records: &'a mut InputHandleVec<Time, Ingested>,
    /// Ingest times of each epoch's records, sent as the epoch closes.
    ingest_marks: &'a mut InputHandleVec<Time, Vec<(i64, u64)>>,
    /// This epoch's ingest times so far (Unix ms, run-length encoded).
    marks: Vec<(i64, u64)>,
    /// Source positions (and a failure, if the worker fails), as updates
    /// for its part sink.
    positions: &'a mut InputHandleVec<Time, Update>,
    probe: ProbeHandle<Time>,
    epoch: Time,
    epoch_length: Duration,
    epoch_started: Instant,
    /// Whether epochs keep to wall time (live sources: Kafka, the
    /// simulator). A file run moves at most one epoch per tick, so that a
    /// backlog makes its checkpoints larger rather than more frequent.
    live: bool,
    /// The process's stop signal, epoch clock and committed count.
    state: &'a ProcessState,
    clock: CheckpointClock,
    metrics: Option<&'a mut WorkerMetrics>,
}

impl<'a> Feeder<'a> {
    /// The feeder of worker `index` of `peers`, sending into `records` and
    /// `positions` and watching `probe`, with epochs of `epoch_length`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        (index, peers): (usize, usize),
        records: &'a mut InputHandleVec<Time, Ingested>,
        ingest_marks: &'a mut InputHandleVec<Time, Vec<(i64, u64)>>,
        positions: &'a mut InputHandleVec<Time, Update>,
        probe: ProbeHandle<Time>,
        epoch_length: Duration,
        clock: CheckpointClock,
        state: &'a ProcessState,
        metrics: Option<&'a mut WorkerMetrics>,
    ) -> Feeder<'a> {
        Feeder {
            index,
            peers,
            records,
            ingest_marks,
            marks: Vec::new(),
            positions,
            probe,
            epoch: 0,
            epoch_length,
            epoch_started: Instant::now(),
            live: false,
            state,
            clock,
            metrics,
        }
    }
    /// Whether the dataflow is more than two epochs behind the input.
    fn behind(&self) -> bool {
        self.probe.less_than(&self.epoch.saturating_sub(2))
    }

    /// Moves every input to `epoch`.
    fn advance(&mut self, epoch: Time) {
        self.send_marks();
        self.epoch = epoch;
        self.epoch_started = Instant::now();
        self.records.advance_to(epoch);
        self.ingest_marks.advance_to(epoch);
        self.positions.advance_to(epoch);
    }

    /// Sends `record` into the dataflow at the current epoch.
    fn ingest(&mut self, record: Ingested) {
        mark(&mut self.marks, record.ingested_ms);
        self.records.send(record);
    }

    /// Sends the current epoch's ingest times.
    fn send_marks(&mut self) {
        if !self.marks.is_empty() {
            self.ingest_marks.send(std::mem::take(&mut self.marks));
        }
    }

    /// Starts the epoch clock as the input starts: at the instant the
    /// process's first worker got here, so that every worker's epoch
    /// boundaries fall at the same instants whenever each got through its
    /// setup (a worker behind the others holds back every checkpoint).
    fn start_clock(&mut self) {
        self.epoch_started = *self.state.feed_clock.get_or_init(Instant::now);
    }

    /// Moves to the epoch the clock is at, and keeps the dataflow at most
    /// two epochs behind (bounded memory).
    ///
    /// A live source's epochs keep to wall time even when a tick comes late
    /// (worker 0 commits checkpoints inside its steps): a worker that only
    /// moved one epoch per tick fell behind the others by its commit time at
    /// every checkpoint, and every worker's boundary waited for it. A file
    /// run moves one epoch per tick: under a backlog its checkpoints grow
    /// instead of coming every interval (each costs commits and rewrites of
    /// corrected silver buckets: 3 checkpoints instead of 8-9 took 2 M
    /// records through in 5.5-6.3 s instead of 8.4-9.1 s).
    fn tick(&mut self, worker: &mut timely::worker::Worker) {
        // Infallible: the hook never fails.
        let _ = self.tick_with(worker, |_| Ok(()));
    }

    /// [`Self::tick`], calling `stalled` with the time spent so far at
    /// every step while the dataflow is behind.
    fn tick_with(
        &mut self,
        worker: &mut timely::worker::Worker,
        mut stalled: impl FnMut(Duration) -> Result<(), RunError>,
    ) -> Result<(), RunError> {
        let elapsed = self.epoch_started.elapsed();
        if elapsed >= self.epoch_length {
            if self.live {
                let length = self.epoch_length.as_nanos().max(1);
                let passed = u64::try_from(elapsed.as_nanos() / length).unwrap_or(u64::MAX);
                let into_epoch =
                    Duration::from_nanos(u64::try_from(elapsed.as_nanos() % length).unwrap_or(0));
                self.advance(self.epoch.saturating_add(passed));
                self.epoch_started = Instant::now()
                    .checked_sub(into_epoch)
                    .unwrap_or_else(Instant::now);
            } else {
                self.advance(self.epoch + 1);
            }
        }
        // `ingest@N`: while reading checkpoint N's input, once this process
        // committed a checkpoint (so that a restart has one to resume from).
        let reading = self.clock.number(self.epoch);
        if crash::armed("panic", reading) {
            panic!("injected panic at checkpoint {reading} ({})", crash::CRASH_AT);
        }
        if crash::armed("ingest", reading) && self.state.committed() > 0 {
            crash::point("ingest", reading);
        }
        worker.step();
        let since = Instant::now();
        while self.behind() {
            stalled(since.elapsed())?;
            worker.step();
        }
        if let Some(m) = self.metrics.as_mut() {
            m.publish_when_due();
        }
        Ok(())
    }
}
