//! `racecast run`: sources → dataflow → Delta sink, on timely workers.
//!
//! ```text
//! every worker                                   worker 0
//! ┌────────────────────────────┐                 ┌───────────────────────────────┐
//! │ source (its share of files │  bronze,        │ CheckpointSink: buffers updates│
//! │ or the simulator) ─▶ epoch │─ quarantine, ──▶│ by epoch; when the frontier    │
//! │ e records + positions      │  silver, gold,  │ passes epochs and the interval │
//! │ pipeline::build            │  positions      │ elapsed: one checkpoint = one  │
//! └────────────────────────────┘  (exchange→0)   │ commit per table (txn N)       │
//!                                                 └───────────────────────────────┘
//! ```
//!
//! Sources assign ingestion epochs (every [`RunConfig::epoch`] of wall time); a
//! checkpoint covers every epoch the frontier has passed, so each Delta
//! commit holds exactly one consistent frontier. File records are dealt to
//! workers in blocks of [`BLOCK`] records (block `b` to worker `b % peers`),
//! and each worker reports its next record per file with every epoch: the
//! checkpoint records these positions in every commit. The simulator runs on
//! worker 0 only.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use racecast_dataflow::bronze::{BronzeRow, Ingested, QuarantineRow, RecordKind};
use racecast_dataflow::gold::{LapRow, SessionRow};
use racecast_dataflow::silver::SilverRow;
use racecast_dataflow::stats::PipelineStats;
use racecast_dataflow::{Format, Limits, Symbol, Time, pipeline};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Concatenate, Input, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

use crate::delta::{CheckpointChanges, CheckpointInfo, DeltaError, DeltaSink, Table, TableCommit};
use crate::files::{FileError, RecordReader, format_of};
use crate::metrics::arrangements::ArrangementSizes;
use crate::metrics::worker::WorkerMetrics;
use crate::metrics::{DELTA, Metrics, MetricsError, MetricsServer, RowLabels, SinkLabels, TableLabels};
use crate::simulator::{SimConfig, SimRecord, Simulator, entry_list};

/// Records per block when dealing file records to workers.
pub const BLOCK: u64 = 1024;
/// Default wall time per ingestion epoch.
pub const EPOCH: Duration = Duration::from_millis(100);

/// Where the events come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// Record files, read to the end.
    Files {
        /// Event files (`.jsonl` / `.pb`).
        inputs: Vec<PathBuf>,
        /// Entry-list file, if any.
        entries: Option<PathBuf>,
    },
    /// The built-in simulator.
    Simulator {
        /// The race.
        config: SimConfig,
        /// Race time per wall time (1 = a live race); `None` = as fast as possible.
        speed: Option<f64>,
        /// Stop after this much wall time.
        duration: Option<Duration>,
    },
}

/// A validated run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Input.
    pub source: Source,
    /// Root of the Delta tables.
    pub data: PathBuf,
    /// Minimum wall time between checkpoints.
    pub checkpoint_interval: Duration,
    /// Wall time per ingestion epoch (the finest checkpoint grain);
    /// [`EPOCH`] is the default.
    pub epoch: Duration,
    /// Application id in the Delta `txn` actions.
    pub app_id: String,
    /// Print a live progress line on stderr.
    pub progress: bool,
    /// Serve Prometheus metrics on this address (this process's own).
    pub metrics_addr: Option<SocketAddr>,
}

