//! [`PartThread`]: the thread on which a worker writes its parts, so that
//! the worker thread goes on processing epochs (and the live views keep
//! up) while a checkpoint's parquet files are written.
//!
//! Jobs go in through a bounded channel and are written one at a time, in
//! checkpoint order; each written [`Part`] comes back through a second
//! channel, and the thread wakes the worker's part operator (a timely
//! [`SyncActivator`]) to send it on. The operator holds the capability of
//! every part in flight, so worker 0 commits nothing before it: the commit
//! order and what a checkpoint holds are those of a write on the worker
//! thread. A worker that completes a checkpoint while the thread still
//! writes the one before waits, as it did when it wrote the files itself:
//! a writer that falls behind bounds what is buffered instead of letting
//! it grow.

use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, channel, sync_channel};
use std::thread::JoinHandle;

use timely::scheduling::SyncActivator;

use super::messages::Part;
use super::part_files::{PartFiles, PartJob};
use crate::error::RunError;

/// Checkpoints that may wait for the thread while it writes one: none, so
/// that a worker buffers at most two (the one being written and the one
/// filling), one more than when it wrote its files itself.
const QUEUED: usize = 0;

/// A worker's part thread.
pub(crate) struct PartThread {
    worker: usize,
    /// (`None` once dropped, which ends the thread.)
    jobs: Option<SyncSender<PartJob>>,
    parts: Receiver<Part>,
    handle: Option<JoinHandle<()>>,
}

/// Why the thread did not take or return a part.
#[derive(Debug)]
pub(crate) enum PartThreadError {
    /// It could not be started.
    Spawn(std::io::Error),
    /// It stopped: it panicked.
    Stopped,
}

impl PartThreadError {
    /// As the run's error, for worker `worker`.
    pub fn into_run_error(self, worker: usize) -> RunError {
        match self {
            PartThreadError::Spawn(e) => RunError::WorkerFailed {
                worker,
                message: format!("could not start its part writer thread: {e}"),
            },
            PartThreadError::Stopped => {
                RunError::WorkerPanicked(format!("worker {worker}'s part writer thread"))
            }
        }
    }
}

impl PartThread {
    /// Starts worker `worker`'s thread writing through `files`, waking
    /// `activator` for each part written.
    pub fn spawn(
        worker: usize,
        mut files: PartFiles,
        activator: SyncActivator,
    ) -> Result<PartThread, PartThreadError> {
        let (jobs, job_queue) = sync_channel::<PartJob>(QUEUED);
        // (At most QUEUED + 1 parts are in flight: this one needs no bound.)
        let (written, parts) = channel::<Part>();
        let handle = std::thread::Builder::new()
            .name(format!("racecast-parts-w{worker}"))
            .spawn(move || {
                for job in job_queue {
                    if written.send(files.write(job)).is_err() {
                        // The operator is gone: the run is over.
                        return;
                    }
                    // (Fails only once the worker is gone.)
                    let _ = activator.activate();
                }
            })
            .map_err(PartThreadError::Spawn)?;
        Ok(PartThread {
            worker,
            jobs: Some(jobs),
            parts,
            handle: Some(handle),
        })
    }

    /// Hands `job` to the thread, waiting while it is behind.
    pub fn send(&self, job: PartJob) -> Result<(), PartThreadError> {
        let jobs = self.jobs.as_ref().ok_or(PartThreadError::Stopped)?;
        jobs.send(job).map_err(|_| PartThreadError::Stopped)
    }

    /// The next part written, if one is ready.
    pub fn try_part(&self) -> Result<Option<Part>, PartThreadError> {
        match self.parts.try_recv() {
            Ok(part) => Ok(Some(part)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(PartThreadError::Stopped),
        }
    }
}

impl Drop for PartThread {
    fn drop(&mut self) {
        // Ends the thread once it has written what it was given (at most
        // QUEUED + 1 parts, which then go nowhere: the run is over or
        // failing).
        self.jobs = None;
        if let Some(handle) = self.handle.take()
            && handle.join().is_err()
        {
            tracing::error!(worker = self.worker, "the part writer thread panicked");
        }
    }
}
