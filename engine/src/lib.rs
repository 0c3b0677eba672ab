//! racecast's engine: one home for a run. It wires the sources into the
//! pure dataflow (`racecast-dataflow`), cuts the epochs into checkpoints,
//! drives the sinks' commits through the adapters (`racecast-connectors`),
//! and brings a run back after a crash. The binary parses flags into a
//! [`RunConfig`] and calls [`run()`]; it watches the run through a
//! [`RunObserver`].
//!
//! Where to start reading:
//! - [`run`](mod@run) and [`worker`]: a run from start to end, and what each
//!   timely worker does;
//! - [`clock`]: epochs and checkpoint boundaries; [`positions`]: where a
//!   checkpoint's input ends, per source;
//! - [`feed`]: what each worker puts into the dataflow;
//! - [`sink`]: each worker's files of a checkpoint, worker 0's commit;
//! - [`recovery`]: preparing the data directory, catching Kafka up, and
//!   resuming;
//! - [`config`], [`error`], [`summary`], [`observer`]: the run's inputs
//!   and outputs;
//! - [`simulate`] and [`validate`]: the jobs of `racecast simulate` and
//!   `racecast validate`.
#![deny(missing_docs)]

mod barrier;
pub mod clock;
pub mod config;
mod control;
pub mod error;
mod feed;
pub mod observer;
pub mod positions;
pub mod recovery;
pub mod run;
pub mod simulate;
pub mod sink;
pub mod summary;
pub mod validate;
mod worker;

pub use config::{APP_ID, EPOCH, RetentionConfig, RunConfig, Source};
pub use error::RunError;
pub use observer::{RunObserver, Unobserved};
pub use run::{process_index, run, run_with_metrics};
pub use summary::{ClassifiedCar, RunSummary};
