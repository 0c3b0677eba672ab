//! Recovery: what a run does before it reads any input, so that it goes on
//! exactly where the last complete checkpoint left off.
//!
//! ```text
//! worker 0, alone              every worker                  then
//! ┌──────────────────────┐     ┌────────────────────────┐    ┌──────────────┐
//! │ prepare: --fresh, or │     │ Resume::load (once per │    │ feed/restore │
//! │ roll a half-committed│ ──▶ │ process): checkpoint,  │──▶ │ its share of │
//! │ checkpoint forward;  │     │ positions, silver files│    │ silver, then │
//! │ catch Kafka up; sweep│     │ and entries            │    │ the sources  │
//! └──────────────────────┘     └────────────────────────┘    └──────────────┘
//! ```
//!
//! - [`mod@prepare`]: makes the data directory ready (fresh start, roll
//!   forward, retention sweep);
//! - [`catchup`]: brings Kafka's change streams up to the tables;
//! - [`resume`]: what resuming needs ([`Resume`]), read from the tables.
//!
//! What comes back from where (nothing is replayed from the input history):
//!
//! | state | restored from |
//! |---|---|
//! | which checkpoint | the `txn` of every table (all five are committed each checkpoint); a checkpoint left half-committed is first completed from its manifest |
//! | source positions | the `commitInfo` of that checkpoint's commit ([`crate::positions::Positions`]) |
//! | silver upsert state | the silver table at that version: each worker reads a share of its files and the rows go to their owners through the dataflow |
//! | entry list | the valid entry-list records in the bronze table (null-date partition), decoded again |
//! | gold views | recomputed by the dataflow from the restored silver (exactly the gold tables' content: gold is a function of silver); the commit sink takes the result as its baseline and writes nothing for it |
//! | silver file buckets | the silver table's file list (each worker keeps those of the cars it owns) |
//! | gold files | the gold tables' file lists |

pub mod catchup;
pub mod prepare;
pub mod resume;

pub use catchup::{CaughtUp, catch_up};
pub use prepare::{Prepared, prepare, silver_deletion_vectors, sweep};
pub use resume::{ROWS_PER_RESTORE_EPOCH, Resume};
