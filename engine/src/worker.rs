//! [`run_worker`]: what one timely worker does in a run, in order:
//!
//! 1. **start**: worker 0 prepares the data directory while every worker
//!    waits ([`barrier`]); each process loads the state to resume from
//!    once, and every worker learns whether any worker could not;
//! 2. **build**: the sinks of this worker (its [`PartSink`]; on worker 0
//!    the [`CommitSink`], on its [`CommitThread`]) and the dataflow
//!    ([`build_dataflow`]);
//! 3. **feed**: the restored state, then this worker's share of the input,
//!    until it ends, the run is stopped or fails;
//! 4. **drain**: the inputs close, the frontier runs out, the sinks write
//!    the last checkpoint; worker 0 waits for its commit thread. Worker 0
//!    of process 0 returns the summary.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use racecast_connectors::delta::parts::silver_bucket;
use racecast_connectors::kafka::KafkaEmitter;
use racecast_connectors::live::LiveHub;
use racecast_connectors::live::publish::EpochSender;
use racecast_connectors::metrics::Metrics;
use racecast_connectors::metrics::worker::{PUBLISH_EVERY, WorkerMetrics};
use racecast_dataflow::bronze::Ingested;
use racecast_dataflow::pipeline::{self, Restored};
use racecast_dataflow::silver::Restore;
use racecast_dataflow::stats::PipelineStats;
use racecast_dataflow::{Entry, Event, Time};
use racecast_sim::SimConfig;
use timely::dataflow::operators::vec::{Broadcast, Map};
use timely::dataflow::operators::{Concatenate, Input, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

use crate::barrier::barrier;
use crate::clock::{CheckpointClock, silver_owner};
use crate::config::{RunConfig, Source};
use crate::control::{Loaded, ProcessState};
use crate::error::{RunError, error_chain};
use crate::feed::{Feeder, RestoreInputs};
use crate::observer::RunObserver;
use crate::positions::Positions;
use crate::recovery::{self, Prepared, Resume};
use crate::sink::commit::CommitSinkConfig;
use crate::sink::commit_thread::{CommitThread, ToCommitter};
use crate::sink::live::{LiveItem, PublishLiveViews};
use crate::sink::messages::PartFailure;
use crate::sink::operators::{CommitCheckpoints, WriteCheckpointParts};
use crate::sink::{CommitSink, PartSink, ToCommit, Update};
use crate::summary::RunSummary;

/// What every worker of a process shares for a run.
pub(crate) struct RunContext {
    pub(crate) config: RunConfig,
    pub(crate) run_id: String,
    /// Whether Kafka records go in transactions.
    pub(crate) transactional: bool,
    pub(crate) state: Arc<ProcessState>,
    pub(crate) observer: Arc<dyn RunObserver>,
    pub(crate) metrics: Option<Arc<Metrics>>,
    /// Where worker 0 hands finished epochs to the live views, when served.
    pub(crate) live: Option<EpochSender>,
    /// The live views (for the last durable checkpoint), when served.
    pub(crate) hub: Option<Arc<LiveHub>>,
}

/// A run's start, as every worker sees it.
struct Start {
    resume: Option<Arc<Resume>>,
    /// The simulated race, when the simulator feeds the run.
    race: Option<SimConfig>,
    deletion_vectors: bool,
    rolled_forward: Option<u64>,
}

/// The dataflow's inputs on one worker.
struct Inputs {
    records: InputHandleVec<Time, Ingested>,
    /// Ingest times of the records of each epoch (for the live views'
    /// latency).
    ingest_marks: InputHandleVec<Time, Vec<(i64, u64)>>,
    positions: InputHandleVec<Time, Update>,
    run_ids: InputHandleVec<Time, String>,
    restore_events: InputHandleVec<Time, Event>,
    restore_entries: InputHandleVec<Time, Entry>,
}

/// Runs one worker's part of the run; worker 0 of process 0 returns the
/// run's summary.
pub(crate) fn run_worker(worker: &mut timely::worker::Worker, context: &RunContext) -> Option<RunSummary> {
    let (config, state) = (&context.config, &context.state);
    let (index, peers) = (worker.index(), worker.peers());
    let clock = CheckpointClock::new(config.epochs_per_checkpoint());
    let start = start(worker, context)?;
    let resume = start.resume.as_deref();
    let sources = config.source.names();
    // Where the sources start: the checkpoint's positions, or the start.
    let from = match resume {
        Some(r) => r.positions.clone(),
        None => Positions {
            simulator: start.race.clone(),
            ..Positions::new(sources.clone())
        },
    };
    let restore_until = resume.map(|r| r.restore_epochs(clock).1);
    let emitter = |id: String| {
        let out = config.kafka_out.as_ref()?;
        let transactional_id = context.transactional.then(|| format!("{}-{id}", config.app_id));
        KafkaEmitter::open(out, transactional_id.as_deref())
            .map_err(|e| state.fail(RunError::Kafka(e)))
            .ok()
    };
    // The silver files of the (date, car) buckets this worker owns.
    let owned_files = resume
        .map(|r| {
            r.silver_files
                .iter()
                .filter(|add| {
                    silver_bucket(add)
                        .is_none_or(|(date, car, _)| silver_owner(date, car) % peers as u64 == index as u64)
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let parts = PartSink::new(
        &config.data,
        sources.clone(),
        index,
        owned_files,
        start.deletion_vectors,
        clock,
        Arc::clone(state),
        context.metrics.is_some(),
        emitter(format!("w{index}")),
    );
    let commits = Rc::new(RefCell::new(
        (index == 0)
            .then(|| {
                let mut sink = CommitSink::new(CommitSinkConfig {
                    data: &config.data,
                    app_id: &config.app_id,
                    run_id: &context.run_id,
                    clock,
                    positions: from.clone(),
                    resumed: resume.zip(restore_until),
                    retention: config.retention,
                    metrics: context.metrics.clone(),
                    kafka: emitter("commit".into()),
                    observer: Arc::clone(&context.observer),
                    state: Arc::clone(state),
                    suite: Arc::clone(&config.expectations),
                    live: context.hub.clone(),
                });
                let summary = sink.summary_mut();
                summary.resumed_from = resume.map(|r| r.checkpoint);
                summary.rolled_forward = start.rolled_forward;
                summary.restored_rows = resume.map_or(0, |r| r.silver_rows);
                summary.silver_rows = summary.restored_rows as i64;
                if let Some(r) = resume {
                    context.observer.resuming(r.checkpoint, r.silver_rows);
                }
                CommitThread::spawn(sink).map_err(|e| state.fail(e)).ok()
            })
            .flatten(),
    ));
    let mut worker_metrics = context.metrics.as_ref().map(|m| {
        let mut published = WorkerMetrics::register(worker, Arc::clone(m), sources.clone());
        published.name_expectations(
            config
                .expectations
                .expectations
                .iter()
                .map(|x| x.name.to_string())
                .collect(),
        );
        published
    });
    let stats = worker_metrics.as_ref().map(WorkerMetrics::stats);
    let mut inputs = Inputs {
        records: InputHandleVec::new(),
        ingest_marks: InputHandleVec::new(),
        positions: InputHandleVec::new(),
        run_ids: InputHandleVec::new(),
        restore_events: InputHandleVec::new(),
        restore_entries: InputHandleVec::new(),
    };
    let restore = resume.zip(restore_until).map(|(r, until)| Restore {
        until,
        rows: r.silver_rows,
    });
    let live = context.live.clone().filter(|_| index == 0);
    let probe = build_dataflow(
        worker,
        &mut inputs,
        config,
        restore,
        stats,
        (parts, Rc::clone(&commits), live),
        state,
    );
    let Inputs {
        mut records,
        mut ingest_marks,
        mut positions,
        run_ids: mut run_id_input,
        restore_events,
        restore_entries,
    } = inputs;
    if index == 0 {
        run_id_input.send(context.run_id.clone());
    }
    drop(run_id_input);
    let outcome = feed(
        worker,
        context,
        Feeder::new(
            (index, peers),
            &mut records,
            &mut ingest_marks,
            &mut positions,
            probe,
            config.epoch,
            clock,
            state,
            worker_metrics.as_mut(),
        ),
        (restore_events, restore_entries),
        &start,
        &from,
        &commits,
    );
    if let Err(e) = outcome {
        // The worker's part sink tells the commit sink, which then commits
        // nothing more (this worker's share of the checkpoint is missing).
        positions.send(Update::Failed(PartFailure {
            worker: index,
            message: error_chain(&e),
        }));
        state.fail(e);
    }
    // Closing the inputs lets the frontier run out; the sinks then write
    // the last checkpoint and every dataflow completes.
    drop(records);
    drop(ingest_marks);
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
    // Worker 0 waits for its last commit.
    let committer = commits.borrow_mut().take();
    match committer.map(CommitThread::finish)? {
        Ok(sink) => Some(sink.into_summary()),
        Err(e) => {
            state.fail(e);
            None
        }
    }
}

/// Feeds the restored state, then the input; records the restore's cost in
/// worker 0's summary.
fn feed(
    worker: &mut timely::worker::Worker,
    context: &RunContext,
    mut feeder: Feeder<'_>,
    (mut restore_events, mut restore_entries): (InputHandleVec<Time, Event>, InputHandleVec<Time, Entry>),
    start: &Start,
    from: &Positions,
    commits: &Rc<RefCell<Option<CommitThread>>>,
) -> Result<(), RunError> {
    let restoring = Instant::now();
    if let Some(r) = start.resume.as_deref() {
        feeder.restore(
            worker,
            r,
            RestoreInputs {
                events: &mut restore_events,
                entries: &mut restore_entries,
            },
        )?;
        if let Some(committer) = commits.borrow().as_ref() {
            committer.send(ToCommitter::Restored {
                seconds: restoring.elapsed().as_secs_f64(),
                rss: racecast_connectors::metrics::process::resident_bytes().unwrap_or(0),
            });
        }
    }
    drop(restore_events);
    drop(restore_entries);
    match &context.config.source {
        Source::Files { inputs, entries } => feeder.files(worker, inputs, entries.as_ref(), from),
        Source::Simulator { speed, duration, .. } => {
            let race = start.race.as_ref().expect("the simulator's race is settled");
            feeder.simulator(worker, race, *speed, *duration, from)
        }
        Source::Kafka {
            client,
            topics,
            stop_at_end,
            duration,
        } => feeder.kafka(worker, client, topics, *stop_at_end, *duration, from),
    }
}

/// Builds the dataflow: the pipeline over the inputs, each worker's part
/// sink, worker 0's commit sink and its hand-off to the live views (`live`:
/// on worker 0 of a serving run). Returns the probe the feeder watches.
fn build_dataflow(
    worker: &mut timely::worker::Worker,
    inputs: &mut Inputs,
    config: &RunConfig,
    restore: Option<Restore>,
    stats: Option<Rc<PipelineStats>>,
    (parts, commits, live): (PartSink, Rc<RefCell<Option<CommitThread>>>, Option<EpochSender>),
    state: &Arc<ProcessState>,
) -> ProbeHandle<Time> {
    let index = worker.index();
    let probe = ProbeHandle::new();
    worker.dataflow::<Time, _, _>(|scope| {
        let restored = restore.map(|restore| Restored {
            events: scope.input_from(&mut inputs.restore_events),
            entries: scope.input_from(&mut inputs.restore_entries),
            restore,
        });
        // Silver has no rows at the restore epochs: they are in the
        // tables already.
        let out = pipeline::build(
            scope.input_from(&mut inputs.records),
            config.limits,
            Arc::clone(&config.expectations),
            restored,
            stats,
        );
        let local = vec![
            out.bronze.map(Update::Bronze),
            out.quarantine.map(Update::Quarantine),
            out.silver.inner.map(|(r, t, d)| Update::Silver(r, t, d)),
            out.quality.map(Update::Quality),
            scope.input_from(&mut inputs.positions),
            scope.input_from(&mut inputs.run_ids).broadcast().map(Update::Run),
        ];
        let views = vec![
            out.lap_metrics
                .inner
                .clone()
                .map(|(r, t, d)| LiveItem::Lap(r, t, d)),
            out.session_metrics
                .inner
                .clone()
                .map(|(r, t, d)| LiveItem::Session(r, t, d)),
            out.entries.map(LiveItem::Entry),
            scope.input_from(&mut inputs.ingest_marks).map(LiveItem::Ingested),
        ];
        scope.concatenate(views).publish_live_views(live);
        let gold = vec![
            out.lap_metrics.inner.map(|(r, t, d)| ToCommit::Lap(r, t, d)),
            out.session_metrics
                .inner
                .map(|(r, t, d)| ToCommit::Session(r, t, d)),
        ];
        // Silver goes to the worker owning its (date, car), so that a
        // correction's retraction and insertion meet there; the rest
        // stays where it was read.
        let route = move |u: &Update| match u {
            Update::Silver(row, _, _) => silver_owner(row.event.session_date, row.event.car_number),
            _ => index as u64,
        };
        let written = scope
            .concatenate(local)
            .probe_with(&probe)
            .write_checkpoint_parts(parts, route);
        let gold = scope.concatenate(gold).probe_with(&probe);
        scope
            .concatenate(vec![written, gold])
            .commit_checkpoints(commits, Arc::clone(state));
    });
    probe
}

/// Starts the run on this worker: worker 0 prepares the data directory,
/// every process loads the state to resume from; `None` when the run
/// cannot start (on any worker: the failure is recorded).
fn start(worker: &mut timely::worker::Worker, context: &RunContext) -> Option<Start> {
    let (config, state) = (&context.config, &context.state);
    // Worker 0 makes the data directory ready (a fresh start, or a
    // half-committed checkpoint completed, and Kafka caught up); every
    // worker waits for it.
    let prepared = (worker.index() == 0).then(|| prepare(context));
    let failed = prepared.as_ref().and_then(|p| p.as_ref().err().cloned());
    if let Some(message) = barrier(worker, failed) {
        state.fail(RunError::PeerStart { message });
        return None;
    }
    // The state to resume from: loaded once per process; every worker
    // learns whether any worker of the cluster could not load it.
    let loaded: Result<Loaded, String> = state
        .resume
        .get_or_init(|| {
            let load = || -> Result<Loaded, RunError> {
                let resume = Resume::load(&config.data, &config.app_id)?;
                let deletion_vectors = recovery::silver_deletion_vectors(&config.data)?;
                Ok((resume.map(Arc::new), deletion_vectors))
            };
            load().map_err(|e| error_chain(&e))
        })
        .clone();
    let checked = loaded.and_then(|(resume, deletion_vectors)| {
        let race = match resume.as_deref() {
            Some(r) => r.check_source(&config.source),
            None => Ok(match &config.source {
                Source::Simulator { config, .. } => Some(config.clone()),
                _ => None,
            }),
        };
        race.map(|race| (resume, race, deletion_vectors))
            .map_err(|e| error_chain(&e))
    });
    match (barrier(worker, checked.as_ref().err().cloned()), checked) {
        (None, Ok((resume, race, deletion_vectors))) => Some(Start {
            resume,
            race,
            deletion_vectors,
            rolled_forward: prepared.and_then(Result::ok).and_then(|p| p.rolled_forward),
        }),
        (Some(message), _) | (None, Err(message)) => {
            state.fail(RunError::PeerStart { message });
            None
        }
    }
}

/// Worker 0's preparation of the data directory, before any other worker
/// starts: a fresh start deletes the tables; otherwise a half-committed
/// checkpoint is completed, Kafka's change streams catch up with the
/// tables, and retention sweeps. An error is recorded (with its type) and
/// returned as text for the other workers.
fn prepare(context: &RunContext) -> Result<Prepared, String> {
    let config = &context.config;
    let outcome = recovery::prepare(
        &config.data,
        &config.app_id,
        config.fresh,
        config.silver_deletion_vectors,
    )
    .and_then(|prepared| {
        if let (Some(out), false) = (&config.kafka_out, config.fresh) {
            // Before retention, which may delete files the catch-up reads.
            let caught_up = recovery::catch_up(
                out,
                &config.data,
                &config.app_id,
                &context.run_id,
                context.transactional,
            )?;
            if let Some(c) = caught_up {
                tracing::info!(
                    from = c.from,
                    to = c.to,
                    changes = c.changes,
                    "brought Kafka up to the tables"
                );
            }
        }
        if let Some(retention) = config.retention {
            recovery::sweep(&config.data, &config.app_id, retention.keep)?;
        }
        Ok(prepared)
    });
    outcome.map_err(|e| {
        let message = error_chain(&e);
        context.state.fail(e);
        message
    })
}