/// Errors of a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A source file could not be read.
    #[error(transparent)]
    File(#[from] FileError),
    /// The Delta sink failed.
    #[error(transparent)]
    Delta(#[from] DeltaError),
    /// The data directory already holds a run's tables.
    #[error("\"{}\" already holds racecast tables (checkpoint {checkpoint}); resuming is not supported yet: pass --fresh to start over, or use another --data directory", .path.display())]
    Existing {
        /// The directory.
        path: PathBuf,
        /// Its last complete checkpoint.
        checkpoint: i64,
    },
    /// The metrics endpoint could not start.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// Timely could not start or a worker failed.
    #[error("the dataflow failed: {0}")]
    Dataflow(String),
}

/// What a run did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RunSummary {
    /// Records read (bronze rows).
    pub records: u64,
    /// Valid events.
    pub valid_events: u64,
    /// Valid entry-list records.
    pub valid_entries: u64,
    /// Invalid records, per reason code (a record can have several).
    pub quarantined_by_reason: BTreeMap<String, u64>,
    /// Invalid records.
    pub quarantined: u64,
    /// Silver rows at the end.
    pub silver_rows: i64,
    /// Corrections that replaced a silver row.
    pub corrections_applied: u64,
    /// Valid events that changed nothing (duplicates, stale revisions).
    pub duplicates_or_stale: u64,
    /// Lap rows at the end.
    pub lap_rows: i64,
    /// Checkpoints committed.
    pub checkpoints: u64,
    /// The last checkpoint's number.
    pub last_checkpoint: u64,
    /// Session rows at the end, in position order, with driver codes.
    pub classification: Vec<ClassifiedCar>,
    /// Wall time.
    pub elapsed_s: f64,
}

/// One line of the classification.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ClassifiedCar {
    /// Session id.
    pub session_id: String,
    /// Position.
    pub position: i64,
    /// Car number.
    pub car_number: u8,
    /// Driver code, when the entry list names it.
    pub driver_code: Option<String>,
    /// Completed laps.
    pub laps_completed: i64,
    /// Total time of completed laps.
    pub total_time_ms: i64,
    /// Gap to the leader on the same lap count.
    pub gap_to_leader_ms: Option<i64>,
    /// Best lap time.
    pub best_lap_ms: Option<i64>,
    /// Whether the car set the fastest lap.
    pub fastest_lap: bool,
}

/// A source position reported by a worker at an epoch.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// Global worker index.
    pub worker: usize,
    /// Source index.
    pub source: u32,
    /// Next record index this worker will read in the source.
    pub next: u64,
}

/// Everything the sink receives.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
enum Update {
    Bronze(BronzeRow),
    Quarantine(QuarantineRow),
    Silver(SilverRow, isize),
    Lap(LapRow, isize),
    Session(SessionRow, isize),
    Position(Position),
}

/// Runs the pipeline to the end of the input (or until `stop` is set),
/// serving metrics on [`RunConfig::metrics_addr`] when set.
pub fn run(config: RunConfig, timely: timely::Config, stop: Arc<AtomicBool>) -> Result<RunSummary, RunError> {
    let metrics = config
        .metrics_addr
        .map(|_| Arc::new(Metrics::new(process_index(&timely))));
    let _server = match (config.metrics_addr, &metrics) {
        (Some(addr), Some(metrics)) => Some(MetricsServer::start(addr, Arc::clone(metrics))?),
        _ => None,
    };
    run_with_metrics(config, timely, stop, metrics)
}

