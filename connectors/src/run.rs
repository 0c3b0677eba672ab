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
//! consistent frontier. File records are dealt to workers by lanes of
//! blocks, Kafka partitions round-robin, and sources report their positions
//! with every epoch (see [`crate::positions`], [`crate::feed`]): the
//! checkpoint records them in every commit. The simulator runs on worker 0
//! only. Every worker writes data files under `--data`: with processes on
//! several hosts, `--data` must be storage they share.
//!
//! A run starts with worker 0 preparing the data directory (a fresh start,
//! or completing a half-committed checkpoint and catching Kafka up) while
//! the other workers wait; then, unless `--fresh`, every worker restores
//! its share of the last complete checkpoint ([`crate::resume`]) and the
//! sources go on from its positions.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use racecast_dataflow::bronze::Ingested;
use racecast_dataflow::pipeline::Restored;
use racecast_dataflow::silver::Restore;
use racecast_dataflow::{Entry, Event, Format, Limits, Time, pipeline};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::{Broadcast, Map};
use timely::dataflow::operators::{Concatenate, Input, Inspect, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

use crate::checkpoint::{CommitSink, PartSink, ToCommit, Update, epochs_per_checkpoint, silver_owner};
use crate::delta::DeltaError;
use crate::delta::parts::silver_bucket;
use crate::feed::{Feeder, RestoreInputs};
use crate::files::{FileError, format_of};
use crate::kafka::{KafkaEmitter, KafkaError, KafkaOut, SourceTopics};
use crate::metrics::worker::WorkerMetrics;
use crate::metrics::{Metrics, MetricsError, MetricsServer};
use crate::positions::Positions;
use crate::resume::{self, Prepared, Resume};
use racecast_sim::SimConfig;

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
    /// Delete the tables under `data` first and start from the first
    /// record; otherwise resume from the last complete checkpoint there.
    pub fresh: bool,
    /// Keep the last checkpoints readable and delete what only older ones
    /// needed, on a schedule (`None`: keep everything).
    pub retention: Option<RetentionConfig>,
    /// Create a new silver table with deletion vectors (a retraction marks
    /// its row deleted instead of rewriting the row's bucket); readers
    /// need deletion-vector support (Delta reader version 3). An existing
    /// table keeps what it was created with.
    pub silver_deletion_vectors: bool,
}

