//! [`run`]: `racecast run`: sources → dataflow → sinks on timely workers.
//!
//! ```text
//! every worker                                          worker 0
//! ┌────────────────────────────┐   ┌──────────────────┐   ┌──────────────────────────┐
//! │ Feeder (its share of files,│   │ PartSink: writes │   │ CommitSink: gold, and    │
//! │ Kafka partitions, or the   │──▶│ bronze, quar.,   │──▶│ one commit per table per │
//! │ simulator) ─▶ epoch e      │   │ silver files per │   │ checkpoint (txn N) with  │
//! │ pipeline::build            │──┐│ checkpoint       │   │ every worker's actions   │
//! └────────────────────────────┘  │└──────────────────┘   └──────────────────────────┘
//!                                 └── gold changes ─────────────▲
//! ```
//!
//! Sources assign ingestion epochs (every [`RunConfig::epoch`] of wall
//! time); checkpoints cut the epochs every `--checkpoint-interval` worth of
//! epochs ([`crate::clock`]), so each Delta commit holds exactly one
//! consistent frontier. File records are dealt to workers by lanes of
//! blocks, Kafka partitions round-robin, and sources report their positions
//! with every epoch ([`crate::positions`], [`crate::feed`]): the checkpoint
//! records them in every commit. The simulator runs on worker 0 only.
//! Every worker writes data files under `--data`: with processes on
//! several hosts, `--data` must be storage they share.
//!
//! A run starts with worker 0 preparing the data directory (a fresh start,
//! or completing a half-committed checkpoint and catching Kafka up) while
//! the other workers wait; then, unless `--fresh`, every worker restores
//! its share of the last complete checkpoint ([`crate::recovery`]) and the
//! sources go on from its positions. What each worker does is in
//! [`crate::worker`].

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use racecast_connectors::delta::DeltaError;
use racecast_connectors::kafka::{TopicSettings, ensure_topics};
use racecast_connectors::live::publish::EpochSender;
use racecast_connectors::live::{LiveError, LiveHub, LivePublisher, LiveServer};
use racecast_connectors::metrics::{Metrics, MetricsServer};
use racecast_connectors::storage::lease::Lease;

use crate::config::RunConfig;
use crate::control::ProcessState;
use crate::error::RunError;
use crate::observer::RunObserver;
use crate::summary::RunSummary;
use crate::worker::{RunContext, run_worker};

/// Runs the pipeline to the end of the input (or until `stop` is set),
/// serving metrics on [`RunConfig::metrics_addr`] and the live views on
/// [`RunConfig::serve`] (process 0) when set, and telling `observer` how
/// it goes. Returns what worker 0 of process 0 counted (other processes
/// return an empty summary).
pub fn run(
    config: RunConfig,
    timely: timely::Config,
    stop: Arc<AtomicBool>,
    observer: Arc<dyn RunObserver>,
) -> Result<RunSummary, RunError> {
    let process = process_index(&timely);
    let metrics = config.metrics_addr.map(|_| Arc::new(Metrics::new(process)));
    let _server = match (config.metrics_addr, &metrics) {
        (Some(addr), Some(metrics)) => Some(MetricsServer::start(addr, Arc::clone(metrics))?),
        _ => None,
    };
    run_with_metrics(config, timely, stop, observer, metrics)
}

/// The live views of a run: the publisher thread and the HTTP server.
struct Live {
    publisher: LivePublisher,
    server: LiveServer,
}

