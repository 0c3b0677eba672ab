//! Prometheus metrics of a run, served at `/metrics` by [`server`].
//!
//! - [`Metrics`]: the process's registry and every metric family; every
//!   series carries the label `process` (timely process index), per-worker
//!   ones also `worker` (global worker index).
//! - [`worker`]: what each worker publishes between steps (records in,
//!   quarantine reasons, upsert outcomes, lateness, arrangement sizes).
//! - [`hdr`]: latency histograms kept in HDR histograms, exported as
//!   Prometheus histograms with buckets from 1 ms to 60 s.
//! - [`arrangements`], [`process`]: arrangement sizes from timely's and
//!   differential's logs, and the standard `process_*` metrics.
//!
//! The checkpoint sink (worker 0) records checkpoint and per-table commit
//! metrics and both latencies at each commit. The catalogue, with what each
//! metric means, is in the README ("Metrics").

pub mod arrangements;
pub mod hdr;
pub mod process;
pub mod server;
pub mod worker;

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

pub use hdr::HdrHistogram;
pub use server::{MetricsError, MetricsServer};

/// Sink label of the Delta Lake sink.
pub const DELTA: &str = "delta";

/// `worker`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkerLabels {
    /// Global worker index.
    pub worker: u32,
}

/// `worker`, `source`, `event_type`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RecordLabels {
    /// Global worker index.
    pub worker: u32,
    /// Source name (file path, `simulator`, topic).
    pub source: String,
    /// Event type, `entry` or `invalid`.
    pub event_type: &'static str,
}

/// `worker`, `reason`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Global worker index.
    pub worker: u32,
    /// Reason code, e.g. `range:speed_kph`.
    pub reason: String,
}

/// `worker`, `expectation`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExpectationLabels {
    /// Global worker index.
    pub worker: u32,
    /// The expectation's name in the run's suite.
    pub expectation: String,
}

/// `worker`, `source`, `partition`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    /// Global worker index.
    pub worker: u32,
    /// Source name.
    pub source: String,
    /// Partition (0 for files and the simulator).
    pub partition: u32,
}

/// `sink`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabels {
    /// `delta` (or `kafka`).
    pub sink: &'static str,
}

/// `sink`, `table`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabels {
    /// `delta` (or `kafka`).
    pub sink: &'static str,
    /// Table path, e.g. `silver/telemetry_enriched`.
    pub table: &'static str,
}

/// `sink`, `table`, `op`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RowLabels {
    /// `delta` (or `kafka`).
    pub sink: &'static str,
    /// Table path.
    pub table: &'static str,
    /// `insert` or `retract`.
    pub op: &'static str,
}

/// `worker`, `operator`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperatorLabels {
    /// Global worker index.
    pub worker: u32,
    /// Operator name.
    pub operator: String,
}

/// Seconds since the last completed checkpoint (or since the run started,
/// before the first), computed when scraped, so it keeps growing when the
/// pipeline is stuck.
#[derive(Clone, Debug)]
pub struct CheckpointAge {
    last: Arc<Mutex<Instant>>,
}

impl CheckpointAge {
    fn new() -> CheckpointAge {
        CheckpointAge {
            last: Arc::new(Mutex::new(Instant::now())),
        }
    }

    /// Marks a checkpoint completed now.
    pub fn completed(&self) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// The current age.
    pub fn age(&self) -> Duration {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).elapsed()
    }
}

impl TypedMetric for CheckpointAge {
    const TYPE: MetricType = MetricType::Gauge;
}

impl EncodeMetric for CheckpointAge {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.age().as_secs_f64())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}

