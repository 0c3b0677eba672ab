//! [`Feeder`]: what each worker puts into the dataflow: a resumed run's
//! restored state first, then its share of the input (files, the
//! simulator or Kafka) from the positions it resumes from, stamped with
//! ingestion epochs of [`crate::run::RunConfig::epoch`] wall time each.
//!
//! Every source reports its positions ([`Position`]) at the epoch of the
//! records they cover, so a checkpoint's positions are exactly where its
//! input ends (see [`crate::positions`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use racecast_dataflow::bronze::{Ingested, RecordKind};
use racecast_dataflow::{Entry, Event, Format, Time};
use timely::dataflow::{InputHandleVec, ProbeHandle};

use crate::checkpoint::Update;
use crate::delta::restore::read_silver_events;
use crate::files::RecordReader;
use crate::kafka::{KafkaSource, SourceTopics};
use crate::metrics::worker::WorkerMetrics;
use crate::positions::{BLOCK, LANES, Position, Positions, lane_of, reads_lane};
use crate::resume::Resume;
use crate::run::{RunError, now_ms};
use racecast_sim::{SimConfig, SimRecord, Simulator, entry_list};

/// Records read from Kafka between two looks at the dataflow.
const KAFKA_BATCH: usize = 4096;

/// How long the dataflow may stay behind before the Kafka partitions are
/// paused: shorter stalls (a checkpoint's commits) only stop reading.
const PAUSE_AFTER: Duration = Duration::from_secs(2);

/// The restore inputs of a resumed run.
pub(crate) struct RestoreInputs<'a> {
    /// Silver's events.
    pub events: &'a mut InputHandleVec<Time, Event>,
    /// The entry list's winners.
    pub entries: &'a mut InputHandleVec<Time, Entry>,
}

/// Feeds one worker's share of the input.
pub(crate) struct Feeder<'a> {
    pub index: usize,
    pub peers: usize,
    pub records: &'a mut InputHandleVec<Time, Ingested>,
    /// Source positions (and a failure, if the worker fails), as updates
    /// for its part sink.
    pub positions: &'a mut InputHandleVec<Time, Update>,
    pub epoch: Time,
    pub epoch_length: Duration,
    pub epoch_started: Instant,
    /// Whether epochs keep to wall time (live sources: Kafka, the
    /// simulator). A file run moves at most one epoch per tick, so that a
    /// backlog makes its checkpoints larger rather than more frequent.
    pub live: bool,
    /// What the process's workers share (the epoch clock, the summary).
    pub shared: &'a crate::run::Shared,
    /// Epochs per checkpoint.
    pub k: u64,
    /// The last simulator position sent.
    pub reported: Option<u64>,
    pub metrics: Option<&'a mut WorkerMetrics>,
}

