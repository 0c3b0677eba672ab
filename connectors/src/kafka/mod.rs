//! Kafka in and out: a partitioned source, change streams of silver and
//! gold, a dead-letter topic and a progress topic, and the reader that folds
//! a change topic up to the last completed checkpoint.
//!
//! - [`source`]: each worker consumes its share of the partitions, with
//!   positions (partition → offset) owned by the checkpoint, not by a
//!   consumer group.
//! - [`changes`]: how rows become change records (key, value, headers).
//! - [`emit`]: what each worker, and worker 0 last, send per checkpoint.
//! - [`producer`]: a producer that sends one checkpoint's records and waits
//!   for every acknowledgement, inside a transaction when the broker can.
//! - [`progress`]: the progress record, written last for each checkpoint,
//!   and the lineage it builds (which run completed which checkpoint).
//! - [`fold`]: `racecast changes`: the exact collection as of the last
//!   completed checkpoint.
//! - [`client`]: how to reach the brokers (TLS, SASL, extra settings).
//! - [`admin`]: topic creation and the broker feature probe.
//! - [`dump`]: every record of a topic, for tests and benchmarks.
//! - [`gaps`]: which offsets a reader took, skipped or must read again.
//! - [`silver_json`]: silver change values written straight from the row.
//!
//! The guarantee does not rest on broker transactions (no broker here
//! completes one): every change record carries its checkpoint number and the
//! id of the run that wrote it, and a reader takes each checkpoint only from
//! the run named by its progress record.

pub mod admin;
pub mod changes;
pub mod client;
pub mod dump;
pub mod emit;
pub mod fold;
pub mod gaps;
pub mod producer;
pub mod progress;
pub mod silver_json;
pub mod source;

use std::time::Duration;

pub use admin::{BrokerFeatures, SmallerTopic, TopicSettings, ensure_topics};
pub use changes::{ChangeTopic, Op};
pub use client::{KafkaClient, SaslCredentials, SaslMechanism, SecurityProtocol};
pub use emit::KafkaEmitter;
pub use fold::{ChangeFold, FoldOptions};
pub use producer::{CheckpointProducer, Transactions};
pub use progress::{Lineage, ProgressRecord};
pub use source::{KafkaSource, SourceTopics};

/// Header naming a change record's checkpoint (ASCII decimal).
pub const CHECKPOINT_HEADER: &str = "racecast.checkpoint";
/// Header naming the run that wrote a record.
pub const RUN_HEADER: &str = "racecast.run";
/// Dead-letter header: the quarantine reasons (JSON array of `kind:detail`).
pub const REASONS_HEADER: &str = "racecast.reasons";
/// Dead-letter header: where the record was read (source name).
pub const SOURCE_HEADER: &str = "racecast.source";
/// Dead-letter header: the record's partition.
pub const PARTITION_HEADER: &str = "racecast.partition";
/// Dead-letter header: the record's offset.
pub const OFFSET_HEADER: &str = "racecast.offset";

/// How long a metadata or admin request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The output topics of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutTopics {
    /// Silver change stream.
    pub silver: String,
    /// `gold.lap_metrics` change stream.
    pub laps: String,
    /// `gold.session_metrics` change stream.
    pub sessions: String,
    /// Dead-letter topic (quarantined records).
    pub dlq: String,
    /// Progress topic (one record per completed checkpoint).
    pub progress: String,
}

impl OutTopics {
    /// The topics named `<prefix>.silver.telemetry_enriched`,
    /// `<prefix>.gold.lap_metrics`, `<prefix>.gold.session_metrics`,
    /// `<prefix>.quarantine` and `<prefix>.progress`.
    pub fn with_prefix(prefix: &str) -> OutTopics {
        OutTopics {
            silver: format!("{prefix}.silver.telemetry_enriched"),
            laps: format!("{prefix}.gold.lap_metrics"),
            sessions: format!("{prefix}.gold.session_metrics"),
            dlq: format!("{prefix}.quarantine"),
            progress: format!("{prefix}.progress"),
        }
    }