/// Every metric of one process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Records read, per worker, source and type.
    pub events_in: Family<RecordLabels, Counter>,
    /// Quarantined records per reason code.
    pub quarantined: Family<ReasonLabels, Counter>,
    /// Records an expectation of the suite found unexpected.
    pub expectation_unexpected: Family<ExpectationLabels, Counter>,
    /// Records in an expectation's domain (its checked values and nulls).
    pub expectation_evaluated: Family<ExpectationLabels, Counter>,
    /// Valid events that repeated their id's winner.
    pub duplicates: Family<WorkerLabels, Counter>,
    /// Valid events older (lower revision) than their id's winner.
    pub stale_revisions: Family<WorkerLabels, Counter>,
    /// Valid events that replaced their id's winner.
    pub corrections: Family<WorkerLabels, Counter>,
    /// Late events (see `racecast_dataflow::stats`).
    pub late_events: Family<WorkerLabels, Counter>,
    /// How late late events are.
    pub lateness: Family<WorkerLabels, HdrHistogram>,
    /// How far a source is behind (seconds).
    pub source_lag_seconds: Family<PartitionLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// How many records a Kafka partition is behind its end offset.
    pub source_lag_records: Family<PartitionLabels, Gauge>,
    /// Ingest time → the frontier passing the record's epoch (its changes
    /// final, ready to commit).
    pub processing: HdrHistogram,
    /// Ingest time → the record's epoch handed to every live-view client
    /// (`racecast run --serve`).
    pub ingest_to_view: HdrHistogram,
    /// Live-view clients connected (`racecast run --serve`).
    pub live_clients: Gauge,
    /// Ingest time → change committed, per sink.
    pub ingest_to_commit: Family<SinkLabels, HdrHistogram>,
    /// Event time → change committed, per sink.
    pub event_to_commit: Family<SinkLabels, HdrHistogram>,
    /// The last completed checkpoint's number.
    pub checkpoint_number: Gauge,
    /// When the last checkpoint completed (Unix seconds).
    pub checkpoint_completed_at: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Time since the last checkpoint.
    pub checkpoint_age: CheckpointAge,
    /// Checkpoints completed.
    pub checkpoints: Counter,
    /// Time to write and commit a whole checkpoint.
    pub checkpoint_duration: HdrHistogram,
    /// Time to write and commit one table's part of a checkpoint.
    pub commit_duration: Family<TableLabels, HdrHistogram>,
    /// Rows written per table and operation.
    pub sink_rows: Family<RowLabels, Counter>,
    /// Updates held per arrangement.
    pub arrangement_records: Family<OperatorLabels, Gauge>,
    /// Bytes held per arrangement (batchers, silver state).
    pub arrangement_bytes: Family<OperatorLabels, Gauge>,
    /// Silver rows held per worker.
    pub silver_rows: Family<WorkerLabels, Gauge>,
}