/// As [`run`], recording into `metrics` when given (and serving nothing:
/// [`RunConfig::metrics_addr`] is not looked at).
pub fn run_with_metrics(
    config: RunConfig,
    timely: timely::Config,
    stop: Arc<AtomicBool>,
    metrics: Option<Arc<Metrics>>,
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let sources = source_names(&config.source);
    let shared = Arc::new(Shared {
        stop,
        error: Mutex::new(None),
        summary: Mutex::new(RunSummary::default()),
    });
    let worker_shared = Arc::clone(&shared);
    let guards = timely::execute(timely, move |worker| {
        let shared = Arc::clone(&worker_shared);
        let (index, peers) = (worker.index(), worker.peers());
        let mut records: InputHandleVec<Time, Ingested> = InputHandleVec::new();
        let mut positions: InputHandleVec<Time, Position> = InputHandleVec::new();
        let probe = ProbeHandle::new();
        let mut sink = (index == 0)
            .then(|| CheckpointSink::new(&config, sources.clone(), Arc::clone(&shared), metrics.clone()));
        let stats = metrics.as_ref().map(|_| Rc::new(PipelineStats::default()));
        let mut worker_metrics = metrics.as_ref().zip(stats.as_ref()).map(|(m, stats)| {
            let arrangements = ArrangementSizes::register(worker);
            WorkerMetrics::new(
                Arc::clone(m),
                index,
                sources.clone(),
                Rc::clone(stats),
                arrangements,
            )
        });
        worker.dataflow::<Time, _, _>(|scope| {
            let out = pipeline::build_counted(
                scope.input_from(&mut records),
                Limits::default(),
                Vec::new(),
                stats,
            );
            let streams = vec![
                out.bronze.map(Update::Bronze),
                out.quarantine.map(Update::Quarantine),
                out.silver.inner.map(|(r, _, d)| Update::Silver(r, d)),
                out.lap_metrics.inner.map(|(r, _, d)| Update::Lap(r, d)),
                out.session_metrics.inner.map(|(r, _, d)| Update::Session(r, d)),
                scope.input_from(&mut positions).map(Update::Position),
            ];
            scope.concatenate(streams).probe_with(&probe).sink(
                Exchange::new(|_: &Update| 0),
                "CheckpointSink",
                move |(input, frontier)| {
                    let Some(sink) = sink.as_mut() else {
                        return;
                    };
                    input.for_each_stamp(|cap, data| {
                        let Some(&time) = cap.least() else {
                            return;
                        };
                        let buffer = sink.pending.entry(time).or_default();
                        for batch in data {
                            buffer.append(batch);
                        }
                    });
                    sink.maybe_checkpoint(frontier.frontier());
                },
            );
        });
        let feed = Feeder {
            index,
            peers,
            records: &mut records,
            positions: &mut positions,
            epoch: 0,
            epoch_length: config.epoch,
            epoch_started: Instant::now(),
            metrics: worker_metrics.as_mut(),
        };
        let outcome = match &config.source {
            Source::Files { inputs, entries } => {
                feed.files(worker, &probe, inputs, entries.as_ref(), &shared.stop)
            }
            Source::Simulator {
                config: sim,
                speed,
                duration,
            } => feed.simulator(worker, &probe, sim, *speed, *duration, &shared.stop),
        };
        if let Err(e) = outcome {
            shared.fail(RunError::File(e));
        }
        // Closing the inputs lets the frontier run out; the sink then writes
        // the final checkpoint and every dataflow completes.
        drop(records);
        drop(positions);
        match worker_metrics.as_mut() {
            None => while worker.step_or_park(None) {},
            Some(m) => {
                // Park briefly so that this worker's metrics stay current
                // while others still feed.
                while worker.step_or_park(Some(PUBLISH_EVERY)) {
                    m.publish_when_due();
                }
                m.publish();
            }
        }
    })
    .map_err(RunError::Dataflow)?;
    for result in guards.join() {
        result.map_err(RunError::Dataflow)?;
    }
    if let Some(error) = shared.error.lock().expect("lock").take() {
        return Err(error);
    }
    let mut summary = shared.summary.lock().expect("lock").clone();
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Checks whether `data` already holds tables of a run.
pub fn existing_checkpoint(data: &std::path::Path, app_id: &str) -> Result<Option<i64>, RunError> {
    if !data.join(Table::Bronze.path()).join("_delta_log").exists() {
        return Ok(None);
    }
    let runtime = runtime();
    let sink = runtime.block_on(DeltaSink::open(data, app_id, Vec::new()))?;
    Ok(runtime.block_on(sink.complete_checkpoint())?)
}

/// This process's index in the timely cluster.
pub fn process_index(config: &timely::Config) -> usize {
    match &config.communication {
        timely::CommunicationConfig::Cluster { process, .. } => *process,
        _ => 0,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime starts")
}

fn source_names(source: &Source) -> Vec<String> {
    match source {
        Source::Files { inputs, entries } => entries
            .iter()
            .chain(inputs)
            .map(|p| p.display().to_string())
            .collect(),
        Source::Simulator { .. } => vec!["simulator".into()],
    }
}

struct Shared {
    stop: Arc<AtomicBool>,
    error: Mutex<Option<RunError>>,
    summary: Mutex<RunSummary>,
}

impl Shared {
    fn fail(&self, error: RunError) {
        let mut slot = self.error.lock().expect("lock");
        if slot.is_none() {
            *slot = Some(error);
        }
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// How long an idle worker parks between looks at its metrics.
const PUBLISH_EVERY: Duration = crate::metrics::worker::PUBLISH_EVERY;

/// Feeds one worker's share of the input.
struct Feeder<'a> {
    index: usize,
    peers: usize,
    records: &'a mut InputHandleVec<Time, Ingested>,
    positions: &'a mut InputHandleVec<Time, Position>,
    epoch: Time,
    epoch_length: Duration,
    epoch_started: Instant,
    metrics: Option<&'a mut WorkerMetrics>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Feeder<'_> {
    /// Moves to the next epoch when its time is up, and keeps the dataflow
    /// at most two epochs behind (bounded memory).
    fn tick(&mut self, worker: &mut timely::worker::Worker, probe: &ProbeHandle<Time>) {
        if self.epoch_started.elapsed() >= self.epoch_length {
            self.epoch += 1;
            self.epoch_started = Instant::now();
            self.records.advance_to(self.epoch);
            self.positions.advance_to(self.epoch);
        }
        worker.step();
        while probe.less_than(&self.epoch.saturating_sub(2)) {
            worker.step();
        }
        if let Some(m) = self.metrics.as_mut() {
            m.publish_when_due();
        }
    }

    fn files(
        mut self,
        worker: &mut timely::worker::Worker,
        probe: &ProbeHandle<Time>,
        inputs: &[PathBuf],
        entries: Option<&PathBuf>,
        stop: &AtomicBool,
    ) -> Result<(), FileError> {
        let files: Vec<(&PathBuf, RecordKind)> = entries
            .map(|p| (p, RecordKind::Entry))
            .into_iter()
            .chain(inputs.iter().map(|p| (p, RecordKind::Event)))
            .collect();
        for (source, (path, kind)) in files.into_iter().enumerate() {
            let source = source as u32;
            let mut reader = RecordReader::open(path)?;
            let format = reader.format();
            let mut value = Vec::new();
            let mut next = 0;
            while let Some(offset) = reader.read_into(&mut value)? {
                next = offset + 1;
                if (offset / BLOCK) as usize % self.peers == self.index {
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
                    let before = self.epoch;
                    self.tick(worker, probe);
                    if self.epoch != before {
                        self.positions.send(Position {
                            worker: self.index,
                            source,
                            next,
                        });
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
            }
            self.positions.send(Position {
                worker: self.index,
                source,
                next,
            });
        }
        Ok(())
    }

    fn simulator(
        mut self,
        worker: &mut timely::worker::Worker,
        probe: &ProbeHandle<Time>,
        config: &SimConfig,
        speed: Option<f64>,
        duration: Option<Duration>,
        stop: &AtomicBool,
    ) -> Result<(), FileError> {
        if self.index != 0 {
            return Ok(());
        }
        let started = Instant::now();
        let mut offset = 0u64;
        let push = |this: &mut Self, offset: &mut u64, kind, bytes: Vec<u8>| {
            this.records.send(Ingested {
                source: 0,
                partition: 0,
                offset: *offset,
                ingested_ms: now_ms(),
                kind,
                format: Format::Protobuf,
                bytes,
            });
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
            if stop.load(Ordering::Relaxed) || duration.is_some_and(|d| started.elapsed() >= d) {
                break;
            }
            let start = *race_start.get_or_insert(delivery.arrival_ms);
            if let Some(speed) = speed {
                let due =
                    Duration::from_secs_f64((delivery.arrival_ms - start).max(0) as f64 / 1000.0 / speed);
                while started.elapsed() < due && !stop.load(Ordering::Relaxed) {
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
                self.tick(worker, probe);
                self.positions.send(Position {
                    worker: 0,
                    source: 0,
                    next: offset,
                });
            }
        }
        self.positions.send(Position {
            worker: 0,
            source: 0,
            next: offset,
        });
        Ok(())
    }
}

/// Everything buffered for one epoch.
#[derive(Default)]
struct Pending {
    updates: Vec<Update>,
    /// When the sink first saw the frontier pass the epoch (Unix ms): its
    /// changes were final from then on.
    processed_ms: Option<i64>,
}

impl Pending {
    fn append(&mut self, batch: &mut Vec<Update>) {
        self.updates.append(batch);
    }
}

/// Worker 0's sink: turns completed epochs into checkpoints.
struct CheckpointSink {
    pending: BTreeMap<Time, Pending>,
    runtime: tokio::runtime::Runtime,
    delta: Option<DeltaSink>,
    shared: Arc<Shared>,
    interval: Duration,
    last_checkpoint: Instant,
    next_number: u64,
    run_id: String,
    positions: BTreeMap<(usize, u32), u64>,
    drivers: HashMap<(Symbol, u8), Symbol>,
    progress: bool,
    started: Instant,
    last_progress: Instant,
    metrics: Option<Arc<Metrics>>,
}

impl CheckpointSink {
    fn new(
        config: &RunConfig,
        sources: Vec<String>,
        shared: Arc<Shared>,
        metrics: Option<Arc<Metrics>>,
    ) -> CheckpointSink {
        let runtime = runtime();
        let delta = match runtime.block_on(DeltaSink::open(&config.data, &config.app_id, sources)) {
            Ok(delta) => Some(delta),
            Err(e) => {
                shared.fail(RunError::Delta(e));
                None
            }
        };
        let run_id = uuid::Uuid::new_v4().to_string();
        CheckpointSink {
            pending: BTreeMap::new(),
            runtime,
            delta,
            shared,
            interval: config.checkpoint_interval,
            last_checkpoint: Instant::now(),
            next_number: 1,
            run_id,
            positions: BTreeMap::new(),
            drivers: HashMap::new(),
            progress: config.progress,
            started: Instant::now(),
            last_progress: Instant::now(),
            metrics,
        }
    }

    fn maybe_checkpoint(&mut self, frontier: timely::progress::frontier::AntichainRef<'_, Time>) {
        if self.metrics.is_some() {
            let now = now_ms();
            for (_, pending) in self
                .pending
                .iter_mut()
                .take_while(|(t, _)| !frontier.less_equal(t))
            {
                pending.processed_ms.get_or_insert(now);
            }
        }
        let done = frontier.is_empty();
        let complete = self
            .pending
            .keys()
            .next()
            .is_some_and(|t| !frontier.less_equal(t));
        if !(complete && (done || self.last_checkpoint.elapsed() >= self.interval)) {
            return;
        }
        let mut epochs = Vec::new();
        while let Some(entry) = self.pending.first_entry() {
            if frontier.less_equal(entry.key()) {
                break;
            }
            epochs.push(entry.remove());
        }
        self.last_checkpoint = Instant::now();
        if let Err(e) = self.checkpoint(epochs) {
            self.shared.fail(RunError::Delta(e));
        }
    }

    fn checkpoint(&mut self, epochs: Vec<Pending>) -> Result<(), DeltaError> {
        let Some(delta) = self.delta.as_mut() else {
            return Ok(());
        };
        let checkpoint_started = Instant::now();
        let mut latency = self.metrics.as_ref().map(|_| Latencies::default());
        let mut changes = CheckpointChanges::default();
        let (mut silver, mut laps, mut sessions) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        let mut summary = self.shared.summary.lock().expect("lock");
        let updates = epochs
            .into_iter()
            .flat_map(|p| p.updates.into_iter().map(move |u| (p.processed_ms, u)));
        for (processed_ms, update) in updates {
            match update {
                Update::Bronze(row) => {
                    summary.records += 1;
                    match (row.valid, row.record.kind) {
                        (true, RecordKind::Event) => summary.valid_events += 1,
                        (true, RecordKind::Entry) => summary.valid_entries += 1,
                        (false, _) => {}
                    }
                    if let Some(l) = latency.as_mut() {
                        l.ingested.add(row.record.ingested_ms);
                        if let Some(processed) = processed_ms {
                            l.processing.add(processed - row.record.ingested_ms);
                        }
                    }
                    changes.bronze.push(row);
                }
                Update::Quarantine(row) => {
                    summary.quarantined += 1;
                    for code in row.reasons.codes() {
                        *summary.quarantined_by_reason.entry(code).or_default() += 1;
                    }
                    changes.quarantine.push(row);
                }
                Update::Silver(row, d) => *silver.entry(row).or_insert(0) += d,
                Update::Lap(row, d) => *laps.entry(row).or_insert(0) += d,
                Update::Session(row, d) => *sessions.entry(row).or_insert(0) += d,
                Update::Position(p) => {
                    let slot = self.positions.entry((p.worker, p.source)).or_insert(0);
                    *slot = (*slot).max(p.next);
                }
            }
        }
        changes.silver = silver.into_iter().filter(|(_, d)| *d != 0).collect();
        if let Some(l) = latency.as_mut() {
            for (row, _) in changes.silver.iter().filter(|(_, d)| *d > 0) {
                l.event_time.add(row.event.timestamp_ms);
            }
        }
        changes.laps = laps.into_iter().filter(|(_, d)| *d != 0).collect();
        changes.sessions = sessions.into_iter().filter(|(_, d)| *d != 0).collect();
        for (row, d) in &changes.silver {
            summary.silver_rows += *d as i64;
            if let Some(entry) = &row.entry {
                self.drivers
                    .insert((entry.session_id, entry.car_number), entry.driver_code);
            }
        }
        summary.corrections_applied += corrections_applied(&changes.silver);
        summary.lap_rows += changes.laps.iter().map(|(_, d)| *d as i64).sum::<i64>();
        summary.duplicates_or_stale = summary
            .valid_events
            .saturating_sub(summary.silver_rows.max(0) as u64 + summary.corrections_applied);
        let session_changes = changes.sessions.clone();
        let positions = serde_json::json!({
            "block": BLOCK,
            "workers": self.positions.iter().map(|((w, s), n)| serde_json::json!({"worker": w, "source": s, "next": n})).collect::<Vec<_>>(),
        });
        let info = CheckpointInfo {
            number: self.next_number,
            run_id: self.run_id.clone(),
            positions,
        };
        drop(summary);
        let commits = self.runtime.block_on(delta.commit(&info, changes))?;
        if let (Some(m), Some(l)) = (&self.metrics, latency) {
            record_commit(m, &commits, l, self.next_number, checkpoint_started.elapsed());
        }
        let mut summary = self.shared.summary.lock().expect("lock");
        summary.checkpoints += 1;
        summary.last_checkpoint = self.next_number;
        self.next_number += 1;
        apply_classification(&mut summary.classification, session_changes, &self.drivers);
        if self.progress && self.last_progress.elapsed() >= Duration::from_millis(500) {
            self.last_progress = Instant::now();
            let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
            let leader = summary.classification.first().map_or(String::from("-"), |c| {
                format!(
                    "{} ({} laps)",
                    c.driver_code
                        .clone()
                        .unwrap_or_else(|| format!("#{}", c.car_number)),
                    c.laps_completed
                )
            });
            eprint!(
                "\r\x1b[2K[{:>6.1}s] checkpoint {} | records {} ({:.0}/s) | quarantined {} | silver {} | laps {} | leader {}",
                elapsed,
                summary.last_checkpoint,
                summary.records,
                summary.records as f64 / elapsed,
                summary.quarantined,
                summary.silver_rows,
                summary.lap_rows,
                leader
            );
        }
        Ok(())
    }
}

/// Millisecond values of a checkpoint's records, run-length encoded
/// (records arrive mostly in time order, so runs are long).
#[derive(Default)]
struct MsRuns(Vec<(i64, u64)>);

impl MsRuns {
    fn add(&mut self, ms: i64) {
        match self.0.last_mut() {
            Some((last, n)) if *last == ms => *n += 1,
            _ => self.0.push((ms, 1)),
        }
    }

    /// `(now - time, count)` for every time not after `now`.
    fn ages(&self, now: i64) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.0
            .iter()
            .filter(move |(t, _)| *t <= now)
            .map(move |(t, n)| (now - t, *n))
    }
}

/// What a checkpoint's latencies are measured from.
#[derive(Default)]
struct Latencies {
    /// Ingest times of its records.
    ingested: MsRuns,
    /// Ingest to the frontier passing the record's epoch, per record.
    processing: MsRuns,
    /// Event times of the silver rows it inserts.
    event_time: MsRuns,
}

fn record_commit(
    m: &Metrics,
    commits: &BTreeMap<Table, TableCommit>,
    latencies: Latencies,
    number: u64,
    duration: Duration,
) {
    let now = now_ms();
    let sink = SinkLabels { sink: DELTA };
    m.ingest_to_commit
        .get_or_create(&sink)
        .record_ms(latencies.ingested.ages(now));
    m.processing.record_ms(latencies.processing.0.iter().copied());
    m.event_to_commit
        .get_or_create(&sink)
        .record_ms(latencies.event_time.ages(now));
    for (table, commit) in commits {
        m.commit_duration
            .get_or_create(&TableLabels {
                sink: DELTA,
                table: table.path(),
            })
            .record(commit.duration);
        for (op, n) in [("insert", commit.inserted), ("retract", commit.retracted)] {
            m.sink_rows
                .get_or_create(&RowLabels {
                    sink: DELTA,
                    table: table.path(),
                    op,
                })
                .inc_by(n);
        }
    }
    m.checkpoint_completed(number, duration);
}

/// Corrections applied: ids retracted and re-inserted with another
/// revision. `silver` is consolidated and sorted by row, so the rows of one
/// `event_id` (the first field of the row's event) are adjacent.
fn corrections_applied(silver: &[(SilverRow, isize)]) -> u64 {
    silver
        .chunk_by(|(a, _), (b, _)| a.event.event_id == b.event.event_id)
        .filter(|rows| {
            let revision = |retracted: bool| {
                rows.iter()
                    .find(|(_, d)| (*d < 0) == retracted)
                    .map(|(r, _)| r.event.revision)
            };
            matches!((revision(true), revision(false)), (Some(old), Some(new)) if old != new)
        })
        .count() as u64
}

fn apply_classification(
    classification: &mut Vec<ClassifiedCar>,
    changes: Vec<(SessionRow, isize)>,
    drivers: &HashMap<(Symbol, u8), Symbol>,
) {
    let mut rows: BTreeMap<(String, u8), ClassifiedCar> = classification
        .drain(..)
        .map(|c| ((c.session_id.clone(), c.car_number), c))
        .collect();
    let mut changes = changes;
    changes.sort_by_key(|(_, d)| *d);
    for (row, d) in changes {
        let key = (row.session_id.to_string(), row.car_number);
        if d < 0 {
            rows.remove(&key);
        } else {
            rows.insert(
                key.clone(),
                ClassifiedCar {
                    session_id: key.0.clone(),
                    position: row.position,
                    car_number: row.car_number,
                    driver_code: drivers
                        .get(&(row.session_id, row.car_number))
                        .map(|d| d.to_string()),
                    laps_completed: row.laps_completed,
                    total_time_ms: row.total_time_ms,
                    gap_to_leader_ms: row.gap_to_leader_ms,
                    best_lap_ms: row.best_lap_ms,
                    fastest_lap: row.fastest_lap,
                },
            );
        }
    }
    let mut list: Vec<ClassifiedCar> = rows.into_values().collect();
    list.sort_by(|a, b| (&a.session_id, a.position).cmp(&(&b.session_id, b.position)));
    *classification = list;
}

/// Checks a file's extension early, so a bad name fails before any work.
pub fn check_input(path: &std::path::Path) -> Result<Format, FileError> {
    format_of(path)
}
