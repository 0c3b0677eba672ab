//! [`ProcessState`]: what the workers of one process share while a run
//! goes on, and nothing else: the stop signal, the first failure, the
//! number of checkpoints committed (for the `ingest` crash point), the
//! state to resume from (loaded once per process), and the instant the
//! epoch clock starts. Counts and the classification are not here: worker
//! 0's commit sink keeps the [`crate::RunSummary`] and hands it back when
//! the dataflow is done.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::error::RunError;
use crate::recovery::Resume;

/// What each process loads once before its workers build their
/// dataflows: the state to resume from, and whether the silver table takes
/// deletion vectors (or why they could not be loaded).
pub(crate) type Loaded = (Option<Arc<Resume>>, bool);

/// State shared by the workers of one process.
pub(crate) struct ProcessState {
    stop: Arc<AtomicBool>,
    failure: Mutex<Option<RunError>>,
    committed: AtomicU64,
    /// The state this process resumes from.
    pub(crate) resume: OnceLock<Result<Loaded, String>>,
    /// When the first worker of this process started reading its input:
    /// where every worker's epoch clock starts (see
    /// [`crate::feed::Feeder`]).
    pub(crate) feed_clock: OnceLock<Instant>,
}

impl ProcessState {
    /// State for a run that stops when `stop` is set.
    pub(crate) fn new(stop: Arc<AtomicBool>) -> ProcessState {
        ProcessState {
            stop,
            failure: Mutex::new(None),
            committed: AtomicU64::new(0),
            resume: OnceLock::new(),
            feed_clock: OnceLock::new(),
        }
    }

    /// Records `error` (the first one wins: later ones are its
    /// consequences) and stops the run.
    pub(crate) fn fail(&self, error: RunError) {
        let mut slot = self
            .failure
            .lock()
            .expect("no thread panics holding the failure slot");
        if slot.is_none() {
            *slot = Some(error);
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    /// The first failure, if any.
    pub(crate) fn take_failure(&self) -> Option<RunError> {
        self.failure
            .lock()
            .expect("no thread panics holding the failure slot")
            .take()
    }

    /// Whether the run should stop (asked to, or failed).
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Counts a committed checkpoint.
    pub(crate) fn committed_one(&self) {
        self.committed.fetch_add(1, Ordering::Relaxed);
    }

    /// Checkpoints this process has committed.
    pub(crate) fn committed(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }
}
