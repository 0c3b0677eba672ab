//! The sinks of a run: every worker writes its files of each checkpoint,
//! worker 0 commits each checkpoint to every table (and Kafka).
//!
//! ```text
//! every worker                                        worker 0
//! ┌─────────────────────────────────────┐             ┌──────────────────────────────┐
//! │ PartSink: bronze, quarantine (where │  Part per   │ CommitSink: gold changes and │
//! │ read), silver (routed by date, car),│─ checkpoint ▶│ every worker's parts; once   │
//! │ positions; when the frontier passes │  (actions,  │ the frontier passes a        │
//! │ a boundary: its thread writes files │  counts)    │ boundary: one commit / table │
//! └─────────────────────────────────────┘             └──────────────────────────────┘
//! ```
//!
//! Checkpoint boundaries are fixed epochs ([`crate::clock`]), so that every
//! worker cuts its part at the same epochs without talking to the others.
//! A worker writes one part per boundary; worker 0 commits every part (and
//! gold) below the last boundary its frontier has passed, so each Delta
//! commit holds every worker's epochs below one boundary: one consistent
//! frontier. A backlog of several boundaries is committed at once (files
//! added and replaced inside it are left out of the commit).
//!
//! - [`messages`]: what crosses workers on the way;
//! - [`part`], [`part_thread`], [`part_files`], [`silver_changes`]: each
//!   worker's part, written on a thread of its own;
//! - [`commit`], [`commit_thread`], [`gather`]: worker 0's commit, on a
//!   thread of its own;
//! - [`operators`]: both as timely operators;
//! - [`live`]: worker 0's hand-off of each epoch to the live views, as
//!   soon as the frontier passes it (not at the checkpoint).

pub mod commit;
pub(crate) mod commit_thread;
pub(crate) mod gather;
pub mod live;
pub mod messages;
pub(crate) mod operators;
pub mod part;
pub(crate) mod part_files;
pub(crate) mod part_thread;
pub(crate) mod silver_changes;

pub use commit::CommitSink;
pub use messages::{Part, ToCommit, Update};
pub use part::PartSink;
