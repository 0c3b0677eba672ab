//! [`RunError`]: why a run (or its start) failed, typed where the failure
//! happened. A failure in another timely process reaches this one only as
//! text (workers exchange data, not error values): those variants carry the
//! message, every local failure keeps its type and its source chain.
//!
//! Each variant either names something the user can fix (a file, a broker,
//! a data directory that belongs to other inputs: exit code 1) or a broken
//! invariant ([`RunError::is_internal`]: exit code 2).

use racecast_connectors::delta::DeltaError;
use racecast_connectors::files::FileError;
use racecast_connectors::kafka::KafkaError;
use racecast_connectors::live::LiveError;
use racecast_connectors::metrics::MetricsError;
use racecast_sim::SimConfigError;

/// Errors of a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A source file could not be read.
    #[error(transparent)]
    File(#[from] FileError),
    /// The Delta sink failed.
    #[error(transparent)]
    Delta(#[from] DeltaError),
    /// A Kafka source or sink failed.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// The metrics endpoint could not start.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// The live views could not be served.
    #[error(transparent)]
    Live(#[from] LiveError),
    /// The simulated race is not one the simulator can run.
    #[error(transparent)]
    Race(#[from] SimConfigError),
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
    /// A worker of another process could not start the run (its own
    /// process reports why, with the cause's type).
    #[error("the run could not start: {message}")]
    PeerStart {
        /// What that worker reported.
        message: String,
    },
    /// A worker (perhaps of another process) failed while the run went
    /// on: nothing after its last complete checkpoint was committed.
    #[error("worker {worker} failed, no further checkpoint was committed: {message}")]
    WorkerFailed {
        /// The global index of the worker.
        worker: usize,
        /// What it reported.
        message: String,
    },
    /// A test's injected write failure (`fail-part`, see
    /// [`racecast_connectors::crash`]).
    #[error("worker {worker} could not write checkpoint {checkpoint} (injected by {var})", var = racecast_connectors::crash::CRASH_AT)]
    Injected {
        /// The worker.
        worker: usize,
        /// The checkpoint.
        checkpoint: u64,
    },
    /// Timely could not set up the cluster (timely reports it as text).
    #[error("could not start the timely cluster: {0}")]
    Cluster(String),
    /// A worker thread panicked: a broken invariant.
    #[error("a worker panicked: {0}")]
    WorkerPanicked(String),
}

impl RunError {
    /// Whether the error is a bug rather than something the user can fix
    /// (exit code 2 rather than 1).
    pub fn is_internal(&self) -> bool {
        matches!(self, RunError::WorkerPanicked(_))
    }
}

/// An error and its causes, as one line (for messages that cross workers
/// and processes as text).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
