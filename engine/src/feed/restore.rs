//! [`Feeder::restore`]: a resumed run's state, fed at its restore epochs
//! before any new input (see [`crate::recovery`]).

use racecast_connectors::delta::restore::read_silver_events;
use racecast_dataflow::{Entry, Event, Time};
use timely::dataflow::InputHandleVec;

use super::Feeder;
use crate::error::RunError;
use crate::recovery::Resume;

/// The restore inputs of a resumed run.
pub(crate) struct RestoreInputs<'a> {
    /// Silver's events.
    pub events: &'a mut InputHandleVec<Time, Event>,
    /// The entry list's winners.
    pub entries: &'a mut InputHandleVec<Time, Entry>,
}

impl Feeder<'_> {
    /// Feeds a resumed run's state at its restore epochs (this worker's
    /// share of the silver files; worker 0 the entries), waiting for the
    /// dataflow to keep up, then moves every input past them.
    pub(crate) fn restore(
        &mut self,
        worker: &mut timely::worker::Worker,
        resume: &Resume,
        inputs: RestoreInputs<'_>,
    ) -> Result<(), RunError> {
        let (epochs, last) = resume.restore_epochs(self.clock);
        let first = resume.first_epoch(self.clock);
        let move_to = |this: &mut Self, inputs: &mut RestoreInputs<'_>, epoch: Time| {
            this.advance(epoch);
            inputs.events.advance_to(epoch);
            inputs.entries.advance_to(epoch);
        };
        let mut inputs = inputs;
        move_to(self, &mut inputs, first);
        if self.index == 0 {
            for entry in &resume.entries {
                inputs.entries.send(entry.clone());
            }
        }
        for (i, add) in resume.silver_files.iter().enumerate() {
            if i % self.peers != self.index {
                continue;
            }
            if epochs[i] > self.epoch {
                move_to(self, &mut inputs, epochs[i]);
            }
            for event in read_silver_events(&resume.silver_dir, add)? {
                inputs.events.send(event);
            }
            worker.step();
            while self.behind() {
                worker.step();
            }
        }
        move_to(self, &mut inputs, last + 1);
        // The state is whole once every worker's restore epochs are done.
        while self.probe.less_than(&(last + 1)) {
            worker.step();
        }
        Ok(())
    }
}
