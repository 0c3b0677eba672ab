//! [`RunConfig`]: a validated run, what it reads ([`Source`]) and where it
//! writes. The binary checks flags once and builds one; library users and
//! tests start from [`RunConfig::new`] (the defaults of `racecast run`) and
//! change what they need with struct update syntax.

use std::net::SocketAddr;
use std::path::PathBuf;

use racecast_connectors::storage::Location;
use std::sync::Arc;
use std::time::Duration;

use racecast_connectors::kafka::{KafkaClient, KafkaOut, SourceTopics};
use racecast_dataflow::Limits;
use racecast_dataflow::expect::Suite;
use racecast_sim::SimConfig;

/// Default wall time per ingestion epoch.
pub const EPOCH: Duration = Duration::from_millis(100);

/// Default application id: tags every Delta commit (`txn`) and progress
/// record.
pub const APP_ID: &str = "racecast";

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
        /// How to reach the brokers.
        client: KafkaClient,
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

impl Source {
    /// The names a checkpoint records for this source, by source index
    /// (entries first): file paths, topics, or `simulator`.
    pub fn names(&self) -> Vec<String> {
        match self {
            Source::Files { inputs, entries } => entries
                .iter()
                .chain(inputs)
                .map(|p| p.display().to_string())
                .collect(),
            Source::Kafka { topics, .. } => topics.names(),
            Source::Simulator { .. } => vec!["simulator".into()],
        }
    }
}

/// A validated run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Input.
    pub source: Source,
    /// Root of the Delta tables (a local directory or an S3 prefix).
    pub data: Location,
    /// Time between checkpoint boundaries, in whole epochs (at least one).
    pub checkpoint_interval: Duration,
    /// Wall time per ingestion epoch (the finest checkpoint grain);
    /// [`EPOCH`] is the default.
    pub epoch: Duration,
    /// Application id in the Delta `txn` actions.
    pub app_id: String,
    /// Serve Prometheus metrics on this address (this process's own).
    pub metrics_addr: Option<SocketAddr>,
    /// Serve the live views (gold's changes at the processing frontier,
    /// the timing page) on this address; process 0 serves, other
    /// processes ignore it.
    pub serve: Option<SocketAddr>,
    /// After the run ends, keep serving the final live views this long (a
    /// stop signal ends it earlier).
    pub serve_linger: Duration,
    /// Decoding limits (record size, expected schema id).
    pub limits: Limits,
    /// The expectation suite every valid event is checked against (empty:
    /// SPEC §1's rules only).
    pub expectations: Arc<Suite>,
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

impl RunConfig {
    /// A run of `source` into the tables under `data`, with the defaults of
    /// `racecast run`: checkpoints every second over 100 ms epochs, resuming
    /// from the last complete checkpoint, keeping the last 100 checkpoints
    /// (retention every minute), silver with deletion vectors, no Kafka
    /// outputs, no metrics endpoint, no live views.
    pub fn new(source: Source, data: Location) -> RunConfig {
        RunConfig {
            source,
            data,
            checkpoint_interval: Duration::from_secs(1),
            epoch: EPOCH,
            app_id: APP_ID.into(),
            metrics_addr: None,
            serve: None,
            serve_linger: Duration::ZERO,
            limits: Limits::default(),
            expectations: Arc::default(),
            kafka_out: None,
            fresh: false,
            retention: Some(RetentionConfig {
                keep: 100,
                every: Duration::from_secs(60),
            }),
            silver_deletion_vectors: true,
        }
    }

    /// Epochs per checkpoint: the interval over the epoch length, at least 1.
    pub fn epochs_per_checkpoint(&self) -> u64 {
        (self.checkpoint_interval.as_nanos() / self.epoch.as_nanos().max(1)).max(1) as u64
    }
}

/// How much history the tables keep (see
/// [`racecast_connectors::delta::retention`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Checkpoints kept readable (at least 1).
    pub keep: u64,
    /// Time between two retention passes.
    pub every: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_is_a_whole_number_of_epochs() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = RunConfig::new(
            Source::Files {
                inputs: vec![],
                entries: None,
            },
            Location::local(dir.path()).expect("a location"),
        );
        assert_eq!(config.epochs_per_checkpoint(), 10);
        config.checkpoint_interval = Duration::ZERO;
        config.epoch = Duration::from_millis(2);
        assert_eq!(config.epochs_per_checkpoint(), 1);
        config.checkpoint_interval = Duration::from_millis(250);
        config.epoch = Duration::from_millis(100);
        assert_eq!(config.epochs_per_checkpoint(), 2, "whole epochs only");
    }
}
