//! [`CommitSink`]: worker 0's half of a checkpoint. It buffers every
//! worker's [`Part`](super::messages::Part) and gold's changes by epoch,
//! and once the frontier passes a boundary on every worker it commits
//! everything below it as one checkpoint:
//!
//! ```text
//! parts + gold ─▶ Gathered ─▶ Delta: manifest, 6 table commits (txn N)
//!                    │         Kafka: gold changes (alongside), then
//!                    │                the progress record (last)
//!                    └──────▶ summary, metrics, observer
//! ```
//!
//! The parts carry what the expectation suite saw of their records: summed,
//! they become the checkpoint's rows of `quality/expectation_results`,
//! committed with it. Every commit names the suite in `commitInfo`.
//!
//! A resumed run's restore epochs bring gold as of the checkpoint it
//! resumes from: the sink takes it as its baseline (the tables hold it
//! already) instead of committing it. After a failure (a failed part, a
//! commit that did not go through) it commits nothing more.

use racecast_connectors::storage::Location;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use racecast_connectors::delta::commit_info::{PREVIOUS_SUITE_KEY, SUITE_KEY};
use racecast_connectors::delta::quality::{SuiteId, results_batch};
use racecast_connectors::delta::retention::{self, Sweep};
use racecast_connectors::delta::{CheckpointInfo, DeltaError, DeltaSink, Table, TableCommit};
use racecast_connectors::host::{now_ms, runtime};
use racecast_connectors::kafka::{KafkaEmitter, KafkaError, ProgressRecord};
use racecast_connectors::live::LiveHub;
use racecast_connectors::metrics::{DELTA, Metrics, RowLabels, SinkLabels, TableLabels};
use racecast_dataflow::Time;
use racecast_dataflow::expect::Suite;
use racecast_dataflow::gold::{LapRow, SessionRow};
use timely::progress::frontier::AntichainRef;

use super::gather::{Gathered, drivers_of};
use super::messages::{Latencies, ToCommit};
use crate::clock::CheckpointClock;
use crate::config::RetentionConfig;
use crate::control::ProcessState;
use crate::error::RunError;
use crate::observer::RunObserver;
use crate::positions::{Position, Positions};
use crate::recovery::Resume;
use crate::summary::{Drivers, RunSummary};

/// What a [`CommitSink`] is set up with.
pub(crate) struct CommitSinkConfig<'a> {
    /// Root of the tables.
    pub data: &'a Location,
    /// Application id of the `txn` actions and progress records.
    pub app_id: &'a str,
    /// This run's id.
    pub run_id: &'a str,
    /// Where checkpoints are cut.
    pub clock: CheckpointClock,
    /// The sources, and the positions the run starts from.
    pub positions: Positions,
    /// The checkpoint a resumed run resumes from, and its last restore
    /// epoch.
    pub resumed: Option<(&'a Resume, Time)>,
    /// When to apply retention.
    pub retention: Option<RetentionConfig>,
    /// Metrics to record, if any.
    pub metrics: Option<Arc<Metrics>>,
    /// Gold and progress to Kafka, if wanted.
    pub kafka: Option<KafkaEmitter>,
    /// Watches the checkpoints.
    pub observer: Arc<dyn RunObserver>,
    /// The process's stop signal and failure slot.
    pub state: Arc<ProcessState>,
    /// The expectation suite (its results go to `quality/expectation_results`).
    pub suite: Arc<Suite>,
    /// The live views, told each checkpoint that becomes durable.
    pub live: Option<Arc<LiveHub>>,
}

/// Worker 0's commit sink.
pub struct CommitSink {
    clock: CheckpointClock,
    pending: BTreeMap<Time, Vec<ToCommit>>,
    runtime: tokio::runtime::Runtime,
    delta: Option<DeltaSink>,
    kafka: Option<KafkaEmitter>,
    state: Arc<ProcessState>,
    /// The last checkpoint committed (the one resumed from, or 0).
    last_number: u64,
    app_id: String,
    run_id: String,
    /// Sources, and the positions of every checkpoint so far.
    positions: Positions,
    next: BTreeMap<(u32, u32), Position>,
    /// Epochs up to this one restore a resumed run's state: their gold
    /// changes are the tables' content already (the sink's baseline).
    restore_until: Option<Time>,
    baseline: (BTreeMap<LapRow, isize>, BTreeMap<SessionRow, isize>),
    retention: Option<RetentionConfig>,
    last_retention: Instant,
    drivers: Drivers,
    summary: RunSummary,
    started: Instant,
    metrics: Option<Arc<Metrics>>,
    observer: Arc<dyn RunObserver>,
    suite: Arc<Suite>,
    /// `commitInfo` entries of the next commit: the suite, and on a resumed
    /// run's first commit the suite before, when it changed.
    suite_info: Vec<(&'static str, serde_json::Value)>,
    live: Option<Arc<LiveHub>>,
}

impl CommitSink {
    /// Opens the tables under `config.data` (a failure fails the run and
    /// leaves a sink that commits nothing).
    pub(crate) fn new(config: CommitSinkConfig<'_>) -> CommitSink {
        let runtime = runtime();
        let delta = match runtime.block_on(DeltaSink::open(config.data, config.app_id)) {
            Ok(delta) => Some(delta),
            Err(e) => {
                config.state.fail(RunError::Delta(e));
                None
            }
        };
        let resume = config.resumed.map(|(r, _)| r);
        let suite_info = suite_info(&config.suite, resume);
        if let (Some(live), Some(r)) = (&config.live, resume) {
            live.checkpointed(r.checkpoint);
        }
        CommitSink {
            clock: config.clock,
            pending: BTreeMap::new(),
            runtime,
            delta,
            kafka: config.kafka,
            state: config.state,
            last_number: resume.map_or(0, |r| r.checkpoint),
            app_id: config.app_id.to_owned(),
            run_id: config.run_id.to_owned(),
            next: config.positions.map(),
            positions: config.positions,
            restore_until: config.resumed.map(|(_, until)| until),
            baseline: Default::default(),
            retention: config.retention,
            last_retention: Instant::now(),
            // A resumed run names drivers by its restored entry list before
            // any new silver row arrives.
            drivers: resume.map(|r| drivers_of(&r.entries)).unwrap_or_default(),
            summary: RunSummary::default(),
            started: Instant::now(),
            metrics: config.metrics,
            observer: config.observer,
            suite: config.suite,
            suite_info,
            live: config.live,
        }
    }

