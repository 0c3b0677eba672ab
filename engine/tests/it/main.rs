//! racecast-engine's integration tests, one binary: whole runs over files,
//! Kafka (a real broker) and two processes, checked against the batch
//! reference through the Delta tables (read back by Rust and by Python's
//! `deltalake`), the Kafka folds (racecast's and an independent Python
//! one) and the metrics; and resuming after a stop, with any worker count.

mod kafka;
mod metrics;
mod recovery;
mod run_delta;
