//! The two sink operators of a run, as extension traits named for what
//! they do: [`WriteCheckpointParts`] (every worker: a [`PartSink`] behind a
//! timely operator) and [`CommitCheckpoints`] (worker 0: a timely sink
//! feeding the [`CommitThread`]).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use racecast_dataflow::Time;
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::progress::Antichain;

use super::commit_thread::{CommitThread, ToCommitter};
use super::messages::{ToCommit, Update};
use super::part::PartSink;
use crate::control::ProcessState;

/// Writes each worker's files of every checkpoint.
pub(crate) trait WriteCheckpointParts<'scope> {
    /// Routes each update to the worker `route` names, buffers it in
    /// `parts` and, as the frontier passes each boundary, has the worker's
    /// part thread write that checkpoint; emits the worker's
    /// [`ToCommit::Part`] of it once written.
    fn write_checkpoint_parts(
        self,
        parts: PartSink,
        route: impl Fn(&Update) -> u64 + 'static,
    ) -> StreamVec<'scope, Time, ToCommit>;
}

impl<'scope> WriteCheckpointParts<'scope> for StreamVec<'scope, Time, Update> {
    fn write_checkpoint_parts(
        self,
        mut parts: PartSink,
        route: impl Fn(&Update) -> u64 + 'static,
    ) -> StreamVec<'scope, Time, ToCommit> {
        let scope = self.scope();
        self.unary_frontier(
            Exchange::new(route),
            "WriteCheckpointParts",
            move |_capability, info| {
                // The part thread wakes the operator when a part is written.
                parts.start(scope.worker().sync_activator_for(info.address.to_vec()));
                move |(input, frontier), output| {
                    input.for_each_stamp(|cap, data| {
                        if let Some(cap) = cap.retain_least(output.output_index()) {
                            for batch in data {
                                parts.push(cap.clone(), batch);
                            }
                        }
                    });
                    parts.complete(frontier.frontier());
                    for (cap, part) in parts.written() {
                        output.session(&cap).give(ToCommit::Part(part));
                    }
                }
            },
        )
    }
}

/// Commits every checkpoint on worker 0.
pub(crate) trait CommitCheckpoints {
    /// Sends every item to worker 0, where `committer` (present on worker
    /// 0 only) commits each checkpoint once the frontier passes it, on its
    /// own thread.
    fn commit_checkpoints(self, committer: Rc<RefCell<Option<CommitThread>>>, state: Arc<ProcessState>);
}

impl CommitCheckpoints for StreamVec<'_, Time, ToCommit> {
    fn commit_checkpoints(self, committer: Rc<RefCell<Option<CommitThread>>>, state: Arc<ProcessState>) {
        let mut sent = Antichain::from_elem(Time::default());
        self.sink(
            Exchange::new(|_: &ToCommit| 0),
            "CommitCheckpoints",
            move |(input, frontier)| {
                let mut committer = committer.borrow_mut();
                let Some(thread) = committer.as_ref() else {
                    return;
                };
                let mut alive = true;
                input.for_each_stamp(|cap, data| {
                    let Some(&time) = cap.least() else {
                        return;
                    };
                    for batch in data {
                        alive &= thread.send(ToCommitter::Items(time, std::mem::take(batch)));
                    }
                });
                // After every item below it.
                if sent.borrow() != frontier.frontier() {
                    sent = frontier.frontier().to_owned();
                    alive &= thread.send(ToCommitter::Frontier(sent.clone()));
                }
                if !alive {
                    // It panicked: the run fails (joined when the run ends).
                    if let Some(thread) = committer.take()
                        && let Err(e) = thread.finish()
                    {
                        state.fail(e);
                    }
                }
            },
        );
    }
}