    /// The run so far.
    pub(crate) fn summary_mut(&mut self) -> &mut RunSummary {
        &mut self.summary
    }

    /// The run's summary, once the dataflow is done.
    pub(crate) fn into_summary(self) -> RunSummary {
        self.summary
    }

    /// Buffers what arrived at `time`. Gold changes go to their own time
    /// (at or after the message's), parts to the message's. A failed part
    /// stops all further commits.
    pub fn push(&mut self, time: Time, items: &mut Vec<ToCommit>) {
        for item in items.drain(..) {
            if let ToCommit::Part(part) = &item
                && let Some(failure) = &part.failed
            {
                if self.delta.take().is_some() {
                    self.state.fail(RunError::WorkerFailed {
                        worker: failure.worker,
                        message: failure.message.clone(),
                    });
                }
                continue;
            }
            let at = match &item {
                ToCommit::Lap(_, t, _) | ToCommit::Session(_, t, _) => (*t).max(time),
                ToCommit::Part(_) => time,
            };
            if self.restore_until.is_some_and(|until| at <= until) {
                match item {
                    ToCommit::Lap(row, _, d) => *self.baseline.0.entry(row).or_insert(0) += d,
                    ToCommit::Session(row, _, d) => *self.baseline.1.entry(row).or_insert(0) += d,
                    ToCommit::Part(_) => {}
                }
                continue;
            }
            self.pending.entry(at).or_default().push(item);
        }
    }

    /// Once the restore epochs are complete: takes gold as restored (the
    /// tables' content) as the sink's baseline.
    fn take_baseline(&mut self, frontier: AntichainRef<'_, Time>) {
        let Some(until) = self.restore_until else {
            return;
        };
        if frontier.less_equal(&until) {
            return;
        }
        self.restore_until = None;
        let (laps, sessions) = std::mem::take(&mut self.baseline);
        let (laps, sessions) = (set_of(laps), set_of(sessions));
        self.summary.lap_rows = laps.len() as i64;
        let changes: Vec<(SessionRow, isize)> = sessions.iter().map(|r| (r.clone(), 1)).collect();
        self.summary.classify(changes, &self.drivers);
        if let Some(delta) = self.delta.as_mut() {
            delta.restore_gold(laps, sessions);
        }
    }

    /// Commits everything below the last boundary the frontier has passed.
    pub fn maybe_commit(&mut self, frontier: AntichainRef<'_, Time>) {
        self.take_baseline(frontier);
        let below = self.clock.complete_below(frontier);
        if self.pending.first_key_value().is_none_or(|(t, _)| *t >= below) {
            return;
        }
        if frontier.is_empty() {
            // The input is done: the state is whole, and still alive.
            self.summary.rss_at_end = racecast_connectors::metrics::process::resident_bytes().unwrap_or(0);
        }
        let rest = self.pending.split_off(&below);
        let ready = std::mem::replace(&mut self.pending, rest);
        if let Err(e) = self
            .commit(ready, frontier.is_empty())
            .and_then(|()| self.retain().map_err(RunError::Delta))
        {
            self.delta = None;
            self.state.fail(e);
        }
    }

    /// Runs retention when it is due.
    fn retain(&mut self) -> Result<(), DeltaError> {
        let (Some(retention), Some(delta)) = (self.retention, self.delta.as_mut()) else {
            return Ok(());
        };
        if self.last_retention.elapsed() < retention.every {
            return Ok(());
        }
        self.last_retention = Instant::now();
        self.runtime
            .block_on(retention::apply(delta, retention.keep, Sweep::Replaced))?;
        Ok(())
    }

