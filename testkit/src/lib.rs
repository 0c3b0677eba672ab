//! racecast's test kit (not published): what the integration tests of
//! every crate share, so that each test says only what it checks.
//!
//! - [`broker`]: a real Kafka-protocol broker (tansu on a free port, or
//!   `RACECAST_KAFKA_BROKERS`);
//! - [`tables`]: a run's Delta tables read back and checked against the
//!   batch reference;
//! - [`cluster`]: runs on N workers or 2 processes, and their input files;
//! - [`config`]: run configurations and the Python readers;
//! - [`cli`]: the built `racecast` binary, run as a user would.
//!
//! The batch reference itself is `racecast_dataflow::reference` (feature
//! `testing`), the simulated races `racecast_sim::simulated`.

pub mod broker;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod tables;

pub use broker::Broker;
pub use racecast_dataflow::reference::{Batch, batch};
pub use racecast_dataflow::testing::{Accumulated, run_dataflow};
pub use racecast_sim::simulated;
