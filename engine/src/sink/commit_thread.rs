//! [`CommitThread`]: worker 0's [`CommitSink`] on a thread of its own, so
//! that worker 0 goes on processing epochs (and handing them to the live
//! views) while a checkpoint is committed (~50 ms: the manifest, six table
//! commits, Kafka's progress record).
//!
//! The commit operator forwards what it receives, in order, and each new
//! frontier after what arrived before it ([`ToCommitter`]); the thread
//! buffers and commits exactly as the sink did on the worker thread: a
//! frontier it sees comes after every item sent below it, so each
//! checkpoint holds the same parts and gold. A commit slower than the
//! checkpoint interval no longer holds the dataflow back: what arrives
//! meanwhile (parts' actions and gold changes, not their files) waits in
//! the channel and is committed in order; once [`QUEUED`] messages wait,
//! worker 0 waits too, as it did when it committed itself, so a backlog
//! stays bounded. At the end of the run [`CommitThread::finish`] waits for
//! the last commit and returns the sink (and its summary).

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use racecast_dataflow::Time;
use timely::progress::Antichain;

use super::commit::CommitSink;
use super::messages::ToCommit;
use crate::error::RunError;

/// Messages that may wait for the thread (each a batch of items or a
/// frontier).
const QUEUED: usize = 16_384;

/// What the commit operator (and the feeder) hand to the thread.
pub(crate) enum ToCommitter {
    /// Items that arrived at a time.
    Items(Time, Vec<ToCommit>),
    /// The commit operator's input frontier, after every item below it.
    Frontier(Antichain<Time>),
    /// A resumed run's restore took `seconds`, with `rss` bytes resident
    /// after it (for the summary).
    Restored {
        /// Wall time of the restore.
        seconds: f64,
        /// Resident memory after it.
        rss: u64,
    },
}

/// Worker 0's commit thread.
pub(crate) struct CommitThread {
    /// (`None` once finishing, which ends the thread.)
    to_thread: Option<SyncSender<ToCommitter>>,
    handle: Option<JoinHandle<CommitSink>>,
}

impl CommitThread {
    /// Starts committing through `sink` on a thread of its own.
    pub fn spawn(sink: CommitSink) -> Result<CommitThread, RunError> {
        let (to_thread, from_operator) = sync_channel(QUEUED);
        let handle = std::thread::Builder::new()
            .name("racecast-commit".into())
            .spawn(move || commit_all(sink, &from_operator))
            .map_err(|e| RunError::WorkerFailed {
                worker: 0,
                message: format!("could not start its commit thread: {e}"),
            })?;
        Ok(CommitThread {
            to_thread: Some(to_thread),
            handle: Some(handle),
        })
    }

    /// Hands `message` to the thread, waiting while [`QUEUED`] messages
    /// wait; `false` once it has stopped (it panicked:
    /// [`CommitThread::finish`] reports it).
    pub fn send(&self, message: ToCommitter) -> bool {
        self.to_thread.as_ref().is_some_and(|t| t.send(message).is_ok())
    }

    /// Waits for the last commit; returns the sink.
    pub fn finish(mut self) -> Result<CommitSink, RunError> {
        self.to_thread = None;
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(sink)) => Ok(sink),
            _ => Err(RunError::WorkerPanicked("worker 0's commit thread".into())),
        }
    }
}

impl Drop for CommitThread {
    fn drop(&mut self) {
        // (Unless finished: the run is failing. The thread ends after what
        // it was given; its commits are consistent as ever.)
        self.to_thread = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// The thread's loop: applies every message in order (a commit, when a
/// frontier completes a checkpoint, before the next message).
fn commit_all(mut sink: CommitSink, from_operator: &Receiver<ToCommitter>) -> CommitSink {
    for message in from_operator.iter() {
        match message {
            ToCommitter::Items(time, mut items) => sink.push(time, &mut items),
            ToCommitter::Frontier(frontier) => sink.maybe_commit(frontier.borrow()),
            ToCommitter::Restored { seconds, rss } => {
                let summary = sink.summary_mut();
                summary.restore_s = seconds;
                summary.rss_after_restore = rss;
            }
        }
    }
    sink
}