impl Live {
    fn start(
        addr: std::net::SocketAddr,
        run_id: &str,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Live, RunError> {
        let hub = Arc::new(LiveHub::new(run_id, metrics));
        let server = LiveServer::start(addr, Arc::clone(&hub))?;
        let publisher = LivePublisher::start(hub).map_err(LiveError::Start)?;
        tracing::info!("live views at http://{}/", server.addr());
        Ok(Live { publisher, server })
    }

    /// Publishes the last epochs and ends every stream; keeps serving the
    /// final views for `linger` (or until `stop`), then stops once the
    /// streams have drained.
    fn finish(self, reason: String, linger: std::time::Duration, stop: &AtomicBool) {
        self.publisher.finish(&reason);
        if !linger.is_zero() && !stop.load(std::sync::atomic::Ordering::Relaxed) {
            tracing::info!(
                "serving the final views at http://{}/ for {:.0} s more (Ctrl-C stops)",
                self.server.addr(),
                linger.as_secs_f64()
            );
            let until = Instant::now() + linger;
            while Instant::now() < until && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        drop(self.server);
    }
}

/// As [`run`], recording into `metrics` when given and serving no
/// `/metrics` ([`RunConfig::metrics_addr`] is not looked at); the live
/// views are served when [`RunConfig::serve`] asks for them.
pub fn run_with_metrics(
    config: RunConfig,
    timely: timely::Config,
    stop: Arc<AtomicBool>,
    observer: Arc<dyn RunObserver>,
    metrics: Option<Arc<Metrics>>,
) -> Result<RunSummary, RunError> {
    let process = process_index(&timely);
    let run_id = uuid::Uuid::new_v4().to_string();
    // One run writes the tables at a time: process 0 holds the lease
    // until the run ends.
    let _lease = match process {
        0 => Some(Lease::acquire(&config.data, &run_id).map_err(DeltaError::from)?),
        _ => None,
    };
    let live = match config.serve.filter(|_| process == 0) {
        Some(addr) => Some(Live::start(addr, &run_id, metrics.clone())?),
        None => None,
    };
    let sender = live.as_ref().and_then(|l| l.publisher.sender());
    let hub = live.as_ref().map(|l| Arc::clone(l.publisher.hub()));
    let linger = config.serve_linger;
    let outcome = run_inner(
        config,
        timely,
        Arc::clone(&stop),
        observer,
        metrics,
        run_id,
        (sender, hub),
    );
    if let Some(live) = live {
        live.finish(
            match &outcome {
                Ok(_) => "the run ended".to_owned(),
                Err(e) => format!("the run failed: {}", crate::error::error_chain(e)),
            },
            linger,
            &stop,
        );
    }
    outcome
}

fn run_inner(
    config: RunConfig,
    timely: timely::Config,
    stop: Arc<AtomicBool>,
    observer: Arc<dyn RunObserver>,
    metrics: Option<Arc<Metrics>>,
    run_id: String,
    (live, hub): (Option<EpochSender>, Option<Arc<LiveHub>>),
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let transactional = prepare_kafka_outputs(&config)?;
    let state = Arc::new(ProcessState::new(stop));
    let context = Arc::new(RunContext {
        config,
        // Only worker 0's id is used: it broadcasts it to every worker.
        run_id,
        transactional,
        state: Arc::clone(&state),
        observer,
        metrics,
        live,
        hub,
    });
    let guards = timely::execute(timely, move |worker| {
        // A panic is a broken invariant: recorded with its message (timely
        // reports only that a worker panicked), then let go on, so that
        // timely tears the cluster down as for any panic.
        match std::panic::catch_unwind(AssertUnwindSafe(|| run_worker(worker, &context))) {
            Ok(summary) => summary,
            Err(payload) => {
                context
                    .state
                    .fail(RunError::WorkerPanicked(panic_message(&*payload)));
                std::panic::resume_unwind(payload)
            }
        }
    })
    .map_err(RunError::Cluster)?;
    let mut summary = None;
    let mut panicked = None;
    for result in guards.join() {
        match result {
            Ok(Some(s)) => summary = Some(s),
            Ok(None) => {}
            Err(message) => panicked = Some(RunError::WorkerPanicked(message)),
        }
    }
    if let Some(error) = state.take_failure().or(panicked) {
        return Err(error);
    }
    let mut summary = summary.unwrap_or_default();
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Kafka outputs: the topics exist and the transaction mode is settled
/// before any worker starts. Whether records go in transactions.
fn prepare_kafka_outputs(config: &RunConfig) -> Result<bool, RunError> {
    let Some(out) = &config.kafka_out else {
        return Ok(false);
    };
    // Change and progress topics are folded from their first record: the
    // broker keeps all of them. Dead letters keep the broker's retention.
    let mut folded: Vec<(&str, i32)> = out
        .topics
        .change_topics()
        .into_iter()
        .map(|t| (t, out.partitions))
        .collect();
    folded.push((&out.topics.progress, 1));
    let keep = TopicSettings {
        keep_every_record: true,
        ..out.settings
    };
    ensure_topics(&out.client, &folded, &keep)?;
    ensure_topics(&out.client, &[(&out.topics.dlq, out.partitions)], &out.settings)?;
    Ok(out.transactions.resolve(&out.client)?)
}

/// The message a panic was raised with.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// This process's index in the timely cluster.
pub fn process_index(config: &timely::Config) -> usize {
    match &config.communication {
        timely::CommunicationConfig::Cluster { process, .. } => *process,
        _ => 0,
    }
}
