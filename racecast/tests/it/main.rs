//! The `racecast` binary's integration tests, one binary: the CLI as a user
//! runs it (`cli`), expectation suites in check, validate and run
//! (`expectations`), crash recovery at every crash point with files and
//! Kafka, workers and processes (`recovery`), Kafka change streams across
//! crashes (`kafka_crash`), Kafka over SASL_SSL (`kafka_security`), the live
//! views of `run --serve` folded by independent clients and shown in
//! headless Chromium (`live`), a live
//! run scraped by a real Prometheus (`prometheus`), the tables on a real
//! S3 server (`s3`), the local stack of
//! `make up` (`stack`), and `racecast query` and the dbt models over a
//! run's tables against independent computations (`query`,
//! `views_reference`).

mod cli;
mod expectation_results;
mod expectations;
mod kafka_crash;
mod kafka_security;
mod live;
mod prometheus;
mod query;
mod recovery;
mod s3;
mod stack;
mod views_reference;

use std::path::Path;
use std::process::{Command, Output};

/// The built binary, run from `dir`, crashing at `crash_at` when given.
fn racecast_command(dir: &Path, crash_at: Option<&str>) -> Command {
    racecast_testkit::cli::command(env!("CARGO_BIN_EXE_racecast"), dir, crash_at)
}

/// Runs the built binary with `args` from `dir`, crashing at `crash_at`
/// when given.
fn racecast(args: &[&str], dir: &Path, crash_at: Option<&str>) -> Output {
    racecast_command(dir, crash_at)
        .args(args)
        .output()
        .expect("racecast runs")
}
