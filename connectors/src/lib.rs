//! racecast's I/O: everything that touches files, clocks or the network.
//!
//! - [`files`]: `.jsonl` / length-delimited `.pb` record files (read and write).
//! - [`checkpoint`]: the sink operators: every worker writes its files, worker 0
//!   commits each checkpoint.
//! - [`delta`]: the Delta Lake sink (five tables, one commit per checkpoint).
//! - [`metrics`]: Prometheus metrics and the `/metrics` endpoint.
//! - [`run`]: `racecast run`: sources → dataflow → sinks, checkpoints.
//! - [`simulator`]: a deterministic race that produces telemetry in arrival
//!   order, with duplicates, late events, corrections and invalid records.
//!
//! The pure dataflow and the decoder live in `racecast-dataflow`.
#![deny(missing_docs)]

pub mod checkpoint;
pub mod delta;
pub mod files;
pub mod metrics;
pub mod run;
pub mod simulator;
