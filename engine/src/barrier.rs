//! [`barrier`]: every worker of the cluster waits at the same point until
//! all have reached it, learning whether any of them failed on the way (a
//! run's start: worker 0 prepares the data directory while the others
//! wait; every process loads the state to resume from).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use racecast_dataflow::Time;
use timely::dataflow::InputHandleVec;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::{Input, Inspect, Probe};

/// Waits until every worker of the cluster has reached this point; a
/// `failed` message of any worker is returned on every worker.
pub(crate) fn barrier(worker: &mut timely::worker::Worker, failed: Option<String>) -> Option<String> {
    let message = Rc::new(RefCell::new(None));
    let seen = Rc::clone(&message);
    let mut input: InputHandleVec<Time, String> = InputHandleVec::new();
    let probe = worker.dataflow::<Time, _, _>(|scope| {
        scope
            .input_from(&mut input)
            .broadcast()
            .inspect(move |m: &String| *seen.borrow_mut() = Some(m.clone()))
            .probe()
            .0
    });
    if let Some(m) = failed {
        input.send(m);
    }
    drop(input);
    while !probe.done() {
        worker.step_or_park(Some(Duration::from_millis(10)));
    }
    message.take()
}
