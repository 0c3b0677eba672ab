//! [`ArrangementSizes`]: how many updates each differential arrangement of
//! a worker holds, and how many bytes its batcher holds, from timely's and
//! differential's own logs.
//!
//! differential logs every batch its spines add (`Batch`), merge (`Merge`
//! with `complete`) and drop (`Drop`), and every change of a batcher's size
//! (`Batcher`); timely logs each operator's name when it is built
//! (`Operates`). Summing the first per operator gives the updates it holds.
//! differential 0.26 does not log the bytes of a trace's batches, so bytes
//! are reported for batchers (and, by the caller, for the silver state).
//! Register with [`ArrangementSizes::register`] before building the
//! dataflow; operators with the same name are added up.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use differential_dataflow::logging::{DifferentialEvent, DifferentialEventBuilder};
use timely::logging::{TimelyEvent, TimelyEventBuilder};

/// Size of one operator's arrangement(s).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Size {
    /// Updates held in trace batches.
    pub records: i64,
    /// Bytes held by the batcher (updates not yet sealed into batches).
    pub batcher_bytes: i64,
}

/// Sizes per operator id, with operator names.
#[derive(Debug, Default)]
pub struct ArrangementSizes {
    names: HashMap<usize, String>,
    sizes: HashMap<usize, Size>,
}

impl ArrangementSizes {
    /// Subscribes to `worker`'s timely and differential logs.
    pub fn register(worker: &mut timely::worker::Worker) -> Rc<RefCell<ArrangementSizes>> {
        let sizes = Rc::new(RefCell::new(ArrangementSizes::default()));
        if let Some(mut registry) = worker.log_register() {
            let names = Rc::clone(&sizes);
            registry.insert::<TimelyEventBuilder, _>("timely", move |_time, data| {
                let Some(data) = data else { return };
                let mut sizes = names.borrow_mut();
                for (_, event) in data.iter() {
                    if let TimelyEvent::Operates(op) = event {
                        sizes.names.insert(op.id, op.name.clone());
                    }
                }
            });
            let counts = Rc::clone(&sizes);
            registry.insert::<DifferentialEventBuilder, _>("differential/arrange", move |_time, data| {
                let Some(data) = data else { return };
                let mut sizes = counts.borrow_mut();
                for (_, event) in data.iter() {
                    sizes.apply(event);
                }
            });
        }
        sizes
    }

    fn apply(&mut self, event: &DifferentialEvent) {
        let (operator, records, bytes) = match event {
            DifferentialEvent::Batch(b) => (b.operator, b.length as i64, 0),
            DifferentialEvent::Merge(m) => match m.complete {
                Some(merged) => (m.operator, merged as i64 - (m.length1 + m.length2) as i64, 0),
                None => return,
            },
            DifferentialEvent::Drop(d) => (d.operator, -(d.length as i64), 0),
            DifferentialEvent::Batcher(b) => (b.operator, 0, b.size_diff as i64),
            DifferentialEvent::MergeShortfall(_) | DifferentialEvent::TraceShare(_) => return,
        };
        let size = self.sizes.entry(operator).or_default();
        size.records += records;
        size.batcher_bytes += bytes;
    }

    /// Sizes per operator name.
    pub fn by_name(&self) -> BTreeMap<String, Size> {
        let mut out: BTreeMap<String, Size> = BTreeMap::new();
        for (id, size) in &self.sizes {
            let name = self
                .names
                .get(id)
                .cloned()
                .unwrap_or_else(|| format!("operator-{id}"));
            let slot = out.entry(name).or_default();
            slot.records += size.records;
            slot.batcher_bytes += size.batcher_bytes;
        }
        out
    }
}