    /// Commits `ready` as one checkpoint (`last`: the run's last one).
    fn commit(&mut self, ready: BTreeMap<Time, Vec<ToCommit>>, last: bool) -> Result<(), RunError> {
        let Some(delta) = self.delta.as_mut() else {
            return Ok(());
        };
        let Some(number) = ready.last_key_value().map(|(t, _)| self.clock.number(*t)) else {
            return Ok(());
        };
        let started = Instant::now();
        let gathered = Gathered::fold(ready, &mut self.summary, &mut self.drivers, &mut self.next);
        let moved = self.positions.map() != self.next;
        self.positions.set(&self.next);
        if !moved && gathered.is_empty() && self.last_number > 0 {
            // Nothing read, nothing changed (e.g. a run resumed over input
            // it had read to the end): no checkpoint to add.
            return Ok(());
        }
        let info = CheckpointInfo {
            number,
            run_id: self.run_id.clone(),
            positions: self.positions.to_json(),
            last,
            extra: self.suite_info.clone(),
        };
        let Gathered {
            tables,
            laps,
            sessions,
            latencies,
            expectations,
        } = gathered;
        let results = (!self.suite.is_empty()).then(|| self.suite.results(&expectations));
        let results = results.and_then(|r| results_batch(number, &self.run_id, &self.suite, &r));
        let session_changes = sessions.clone();
        // Gold goes to Kafka while the Delta tables commit; the progress
        // record, written last, waits for both.
        let gold_sent = self
            .kafka
            .as_mut()
            .map(|kafka| kafka.send_gold(number, &self.run_id, &laps, &sessions));
        let commits = self
            .runtime
            .block_on(delta.commit(&info, tables, laps, sessions, results))?;
        // The suite change is recorded once, on the first checkpoint after it.
        self.suite_info.retain(|(key, _)| *key != PREVIOUS_SUITE_KEY);
        if let Some(sent) = gold_sent
            && let Err(e) = sent.and_then(|()| self.emit_progress(number, &commits))
        {
            self.kafka = None;
            self.state.fail(RunError::Kafka(e));
        }
        if let Some(m) = &self.metrics {
            record_commit(m, &commits, latencies, number, started.elapsed());
        }
        self.summary.checkpoints += 1;
        self.summary.last_checkpoint = number;
        self.last_number = number;
        if let Some(live) = &self.live {
            live.checkpointed(number);
        }
        self.summary.classify(session_changes, &self.drivers);
        self.state.committed_one();
        tracing::debug!(
            checkpoint = number,
            records = self.summary.records,
            "committed a checkpoint"
        );
        self.observer.committed(&self.summary, self.started.elapsed());
        Ok(())
    }

    /// Waits for the checkpoint's gold records, then writes its progress
    /// record (the last record of a checkpoint).
    fn emit_progress(
        &mut self,
        number: u64,
        commits: &BTreeMap<Table, TableCommit>,
    ) -> Result<(), KafkaError> {
        let Some(kafka) = self.kafka.as_mut() else {
            return Ok(());
        };
        kafka.finish(number)?;
        kafka.emit_progress(&ProgressRecord {
            app_id: self.app_id.clone(),
            checkpoint: number,
            after: self.last_number,
            run: self.run_id.clone(),
            positions: self.positions.to_json(),
            completed_ms: now_ms(),
            delta_versions: commits
                .iter()
                .filter_map(|(t, c)| Some((t.path().to_owned(), c.version?)))
                .collect(),
        })
    }
}

/// The rows of consolidated changes that form a set (every count 1).
fn set_of<T: Ord>(changes: BTreeMap<T, isize>) -> Vec<T> {
    changes
        .into_iter()
        .filter(|(_, d)| *d != 0)
        .map(|(row, d)| {
            debug_assert_eq!(d, 1, "restored gold is a set");
            row
        })
        .collect()
}

/// Records a checkpoint's commit metrics and latencies.
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

/// The `commitInfo` entries that name the run's suite; on a resumed run
/// whose suite is not the one its checkpoint was checked with, also the
/// one before (and a warning: the new suite applies to new records only).
fn suite_info(suite: &Suite, resume: Option<&Resume>) -> Vec<(&'static str, serde_json::Value)> {
    let now = (!suite.is_empty()).then(|| SuiteId::of(suite));
    let mut info = Vec::new();
    if let Some(id) = &now {
        info.push((SUITE_KEY, serde_json::json!(id)));
    }
    if let Some(resume) = resume
        && resume.suite != now
    {
        let name = |s: &Option<SuiteId>| {
            s.as_ref().map_or("no suite".to_owned(), |s| {
                format!("suite \"{}\" ({})", s.name, s.fingerprint)
            })
        };
        tracing::warn!(
            "checkpoint {} was checked with {}, this run checks {}: it applies to the records read from now on",
            resume.checkpoint,
            name(&resume.suite),
            name(&now)
        );
        info.push((PREVIOUS_SUITE_KEY, serde_json::json!(resume.suite)));
    }
    info
}
