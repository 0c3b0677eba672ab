//! racecast's adapters: everything that touches files, clocks or the
//! network, each behind a cargo feature of its own. Nothing here knows how
//! a run is orchestrated (epochs, checkpoints, recovery): that is
//! `racecast-engine`, which calls these.
//!
//! - [`files`] (feature `files`): `.jsonl` / length-delimited `.pb` record
//!   files, read and written.
//! - [`delta`] (feature `delta`): the Delta Lake tables: each worker's
//!   files of a checkpoint, the commit of a checkpoint, reading back,
//!   history, retention.
//! - [`storage`] (feature `delta`): where the tables live, a local
//!   directory or an S3 prefix, through `object_store`.
//! - [`kafka`] (feature `kafka`): the Kafka source, change streams,
//!   dead-letter and progress topics, and the change-topic fold
//!   (`racecast changes`).
//! - [`metrics`] (feature `metrics`): Prometheus metrics and the `/metrics`
//!   endpoint.
//! - [`live`] (feature `live`): gold's changes at the processing frontier
//!   over HTTP (JSON, Server-Sent Events) and the live timing page.
//! - [`query`] (feature `query`): SQL over the tables as of a checkpoint
//!   (DataFusion), the named views of `queries/`, results written out.
//! - [`crash`]: crash points for recovery tests (`RACECAST_CRASH_AT`).
//! - [`host`]: the wall clock and an async runtime; [`json`]: JSON text
//!   written by hand; [`http_thread`]: an HTTP server on a thread of its
//!   own (metrics and live views).
//!
//! The pure dataflow and the decoder live in `racecast-dataflow`, the race
//! simulator in `racecast-sim`.
#![deny(missing_docs)]

pub mod crash;
#[cfg(feature = "delta")]
pub mod delta;
#[cfg(feature = "files")]
pub mod files;
pub mod host;
#[cfg(feature = "metrics")]
pub mod http_thread;
pub mod json;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "live")]
pub mod live;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "query")]
pub mod query;
#[cfg(feature = "delta")]
pub mod storage;