    /// The change-stream topics.
    pub fn change_topics(&self) -> [&str; 3] {
        [&self.silver, &self.laps, &self.sessions]
    }
}

/// Where a run's outputs go on Kafka.
#[derive(Clone, Debug)]
pub struct KafkaOut {
    /// How to reach the brokers.
    pub client: KafkaClient,
    /// Topic names.
    pub topics: OutTopics,
    /// Partitions of the change and dead-letter topics when racecast creates
    /// them (the progress topic always has one).
    pub partitions: i32,
    /// Replication of the topics racecast creates.
    pub settings: TopicSettings,
    /// Whether to use Kafka transactions.
    pub transactions: Transactions,
}

/// Errors of the Kafka connectors.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The client reported an error.
    #[error("kafka ({context})")]
    Client {
        /// What was being done.
        context: String,
        /// The client's error.
        source: rdkafka::error::KafkaError,
    },
    /// A topic does not exist (and is not racecast's to create).
    #[error("topic \"{0}\" does not exist on the brokers (create it, or check --topic)")]
    NoTopic(String),
    /// The brokers could not be reached.
    #[error("cannot reach the Kafka brokers at {brokers}: {reason}")]
    Unreachable {
        /// Bootstrap servers.
        brokers: String,
        /// Why.
        reason: String,
    },
    /// A record was not acknowledged.
    #[error("kafka: {count} record(s) of checkpoint {checkpoint} were not delivered: {first}")]
    Delivery {
        /// Checkpoint.
        checkpoint: u64,
        /// How many failed.
        count: usize,
        /// The first failure.
        first: String,
    },
    /// Transactions were asked for and the broker cannot complete them.
    #[error("--kafka-transactions on, but the brokers at {0} do not support EndTxn (KIP-98)")]
    NoTransactions(String),
    /// A progress record could not be read.
    #[error("progress topic \"{topic}\" offset {offset}: {reason}")]
    BadProgress {
        /// Topic.
        topic: String,
        /// Offset.
        offset: i64,
        /// Why.
        reason: String,
    },
    /// A change record could not be read.
    #[error("change topic \"{topic}\" partition {partition} offset {offset}: {reason}")]
    BadChange {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
        /// Why.
        reason: String,
    },
    /// The broker no longer holds records a reader still needed: it
    /// deleted a partition's first records (retention), so the topic
    /// cannot be read whole.
    #[error(
        "topic \"{0}\": the brokers deleted records not yet read (a partition's log \
         starts past them, after retention); a change topic is folded from its first record, \
         so give it retention.ms=-1 and retention.bytes=-1"
    )]
    Truncated(String),
    /// Folding found a row counted other than once (the stream is not a
    /// collection: a bug or foreign records).
    #[error("change topic \"{topic}\": row counted {count} times as of checkpoint {checkpoint}: {row}")]
    NotACollection {
        /// Topic.
        topic: String,
        /// Checkpoint.
        checkpoint: u64,
        /// The count.
        count: i64,
        /// The row.
        row: String,
    },
    /// Writing the folded output failed.
    #[error("could not write \"{path}\"")]
    Output {
        /// Path.
        path: String,
        /// Error.
        source: std::io::Error,
    },
}

impl KafkaError {
    pub(crate) fn client(
        context: impl Into<String>,
    ) -> impl FnOnce(rdkafka::error::KafkaError) -> KafkaError {
        let context = context.into();
        move |source| KafkaError::Client { context, source }
    }

    /// [`KafkaError::Truncated`] of `topic` when a consumer's `error` says
    /// it asked for offsets below a partition's log start (a consumer made
    /// with `auto.offset.reset=error`, which fails there instead of
    /// skipping what the broker deleted).
    pub(crate) fn truncation(error: &rdkafka::error::KafkaError, topic: &str) -> Option<KafkaError> {
        use rdkafka::error::RDKafkaErrorCode::{AutoOffsetReset, OffsetOutOfRange};
        matches!(
            error,
            rdkafka::error::KafkaError::MessageConsumption(AutoOffsetReset | OffsetOutOfRange)
        )
        .then(|| KafkaError::Truncated(topic.to_owned()))
    }
}