impl Feeder<'_> {
    /// Whether the dataflow is more than two epochs behind the input.
    fn behind(&self, probe: &ProbeHandle<Time>) -> bool {
        probe.less_than(&self.epoch.saturating_sub(2))
    }

    /// Moves every input to `epoch`.
    fn advance(&mut self, epoch: Time) {
        self.epoch = epoch;
        self.epoch_started = Instant::now();
        self.records.advance_to(epoch);
        self.positions.advance_to(epoch);
    }

    /// Starts the epoch clock as the input starts: at the instant the
    /// process's first worker got here, so that every worker's epoch
    /// boundaries fall at the same instants whenever each got through its
    /// setup (a worker behind the others holds back every checkpoint).
    fn start_clock(&mut self) {
        self.epoch_started = *self.shared.feed_clock.get_or_init(Instant::now);
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
    fn tick(&mut self, worker: &mut timely::worker::Worker, probe: &ProbeHandle<Time>) {
        // Infallible: the hook never fails.
        let _ = self.tick_with(worker, probe, |_| Ok(()));
    }

    /// [`Self::tick`], calling `stalled` with the time spent so far at
    /// every step while the dataflow is behind.
    fn tick_with(
        &mut self,
        worker: &mut timely::worker::Worker,
        probe: &ProbeHandle<Time>,
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
        let reading = crate::checkpoint::checkpoint_number(self.epoch, self.k);
        if crate::crash::armed("ingest", reading) && self.shared.summary.lock().expect("lock").checkpoints > 0
        {
            crate::crash::point("ingest", reading);
        }
        worker.step();
        let since = Instant::now();
        while self.behind(probe) {
            stalled(since.elapsed())?;
            worker.step();
        }
        if let Some(m) = self.metrics.as_mut() {
            m.publish_when_due();
        }
        Ok(())
    }

    /// Feeds a resumed run's state at its restore epochs (this worker's
    /// share of the silver files; worker 0 the entries), waiting for the
    /// dataflow to keep up, then moves every input past them.
    pub fn restore(
        &mut self,
        worker: &mut timely::worker::Worker,
        probe: &ProbeHandle<Time>,
        resume: &Resume,
        k: u64,
        inputs: RestoreInputs<'_>,
    ) -> Result<(), RunError> {
        let (epochs, last) = resume.restore_epochs(k);
        let first = resume.first_epoch(k);
        let move_to = |this: &mut Self, inputs: &mut RestoreInputs<'_>, epoch: Time| {
            this.advance(epoch);
            inputs.events.advance_to(epoch);
            inputs.entries.advance_to(epoch);
        };
        let mut inputs = inputs;
        move_to(self, &mut inputs, first);
        if self.index == 0 {
            for entry in &resume.entries {
                inputs.entries.send(entry.clone());
            }
        }
        for (i, add) in resume.silver_files.iter().enumerate() {
            if i % self.peers != self.index {
                continue;
            }
            if epochs[i] > self.epoch {
                move_to(self, &mut inputs, epochs[i]);
            }
            for event in read_silver_events(&resume.silver_dir, add)? {
                inputs.events.send(event);
            }
            worker.step();
            while self.behind(probe) {
                worker.step();
            }
        }
        move_to(self, &mut inputs, last + 1);
        // The state is whole once every worker's restore epochs are done.
        while probe.less_than(&(last + 1)) {
            worker.step();
        }
        Ok(())
    }

    /// Reads this worker's lanes of the files (entries first), from the
    /// positions in `start`.
    pub fn files(
        mut self,
        worker: &mut timely::worker::Worker,
        probe: &ProbeHandle<Time>,
        inputs: &[PathBuf],
        entries: Option<&PathBuf>,
        start: &Positions,
        stop: &AtomicBool,
    ) -> Result<(), RunError> {
        self.start_clock();
        let files: Vec<(&PathBuf, RecordKind)> = entries
            .map(|p| (p, RecordKind::Entry))
            .into_iter()
            .chain(inputs.iter().map(|p| (p, RecordKind::Event)))
            .collect();
        let lanes: Vec<u32> = (0..LANES)
            .filter(|&l| reads_lane(l, self.index, self.peers))
            .collect();
        for (source, (path, kind)) in files.into_iter().enumerate() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let source = source as u32;
            // Per lane: records before this are done (and where it starts).
            let from: Vec<Position> = (0..LANES)
                .map(|l| start.of(source, l).unwrap_or(Position::at(source, l, 0)))
                .collect();
            // Every record before the least position of this worker's lanes
            // is done: start there when its byte offset is known.
            let (mut next, byte) = lanes
                .iter()
                .map(|&l| from[l as usize])
                .min_by_key(|p| p.next)
                .and_then(|p| Some((p.next, p.byte?)))
                .unwrap_or((0, 0));
            let mut reader = RecordReader::open_at(path, byte, next)?;
            let format = reader.format();
            let mut value = Vec::new();
            while let Some(offset) = reader.read_into(&mut value)? {
                next = offset + 1;
                let lane = lane_of(offset);
                if reads_lane(lane, self.index, self.peers) && offset >= from[lane as usize].next {
                    self.records.send(Ingested {
                        source,
                        partition: 0,
                        offset,
                        ingested_ms: now_ms(),
                        kind,
                        format,
                        bytes: std::mem::take(&mut value),
                    });
                }
                if offset % BLOCK == BLOCK - 1 {
                    // The positions go out at the epoch of the records they
                    // cover (before the tick may start the next one).
                    self.report_lanes(source, &lanes, (next, reader.position()), &from);
                    self.tick(worker, probe);
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
            }
            self.report_lanes(source, &lanes, (next, reader.position()), &from);
        }
        self.crash_at_end_of_input(worker, probe, stop);
        Ok(())
    }

    /// `ingest@N` of a file run whose input ended before checkpoint N (a
    /// fast machine reads a small file in fewer epochs): keeps the epochs
    /// moving until this process has committed a checkpoint, then crashes
    /// with the rest of the input read and not committed.
    fn crash_at_end_of_input(
        &mut self,
        worker: &mut timely::worker::Worker,
        probe: &ProbeHandle<Time>,
        stop: &AtomicBool,
    ) {
        let Some(n) = crate::crash::armed_at("ingest") else {
            return;
        };
        while !stop.load(Ordering::Relaxed) {
            if self.shared.summary.lock().expect("lock").checkpoints > 0 {
                crate::crash::point("ingest", n);
            }
            self.tick(worker, probe);
        }
    }

    /// Reports every lane of `lanes` at `next` (the next record and its
    /// byte offset), or at its position in `from` when that is further.
    fn report_lanes(&mut self, source: u32, lanes: &[u32], next: (u64, u64), from: &[Position]) {
        let (next, byte) = next;
        for &lane in lanes {
            let done = from[lane as usize];
            let position = if next >= done.next {
                Position {
                    source,
                    partition: lane,
                    next,
                    byte: Some(byte),
                }
            } else {
                done
            };
            self.positions.send(Update::Position(position));
        }
    }

    /// Runs the simulated race on worker 0 (deterministic: a resumed run
    /// skips the deliveries before its position).
    #[allow(clippy::too_many_arguments)]
    pub fn simulator(
        mut self,
        worker: &mut timely::worker::Worker,
        probe: &ProbeHandle<Time>,
        config: &SimConfig,
        speed: Option<f64>,
        duration: Option<Duration>,
        start: &Positions,
        stop: &AtomicBool,
    ) -> Result<(), RunError> {
        self.live = true;
        self.start_clock();
        if self.index != 0 {
            return Ok(());
        }
        let started = Instant::now();
        let skip = start.next_of(0, 0);
        let mut offset = 0u64;
        let push = |this: &mut Self, offset: &mut u64, kind, bytes: Vec<u8>| {
            if *offset >= skip {
                this.records.send(Ingested {
                    source: 0,
                    partition: 0,
                    offset: *offset,
                    ingested_ms: now_ms(),
                    kind,
                    format: Format::Protobuf,
                    bytes,
                });
            }
            *offset += 1;
        };
        for entry in entry_list(config) {
            push(
                &mut self,
                &mut offset,
                RecordKind::Entry,
                prost::Message::encode_to_vec(&entry),
            );
        }
        let mut race_start = None;
        if let (None, Some(m)) = (speed, self.metrics.as_mut()) {
            // As fast as possible: there is no schedule to be behind.
            m.set_lag(0, 0, 0.0);
        }
        for delivery in Simulator::new(config.clone()) {
            if offset < skip {
                offset += 1;
                continue;
            }
            if stop.load(Ordering::Relaxed) || duration.is_some_and(|d| started.elapsed() >= d) {
                break;
            }
            let first = *race_start.get_or_insert(delivery.arrival_ms);
            if let Some(speed) = speed {
                let due =
                    Duration::from_secs_f64((delivery.arrival_ms - first).max(0) as f64 / 1000.0 / speed);
                while started.elapsed() < due && !stop.load(Ordering::Relaxed) {
                    // The position goes out with the records it covers,
                    // before the tick may start the next epoch.
                    self.report_simulator(offset);
                    self.tick(worker, probe);
                    worker.step_or_park(Some(Duration::from_millis(5)));
                }
                // Behind schedule: how late this record is delivered.
                if let Some(m) = self.metrics.as_mut() {
                    m.set_lag(0, 0, started.elapsed().saturating_sub(due).as_secs_f64());
                }
            }
            let bytes = match delivery.record {
                SimRecord::Event(e) => prost::Message::encode_to_vec(&e),
                SimRecord::Garbage(bytes) => bytes,
            };
            push(&mut self, &mut offset, RecordKind::Event, bytes);
            if offset.is_multiple_of(256) {
                self.report_simulator(offset);
                self.tick(worker, probe);
            }
        }
        self.report_simulator(offset.max(skip));
        Ok(())
    }

    fn report_simulator(&mut self, next: u64) {
        if self.reported == Some(next) {
            return;
        }
        self.reported = Some(next);
        self.positions.send(Update::Position(Position::at(0, 0, next)));
    }

    /// Reads this worker's share of the Kafka partitions from the positions
    /// in `start` until stopped, `duration` is up, or (with `stop_at_end`)
    /// the end offsets found at the start are reached.
    #[allow(clippy::too_many_arguments)]
    pub fn kafka(
        mut self,
        worker: &mut timely::worker::Worker,
        probe: &ProbeHandle<Time>,
        brokers: &str,
        topics: &SourceTopics,
        stop_at_end: bool,
        duration: Option<Duration>,
        start: &Positions,
        stop: &AtomicBool,
    ) -> Result<(), RunError> {
        self.live = true;
        self.start_clock();
        let started = Instant::now();
        let from: BTreeMap<(u32, i32), i64> = start
            .next
            .iter()
            .map(|p| ((p.source, p.partition as i32), p.next as i64))
            .collect();
        let mut source = KafkaSource::open(brokers, topics, self.index, self.peers, &from, stop_at_end)?;
        let mut last_lag = Instant::now();
        let mut reported = false;
        loop {
            if stop.load(Ordering::Relaxed) || duration.is_some_and(|d| started.elapsed() >= d) {
                break;
            }
            if stop_at_end && source.finished() {
                break;
            }
            let records = &mut *self.records;
            let read = source.read(Duration::from_millis(2), KAFKA_BATCH, |r| records.send(r))?;
            // Positions go out at the epoch of the records they cover, so a
            // checkpoint's positions are exactly where its input ends.
            if read > 0 || !reported {
                reported = true;
                self.report_partitions(&source);
            }
            // While the dataflow is behind, the tick waits for it and
            // nothing is read: the client stops fetching once its capped
            // queue is full, and keeps what it fetched. Only a long stall
            // pauses the partitions (which drops that queue: a resume
            // fetches it again).
            self.tick_with(worker, probe, |stalled| {
                if stalled >= PAUSE_AFTER {
                    source.set_paused(true)?;
                }
                Ok(())
            })?;
            source.set_paused(false)?;
            if let Some(m) = self.metrics.as_mut()
                && last_lag.elapsed() >= Duration::from_secs(1)
            {
                last_lag = Instant::now();
                for (p, records, seconds) in source.lag() {
                    m.set_lag_records(p.source, p.partition as u32, records);
                    m.set_lag(p.source, p.partition as u32, seconds);
                }
            }
        }
        self.report_partitions(&source);
        Ok(())
    }

    /// Sends the next offset of every partition `source` reads.
    fn report_partitions(&mut self, source: &KafkaSource) {
        for p in source.positions() {
            self.positions.send(Update::Position(Position::at(
                p.source,
                p.partition as u32,
                p.next as u64,
            )));
        }
    }
}
