//! racecast's I/O: everything that touches files, clocks or the network.
//!
//! - [`files`]: `.jsonl` / length-delimited `.pb` record files (read and write).
//! - [`checkpoint`]: the sink operators: every worker writes its files, worker 0
//!   commits each checkpoint.
//! - [`crash`]: crash points for recovery tests (`RACECAST_CRASH_AT`).
//! - [`delta`]: the Delta Lake sink (five tables, one commit per checkpoint).
//! - [`feed`]: what each worker feeds the dataflow (restored state, files,
//!   the simulator, Kafka).
//! - [`kafka`]: the Kafka source, change streams, dead-letter and progress
//!   topics, and the change-topic fold (`racecast changes`).
//! - [`metrics`]: Prometheus metrics and the `/metrics` endpoint.
//! - [`positions`]: source positions, resumable with any worker count.
//! - [`resume`]: resuming from the last complete checkpoint.
//! - [`run`]: `racecast run`: sources → dataflow → sinks, checkpoints.
//!
//! The pure dataflow and the decoder live in `racecast-dataflow`, the race
//! simulator in `racecast-sim`.
#![deny(missing_docs)]

pub mod checkpoint;
pub mod crash;
pub mod delta;
mod feed;
pub mod files;
pub mod kafka;
pub mod metrics;
pub mod positions;
pub mod resume;
pub mod run;
