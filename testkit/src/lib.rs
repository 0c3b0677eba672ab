//! racecast's test kit (not published): what the integration tests of
//! every crate share, so that each test says only what it checks.
//!
//! - [`broker`]: a real Kafka-protocol broker (tansu on a free port, or
//!   `RACECAST_KAFKA_BROKERS`);
//! - [`s3`]: a real S3 server (s3s-fs on a free port over a temporary
//!   directory), to stop and restart;
//! - [`tables`]: a run's Delta tables read back and checked against the
//!   batch reference;
//! - [`cluster`]: runs on N workers or 2 processes, and their input files;
//! - [`config`]: run configurations and the Python readers;
//! - [`cli`]: the built `racecast` binary, run as a user would;
//! - [`data`]: a run's data root, a local directory or an S3 prefix.
//!
//! The batch reference itself is `racecast_dataflow::reference` (feature
//! `testing`), the simulated races `racecast_sim::simulated`.

pub mod broker;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod data;
pub mod s3;
pub mod tables;

pub use broker::Broker;
pub use data::Data;
pub use racecast_dataflow::reference::{Batch, batch};
pub use racecast_dataflow::testing::{Accumulated, run_dataflow};
pub use racecast_sim::simulated;
pub use s3::S3Server;
