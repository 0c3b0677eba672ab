//! [`RunObserver`]: how the caller of a run watches it: the binary draws
//! its progress line and the classification through one, tests can record
//! what they see. A run calls its observer on worker 0 of process 0 (where
//! checkpoints are committed), between steps of the dataflow: an observer
//! must return quickly.

use std::time::Duration;

use crate::summary::RunSummary;

/// Watches a run.
pub trait RunObserver: Send + Sync {
    /// The run resumes from `checkpoint` and restores `silver_rows` rows
    /// first.
    fn resuming(&self, checkpoint: u64, silver_rows: u64) {
        let _ = (checkpoint, silver_rows);
    }

    /// A checkpoint was committed: `summary` is the run so far, `elapsed`
    /// the wall time since it started.
    fn committed(&self, summary: &RunSummary, elapsed: Duration) {
        let _ = (summary, elapsed);
    }
}

/// An observer that watches nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unobserved;

impl RunObserver for Unobserved {}