/// How much history the tables keep (see [`crate::delta::retention`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Checkpoints kept readable (at least 1).
    pub keep: u64,
    /// Time between two retention passes.
    pub every: Duration,
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
    /// The checkpoint to resume from was taken over other sources.
    #[error(
        "the data directory's last checkpoint ({checkpoint}) was taken reading {recorded:?}, this run reads {given:?}: pass the same inputs to resume, or --fresh to start over (or use another --data directory)"
    )]
    OtherSources {
        /// The checkpoint.
        checkpoint: u64,
        /// Its sources.
        recorded: Vec<String>,
        /// This run's.
        given: Vec<String>,
    },
    /// The checkpoint to resume from was taken on another simulated race.
    #[error(
        "the data directory's last checkpoint ({checkpoint}) is of another simulated race ({recorded}); this run asks for {given}: pass the same race flags to resume, or --fresh to start over"
    )]
    OtherRace {
        /// The checkpoint.
        checkpoint: u64,
        /// Its race.
        recorded: String,
        /// This run's.
        given: String,
    },
    /// A worker (perhaps in another process) could not start the run.
    #[error("the run could not start: {0}")]
    Start(String),
    /// A worker (perhaps in another process) failed: nothing after its
    /// last complete checkpoint was committed.
    #[error("a worker failed, no further checkpoint was committed: {0}")]
    Worker(String),
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
    /// The checkpoint this run resumed from, if it resumed.
    pub resumed_from: Option<u64>,
    /// A checkpoint a crash had left half-committed, completed at the start.
    pub rolled_forward: Option<u64>,
    /// Silver rows restored when resuming.
    pub restored_rows: u64,
    /// Wall time of the restore (seconds).
    pub restore_s: f64,
    /// Resident memory of process 0 right after the restore (bytes).
    pub rss_after_restore: u64,
    /// Resident memory of process 0 at the last checkpoint, with every
    /// operator's state still alive (bytes).
    pub rss_at_end: u64,
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
        resume: OnceLock::new(),
        feed_clock: OnceLock::new(),
    });
    let worker_shared = Arc::clone(&shared);
    let guards = timely::execute(timely, move |worker| {
        let shared = Arc::clone(&worker_shared);
        let (index, peers) = (worker.index(), worker.peers());
        let k = epochs_per_checkpoint(config.checkpoint_interval, config.epoch);
        // Worker 0 makes the data directory ready (a fresh start, or a
        // half-committed checkpoint completed, and Kafka caught up); every
        // worker waits for it.
        let prepared = (index == 0).then(|| prepare(&config, &run_id, transactional, &shared));
        let failed = prepared.as_ref().and_then(|p| p.as_ref().err().cloned());
        if let Some(message) = barrier(worker, failed) {
            shared.fail(RunError::Start(message));
            return;
        }
        // The state to resume from: loaded once per process; every worker
        // learns whether any worker of the cluster could not load it.
        let loaded = shared
            .resume
            .get_or_init(|| {
                let load = || -> Result<_, RunError> {
                    let resume = Resume::load(&config.data, &config.app_id)?;
                    let deletion_vectors = resume::silver_deletion_vectors(&config.data)?;
                    Ok((resume.map(Arc::new), deletion_vectors))
                };
                load().map_err(|e| error_chain(&e))
            })
            .clone()
            .and_then(|(resume, deletion_vectors)| {
                let sim = checked_sources(&config.source, &sources, resume.as_deref())
                    .map_err(|e| error_chain(&e))?;
                Ok((resume, sim, deletion_vectors))
            });
        let (resume, sim, deletion_vectors) = match (barrier(worker, loaded.as_ref().err().cloned()), loaded)
        {
            (None, Ok(loaded)) => loaded,
            (Some(message), _) | (None, Err(message)) => {
                shared.fail(RunError::Start(message));
                return;
            }
        };
        let start = match &resume {
            Some(r) => r.positions.clone(),
            None => Positions {
                simulator: sim.clone(),
                ..Positions::new(sources.clone())
            },
        };
        let restore_until = resume.as_ref().map(|r| r.restore_epochs(k).1);
        if index == 0 {
            let mut summary = shared.summary.lock().expect("lock");
            summary.resumed_from = resume.as_ref().map(|r| r.checkpoint);
            summary.rolled_forward = prepared.and_then(Result::ok).and_then(|p| p.rolled_forward);
            summary.restored_rows = resume.as_ref().map_or(0, |r| r.silver_rows);
            summary.silver_rows = summary.restored_rows as i64;
            if let (true, Some(r)) = (config.progress, &resume) {
                eprintln!(
                    "resuming from checkpoint {} ({} silver rows to restore)",
                    r.checkpoint, r.silver_rows
                );
            }
        }
        let mut records: InputHandleVec<Time, Ingested> = InputHandleVec::new();
        let mut positions: InputHandleVec<Time, Update> = InputHandleVec::new();
        let mut run_ids: InputHandleVec<Time, String> = InputHandleVec::new();
        let mut restore_events: InputHandleVec<Time, Event> = InputHandleVec::new();
        let mut restore_entries: InputHandleVec<Time, Entry> = InputHandleVec::new();
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
        // The silver files of the (date, car) buckets this worker owns.
        let owned_files = resume
            .as_ref()
            .map(|r| {
                r.silver_files
                    .iter()
                    .filter(|add| {
                        silver_bucket(add).is_none_or(|(date, car, _)| {
                            silver_owner(date, car) % peers as u64 == index as u64
                        })
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut parts = PartSink::new(
            &config.data,
            sources.clone(),
            index,
            owned_files,
            deletion_vectors,
            k,
            Arc::clone(&shared),
            metrics.is_some(),
            emitter(format!("w{index}")),
        );
        let mut commits = (index == 0).then(|| {
            let mut sink = CommitSink::new(
                &config.data,
                &config.app_id,
                &run_id,
                k,
                start.clone(),
                resume.as_ref().zip(restore_until).map(|(r, u)| (r.checkpoint, u)),
                config.retention,
                config.progress,
                Arc::clone(&shared),
                metrics.clone(),
                emitter("commit".into()),
            );
            if let Some(r) = &resume {
                sink.know_drivers(&r.entries);
            }
            sink
        });
        let mut worker_metrics = metrics
            .as_ref()
            .map(|m| WorkerMetrics::register(worker, Arc::clone(m), sources.clone()));
        let stats = worker_metrics.as_ref().map(WorkerMetrics::stats);
        let resumed = resume.is_some();
        worker.dataflow::<Time, _, _>(|scope| {
            let restored = resume.as_ref().zip(restore_until).map(|(r, until)| Restored {
                events: scope.input_from(&mut restore_events),
                entries: scope.input_from(&mut restore_entries),
                restore: Restore {
                    until,
                    rows: r.silver_rows,
                },
            });
            // Silver has no rows at the restore epochs: they are in the
            // tables already.
            let out = pipeline::build(scope.input_from(&mut records), config.limits, restored, stats);
            let silver = out.silver.inner;
            let local = vec![
                out.bronze.map(Update::Bronze),
                out.quarantine.map(Update::Quarantine),
                silver.map(|(r, t, d)| Update::Silver(r, t, d)),
                scope.input_from(&mut positions),
                scope.input_from(&mut run_ids).broadcast().map(Update::Run),
            ];
            let gold = vec![
                out.lap_metrics.inner.map(|(r, t, d)| ToCommit::Lap(r, t, d)),
                out.session_metrics
                    .inner
                    .map(|(r, t, d)| ToCommit::Session(r, t, d)),
            ];
            // Silver goes to the worker owning its (date, car), so that a
            // correction's retraction and insertion meet there; the rest
            // stays where it was read.
            let route_update = move |u: &Update| match u {
                Update::Silver(row, _, _) => silver_owner(row.event.session_date, row.event.car_number),
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
        let mut feed = Feeder {
            index,
            peers,
            records: &mut records,
            positions: &mut positions,
            epoch: 0,
            epoch_length: config.epoch,
            epoch_started: Instant::now(),
            live: false,
            shared: &shared,
            k,
            reported: None,
            metrics: worker_metrics.as_mut(),
        };
        let restoring = Instant::now();
        let mut outcome = match &resume {
            Some(r) => feed.restore(
                worker,
                &probe,
                r,
                k,
                RestoreInputs {
                    events: &mut restore_events,
                    entries: &mut restore_entries,
                },
            ),
            None => Ok(()),
        };
        drop(restore_events);
        drop(restore_entries);
        if resumed && index == 0 {
            let mut summary = shared.summary.lock().expect("lock");
            summary.restore_s = restoring.elapsed().as_secs_f64();
            summary.rss_after_restore = crate::metrics::process::resident_bytes().unwrap_or(0);
        }
        if outcome.is_ok() {
            outcome = match &config.source {
                Source::Files { inputs, entries } => {
                    feed.files(worker, &probe, inputs, entries.as_ref(), &start, &shared.stop)
                }
                Source::Simulator { speed, duration, .. } => feed.simulator(
                    worker,
                    &probe,
                    sim.as_ref().expect("the simulator's race is settled"),
                    *speed,
                    *duration,
                    &start,
                    &shared.stop,
                ),
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
                    &start,
                    &shared.stop,
                ),
            };
        }
        if let Err(e) = outcome {
            // The worker's part sink tells the commit sink, which then
            // commits nothing more (this worker's share of the checkpoint
            // is missing).
            positions.send(Update::Failed(format!("worker {index}: {}", error_chain(&e))));
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

/// Worker 0's preparation of the data directory, before any other worker
/// starts: a fresh start deletes the tables; otherwise a half-committed
/// checkpoint is completed, Kafka's change streams catch up with the
/// tables, and retention sweeps. Errors are recorded in `shared` and returned as text for the
/// other workers.
fn prepare(
    config: &RunConfig,
    run_id: &str,
    transactional: bool,
    shared: &Shared,
) -> Result<Prepared, String> {
    let outcome = resume::prepare(
        &config.data,
        &config.app_id,
        config.fresh,
        config.silver_deletion_vectors,
    )
    .and_then(|prepared| {
        if let (Some(out), false) = (&config.kafka_out, config.fresh) {
            // Before retention, which may delete files the catch-up reads.
            crate::kafka::catch_up(out, &config.data, &config.app_id, run_id, transactional)?;
        }
        if let Some(retention) = config.retention {
            resume::sweep(&config.data, &config.app_id, retention.keep)?;
        }
        Ok(prepared)
    });
    outcome.map_err(|e| {
        let message = error_chain(&e);
        shared.fail(e);
        message
    })
}

/// An error and its causes, as one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Waits until every worker of the cluster has reached this point; a
/// `failed` message of any worker is returned on every worker.
fn barrier(worker: &mut timely::worker::Worker, failed: Option<String>) -> Option<String> {
    let message = Rc::new(RefCell::new(None));
    let seen = Rc::clone(&message);
    let mut input: InputHandleVec<Time, String> = InputHandleVec::new();
    let probe = worker.dataflow::<Time, _, _>(|scope| {
        scope
            .input_from(&mut input)
            .broadcast()
            .inspect(move |m: &String| *seen.borrow_mut() = Some(m.clone()))
            .probe()
            .0
    });
    if let Some(m) = failed {
        input.send(m);
    }
    drop(input);
    while !probe.done() {
        worker.step_or_park(Some(Duration::from_millis(10)));
    }
    message.take()
}

/// Checks a resumed run's sources against its checkpoint's, and settles
/// the simulated race: a resumed run replays the race of its checkpoint
/// (which started at the first run's wall-clock time).
fn checked_sources(
    source: &Source,
    names: &[String],
    resume: Option<&Resume>,
) -> Result<Option<SimConfig>, RunError> {
    let Some(resume) = resume else {
        return Ok(match source {
            Source::Simulator { config, .. } => Some(config.clone()),
            _ => None,
        });
    };
    resume.check_sources(names)?;
    let Source::Simulator { config, .. } = source else {
        return Ok(None);
    };
    let Some(recorded) = &resume.positions.simulator else {
        return Err(RunError::OtherSources {
            checkpoint: resume.checkpoint,
            recorded: resume.positions.sources.clone(),
            given: names.to_vec(),
        });
    };
    let race = |c: &SimConfig| {
        format!(
            "{} cars, {} laps, seed {}, session {}, disorder {}/{}/{}/{}",
            c.cars, c.laps, c.seed, c.session_id, c.duplicates, c.late, c.corrections, c.invalid
        )
    };
    if race(recorded) != race(config) {
        return Err(RunError::OtherRace {
            checkpoint: resume.checkpoint,
            recorded: race(recorded),
            given: race(config),
        });
    }
    Ok(Some(recorded.clone()))
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

/// What each process loads once before its workers build their
/// dataflows: the state to resume from, and whether the silver table takes
/// deletion vectors.
type Loaded = (Option<Arc<Resume>>, bool);

pub(crate) struct Shared {
    stop: Arc<AtomicBool>,
    error: Mutex<Option<RunError>>,
    pub(crate) summary: Mutex<RunSummary>,
    /// The state this process resumes from, and whether the silver table
    /// takes deletion vectors (or why they could not be loaded).
    resume: OnceLock<Result<Loaded, String>>,
    /// When the first worker of this process started reading its input:
    /// where every worker's epoch clock starts (see [`Feeder::start_clock`]).
    pub(crate) feed_clock: OnceLock<Instant>,
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

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Checks a file's extension early, so a bad name fails before any work.
pub fn check_input(path: &std::path::Path) -> Result<Format, FileError> {
    format_of(path)
}