impl Metrics {
    /// The metrics of timely process `process` (checkpoint, sink and
    /// latency metrics only in process 0, where the checkpoint sink runs).
    pub fn new(process: usize) -> Metrics {
        let labels = [(Cow::Borrowed("process"), Cow::Owned(process.to_string()))];
        let mut registry = Registry::with_labels(labels.into_iter());
        let m = Metrics {
            registry: Registry::default(),
            events_in: Family::default(),
            quarantined: Family::default(),
            expectation_unexpected: Family::default(),
            expectation_evaluated: Family::default(),
            duplicates: Family::default(),
            stale_revisions: Family::default(),
            corrections: Family::default(),
            late_events: Family::default(),
            lateness: Family::default(),
            source_lag_seconds: Family::default(),
            source_lag_records: Family::default(),
            processing: HdrHistogram::default(),
            ingest_to_view: HdrHistogram::default(),
            live_clients: Gauge::default(),
            ingest_to_commit: Family::default(),
            event_to_commit: Family::default(),
            checkpoint_number: Gauge::default(),
            checkpoint_completed_at: Gauge::default(),
            checkpoint_age: CheckpointAge::new(),
            checkpoints: Counter::default(),
            checkpoint_duration: HdrHistogram::default(),
            commit_duration: Family::default(),
            sink_rows: Family::default(),
            arrangement_records: Family::default(),
            arrangement_bytes: Family::default(),
            silver_rows: Family::default(),
        };
        let r = &mut registry;
        r.register(
            "racecast_events_in",
            "Records read, by worker, source and event type (entry: entry-list records; invalid: quarantined records)",
            m.events_in.clone(),
        );
        r.register(
            "racecast_quarantined",
            "Quarantined records per reason code (a record with several reasons counts once per reason)",
            m.quarantined.clone(),
        );
        r.register(
            "racecast_expectation_unexpected",
            "Records an expectation of the run's suite (--expectations) found unexpected, whatever its action",
            m.expectation_unexpected.clone(),
        );
        r.register(
            "racecast_expectation_evaluated",
            "Records in the domain of an expectation of the run's suite (its event type, or every event), nulls included",
            m.expectation_evaluated.clone(),
        );
        r.register(
            "racecast_duplicates",
            "Valid events with the same revision as their event id's silver row that did not replace it",
            m.duplicates.clone(),
        );
        r.register(
            "racecast_stale_revisions",
            "Valid events with a lower revision than their event id's silver row",
            m.stale_revisions.clone(),
        );
        r.register(
            "racecast_corrections",
            "Valid events that replaced their event id's silver row (a higher revision)",
            m.corrections.clone(),
        );
        r.register(
            "racecast_late_events",
            "Events older than the newest event the worker had read for the same car",
            m.late_events.clone(),
        );
        r.register(
            "racecast_event_lateness_seconds",
            "How much older than the newest event of the same car a late event is",
            m.lateness.clone(),
        );
        r.register(
            "racecast_source_lag_seconds",
            "How far a source partition is behind: for the simulator, behind its schedule; for Kafka, the age of the last record read while records are waiting",
            m.source_lag_seconds.clone(),
        );
        r.register(
            "racecast_source_lag_records",
            "Records between a Kafka partition's end offset and the next offset racecast reads",
            m.source_lag_records.clone(),
        );
        // The checkpoint sink runs on worker 0, in process 0: other processes
        // have no checkpoint to report (an age there would only grow).
        if process == 0 {
            r.register(
                "racecast_processing_latency_seconds",
                "Time from a record's ingestion until the dataflow has processed its epoch on every worker (its silver and gold changes are final and ready to commit)",
                m.processing.clone(),
            );
            r.register(
                "racecast_ingest_to_view_seconds",
                "Time from a record's ingestion until the live views (racecast run --serve) have handed its epoch's changes to every connected client",
                m.ingest_to_view.clone(),
            );
            r.register(
                "racecast_live_clients",
                "Clients connected to the live views' change feeds (racecast run --serve)",
                m.live_clients.clone(),
            );
            r.register(
                "racecast_ingest_to_commit_seconds",
                "Time from a record's ingestion to the commit of the checkpoint that holds its changes, per sink",
                m.ingest_to_commit.clone(),
            );
            r.register(
                "racecast_event_to_commit_seconds",
                "Time from a silver event's event time to the commit of the checkpoint that holds it and its gold changes, per sink (events with a future event time are not counted)",
                m.event_to_commit.clone(),
            );
            r.register(
                "racecast_checkpoint_number",
                "Number of the last completed checkpoint",
                m.checkpoint_number.clone(),
            );
            r.register(
                "racecast_checkpoint_last_completed_timestamp_seconds",
                "Unix time at which the last checkpoint completed",
                m.checkpoint_completed_at.clone(),
            );
            r.register(
                "racecast_checkpoint_age_seconds",
                "Seconds since the last checkpoint completed (since the start before the first)",
                m.checkpoint_age.clone(),
            );
            r.register(
                "racecast_checkpoints",
                "Checkpoints completed",
                m.checkpoints.clone(),
            );
            r.register(
                "racecast_checkpoint_duration_seconds",
                "Time to write and commit every table of a checkpoint",
                m.checkpoint_duration.clone(),
            );
            r.register(
                "racecast_sink_commit_duration_seconds",
                "Time to write and commit one table's share of a checkpoint",
                m.commit_duration.clone(),
            );
            r.register(
                "racecast_sink_rows",
                "Rows written per table: op=insert for appended or inserted rows, op=retract for retracted rows",
                m.sink_rows.clone(),
            );
        }
        r.register(
            "racecast_arrangement_records",
            "Updates held by a dataflow operator's arrangements (differential traces; the silver state's rows)",
            m.arrangement_records.clone(),
        );
        r.register(
            "racecast_arrangement_bytes",
            "Bytes held by a dataflow operator: differential batchers, and the silver upsert state",
            m.arrangement_bytes.clone(),
        );
        r.register(
            "racecast_silver_rows",
            "Silver rows held by a worker",
            m.silver_rows.clone(),
        );
        r.register(
            "racecast_build",
            "racecast build",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        r.register_collector(Box::new(process::ProcessCollector::new()));
        Metrics { registry, ..m }
    }

    /// The exposition (OpenMetrics text, ending in `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
            out.push_str("# EOF\n");
        }
        out
    }

    /// Records a completed checkpoint.
    pub fn checkpoint_completed(&self, number: u64, duration: Duration) {
        self.checkpoint_number.set(number as i64);
        self.checkpoints.inc();
        self.checkpoint_duration.record(duration);
        self.checkpoint_age.completed();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.checkpoint_completed_at.set(now);
    }
}
