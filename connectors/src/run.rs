//! `racecast run`: sources → dataflow → Delta sink, on timely workers.
//!
//! ```text
//! every worker                                          worker 0
//! ┌────────────────────────────┐   ┌──────────────────┐   ┌──────────────────────────┐
//! │ source (its share of files │   │ PartSink: writes │   │ CommitSink: gold, and    │
//! │ or the simulator) ─▶ epoch │──▶│ bronze, quar.,   │──▶│ one commit per table per │
//! │ e records + positions      │   │ silver files per │   │ checkpoint (txn N) with  │
//! │ pipeline::build            │──┐│ checkpoint       │   │ every worker's actions   │
//! └────────────────────────────┘  │└──────────────────┘   └──────────────────────────┘
//!                                 └── gold changes ─────────────▲
//! ```
//!
//! Sources assign ingestion epochs (every [`RunConfig::epoch`] of wall time);
//! checkpoints cut the epochs every `--checkpoint-interval` worth of epochs
//! (see [`crate::checkpoint`]), so each Delta commit holds exactly one
//! consistent frontier. File records are dealt to workers in blocks of
//! [`BLOCK`] records (block `b` to worker `b % peers`), and each worker
//! reports its next record per file with every epoch: the checkpoint
//! records these positions in every commit. The simulator runs on worker 0
//! only. Every worker writes data files under `--data`: with processes on
//! several hosts, `--data` must be storage they share.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use racecast_dataflow::bronze::{Ingested, RecordKind};
use racecast_dataflow::{Format, Limits, Time, pipeline};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Concatenate, Input, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

use crate::checkpoint::{CommitSink, PartSink, ToCommit, Update, epochs_per_checkpoint, silver_owner};
use crate::delta::{DeltaError, DeltaSink, Table};
use crate::files::{FileError, RecordReader, format_of};
use crate::kafka::{KafkaEmitter, KafkaError, KafkaOut, KafkaSource, SourceTopics};
use crate::metrics::worker::WorkerMetrics;
use crate::metrics::{Metrics, MetricsError, MetricsServer};
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
    /// Kafka topics.
    Kafka {
        /// Bootstrap servers.
        brokers: String,
        /// Input topics and their format.
        topics: SourceTopics,
        /// Stop once the end offsets found at the start are read.
        stop_at_end: bool,
        /// Stop after this much wall time.
        duration: Option<Duration>,
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
    /// Time between checkpoint boundaries, in whole epochs (at least one).
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
    /// Decoding limits (record size, expected schema id).
    pub limits: Limits,
    /// Change streams, dead letters and progress on Kafka, if wanted.
    pub kafka_out: Option<KafkaOut>,
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
    /// A Kafka source or sink failed.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
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
    /// Partition (Kafka; 0 for files and the simulator).
    #[serde(default)]
    pub partition: u32,
    /// Next record index (offset) this worker will read in the source.
    pub next: u64,
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
    // Kafka outputs: topics exist and the transaction mode is settled
    // before any worker starts.
    let transactional = match &config.kafka_out {
        Some(out) => {
            let mut topics: Vec<(&str, i32)> = out
                .topics
                .change_topics()
                .into_iter()
                .chain([out.topics.dlq.as_str()])
                .map(|t| (t, out.partitions))
                .collect();
            topics.push((&out.topics.progress, 1));
            crate::kafka::ensure_topics(&out.brokers, &topics)?;
            out.transactions.resolve(&out.brokers)?
        }
        None => false,
    };
    // Only worker 0's id is used: it broadcasts it to every worker.
    let run_id = uuid::Uuid::new_v4().to_string();
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
        let mut run_ids: InputHandleVec<Time, String> = InputHandleVec::new();
        let emitter = |id: String| {
            let out = config.kafka_out.as_ref()?;
            let transactional_id = transactional.then(|| format!("{}-{id}", config.app_id));
            match KafkaEmitter::open(out, transactional_id.as_deref()) {
                Ok(emitter) => Some(emitter),
                Err(e) => {
                    shared.fail(RunError::Kafka(e));
                    None
                }
            }
        };
        let probe = ProbeHandle::new();
        let k = epochs_per_checkpoint(config.checkpoint_interval, config.epoch);
        let mut parts = PartSink::new(
            &config.data,
            sources.clone(),
            index,
            k,
            Arc::clone(&shared),
            metrics.is_some(),
            emitter(format!("w{index}")),
        );
        let mut commits = (index == 0).then(|| {
            CommitSink::new(
                &config.data,
                &config.app_id,
                &run_id,
                k,
                config.progress,
                Arc::clone(&shared),
                metrics.clone(),
                emitter("commit".into()),
            )
        });
        let mut worker_metrics = metrics
            .as_ref()
            .map(|m| WorkerMetrics::register(worker, Arc::clone(m), sources.clone()));
        let stats = worker_metrics.as_ref().map(WorkerMetrics::stats);
        worker.dataflow::<Time, _, _>(|scope| {
            let out =
                pipeline::build_counted(scope.input_from(&mut records), config.limits, Vec::new(), stats);
            let local = vec![
                out.bronze.map(Update::Bronze),
                out.quarantine.map(Update::Quarantine),
                out.silver.inner.map(|(r, _, d)| Update::Silver(r, d)),
                scope.input_from(&mut positions).map(Update::Position),
                scope.input_from(&mut run_ids).broadcast().map(Update::Run),
            ];
            let gold = vec![
                out.lap_metrics.inner.map(|(r, _, d)| ToCommit::Lap(r, d)),
                out.session_metrics.inner.map(|(r, _, d)| ToCommit::Session(r, d)),
            ];
            // Silver goes to the worker owning its (date, car), so that a
            // correction's retraction and insertion meet there; the rest
            // stays where it was read.
            let route_update = move |u: &Update| match u {
                Update::Silver(row, _) => silver_owner(row.event.session_date, row.event.car_number),
                _ => index as u64,
            };
            let written = scope.concatenate(local).probe_with(&probe).unary_frontier(
                Exchange::new(route_update),
                "WriteCheckpointParts",
                move |_capability, _info| {
                    move |(input, frontier), output| {
                        input.for_each_stamp(|cap, data| {
                            if let Some(cap) = cap.retain_least(output.output_index()) {
                                for batch in data {
                                    parts.push(cap.clone(), batch);
                                }
                            }
                        });
                        for (cap, part) in parts.complete(frontier.frontier()) {
                            output.session(&cap).give(ToCommit::Part(part));
                        }
                    }
                },
            );
            let gold = scope.concatenate(gold).probe_with(&probe);
            scope.concatenate(vec![written, gold]).sink(
                Exchange::new(|_: &ToCommit| 0),
                "CommitCheckpoints",
                move |(input, frontier)| {
                    let Some(commits) = commits.as_mut() else {
                        return;
                    };
                    input.for_each_stamp(|cap, data| {
                        let Some(&time) = cap.least() else {
                            return;
                        };
                        for batch in data {
                            commits.push(time, batch);
                        }
                    });
                    commits.maybe_commit(frontier.frontier());
                },
            );
        });
        if index == 0 {
            run_ids.send(run_id.clone());
        }
        drop(run_ids);
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
            Source::Kafka {
                brokers,
                topics,
                stop_at_end,
                duration,
            } => feed.kafka(
                worker,
                &probe,
                brokers,
                topics,
                *stop_at_end,
                *duration,
                &shared.stop,
            ),
        };
        if let Err(e) = outcome {
            shared.fail(e);
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
    let sink = runtime.block_on(DeltaSink::open(data, app_id))?;
    Ok(runtime.block_on(sink.complete_checkpoint())?)
}

