//! racecast-engine's integration tests, one binary: whole runs over files,
//! Kafka (a real broker) and two processes, checked against the batch
//! reference through the Delta tables (read back by Rust and by Python's
//! `deltalake`), the Kafka folds (racecast's and an independent Python
//! one) and the metrics; resuming after a stop, with any worker count;
//! and the same on S3 (a real S3 server).

mod kafka;
mod metrics;
mod recovery;
mod run_delta;
mod s3;