/// This process's index in the timely cluster.
pub fn process_index(config: &timely::Config) -> usize {
    match &config.communication {
        timely::CommunicationConfig::Cluster { process, .. } => *process,
        _ => 0,
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
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
        Source::Kafka { topics, .. } => topics.names(),
        Source::Simulator { .. } => vec!["simulator".into()],
    }
}

pub(crate) struct Shared {
    stop: Arc<AtomicBool>,
    error: Mutex<Option<RunError>>,
    pub(crate) summary: Mutex<RunSummary>,
}

impl Shared {
    pub(crate) fn fail(&self, error: RunError) {
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

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Feeder<'_> {
    /// Whether the dataflow is more than two epochs behind the input.
    fn behind(&self, probe: &ProbeHandle<Time>) -> bool {
        probe.less_than(&self.epoch.saturating_sub(2))
    }

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
        while self.behind(probe) {
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
    ) -> Result<(), RunError> {
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
                    // The position goes out at the epoch of the records it
                    // covers (before the tick may start the next one).
                    self.positions.send(Position {
                        worker: self.index,
                        source,
                        partition: 0,
                        next,
                    });
                    self.tick(worker, probe);
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
            }
            self.positions.send(Position {
                worker: self.index,
                source,
                partition: 0,
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
    ) -> Result<(), RunError> {
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
                self.positions.send(Position {
                    worker: 0,
                    source: 0,
                    partition: 0,
                    next: offset,
                });
                self.tick(worker, probe);
            }
        }
        self.positions.send(Position {
            worker: 0,
            source: 0,
            partition: 0,
            next: offset,
        });
        Ok(())
    }
}

impl Feeder<'_> {
    /// Reads this worker's share of the Kafka partitions until stopped,
    /// `duration` is up, or (with `stop_at_end`) the end offsets found at
    /// the start are reached.
    #[allow(clippy::too_many_arguments)]
    fn kafka(
        mut self,
        worker: &mut timely::worker::Worker,
        probe: &ProbeHandle<Time>,
        brokers: &str,
        topics: &SourceTopics,
        stop_at_end: bool,
        duration: Option<Duration>,
        stop: &AtomicBool,
    ) -> Result<(), RunError> {
        let started = Instant::now();
        let mut source = KafkaSource::open(
            brokers,
            topics,
            self.index,
            self.peers,
            &BTreeMap::new(),
            stop_at_end,
        )?;
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
                self.report_positions(&source);
            }
            // Pause the partitions while the dataflow is behind (the tick
            // waits for it), so the client stops fetching ahead.
            let behind = self.behind(probe);
            if behind {
                source.set_paused(true)?;
            }
            self.tick(worker, probe);
            if behind {
                source.set_paused(false)?;
            }
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
        self.report_positions(&source);
        Ok(())
    }

    /// Sends the next offset of every partition `source` reads.
    fn report_positions(&mut self, source: &KafkaSource) {
        for p in source.positions() {
            self.positions.send(Position {
                worker: self.index,
                source: p.source,
                partition: p.partition as u32,
                next: p.next as u64,
            });
        }
    }
}

/// Records read from Kafka between two looks at the dataflow.
const KAFKA_BATCH: usize = 4096;

/// Checks a file's extension early, so a bad name fails before any work.
pub fn check_input(path: &std::path::Path) -> Result<Format, FileError> {
    format_of(path)
}
