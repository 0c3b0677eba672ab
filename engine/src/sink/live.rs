//! [`PublishLiveViews`]: worker 0's hand-off to the live views
//! (`racecast run --serve`). Gold's changes, the entry records and each
//! worker's ingest times come to worker 0 by epoch; as soon as the frontier
//! passes an epoch (long before its checkpoint commits) its consolidated
//! changes go to the publisher thread ([`EpochSender`]), which never makes
//! the worker wait.
//!
//! The operator is part of every run's dataflow, so that every process of
//! a cluster builds the same one whatever its flags; without a sender (not
//! serving, or not worker 0 of process 0) it drops what it receives.

use std::collections::BTreeMap;

use racecast_connectors::live::EpochChanges;
use racecast_connectors::live::publish::EpochSender;
use racecast_dataflow::gold::{LapRow, SessionRow};
use racecast_dataflow::{Entry, Time};
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

/// What the live views need from the dataflow.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum LiveItem {
    /// A lap-metric change at its time.
    Lap(LapRow, Time, isize),
    /// A session-metric change at its time.
    Session(SessionRow, Time, isize),
    /// An entry-list record read at this time.
    Entry(Entry),
    /// Ingest times (Unix ms, with counts) of a worker's records of this
    /// time.
    Ingested(Vec<(i64, u64)>),
}

/// One epoch, as it gathers.
#[derive(Default)]
struct Gathering {
    laps: BTreeMap<LapRow, isize>,
    sessions: BTreeMap<SessionRow, isize>,
    entries: Vec<Entry>,
    ingested: Vec<(i64, u64)>,
}

impl Gathering {
    fn into_changes(self, epoch: Time) -> EpochChanges {
        EpochChanges {
            epoch,
            laps: self.laps.into_iter().filter(|(_, d)| *d != 0).collect(),
            sessions: self.sessions.into_iter().filter(|(_, d)| *d != 0).collect(),
            entries: self.entries,
            ingested: self.ingested,
        }
    }
}

/// Publishes each epoch's changes to the live views.
pub(crate) trait PublishLiveViews {
    /// Sends every item to worker 0, which hands each epoch to `sender`
    /// (given on worker 0 of a serving run only) once the frontier passes
    /// it.
    fn publish_live_views(self, sender: Option<EpochSender>);
}

impl PublishLiveViews for StreamVec<'_, Time, LiveItem> {
    fn publish_live_views(self, sender: Option<EpochSender>) {
        let mut pending: BTreeMap<Time, Gathering> = BTreeMap::new();
        self.sink(
            Exchange::new(|_: &LiveItem| 0),
            "PublishLiveViews",
            move |(input, frontier)| {
                input.for_each_stamp(|cap, data| {
                    let Some(&time) = cap.least() else {
                        return;
                    };
                    if sender.is_none() {
                        return;
                    }
                    for batch in data {
                        for item in batch.drain(..) {
                            match item {
                                LiveItem::Lap(row, t, d) => {
                                    let at = pending.entry(t.max(time)).or_default();
                                    *at.laps.entry(row).or_insert(0) += d;
                                }
                                LiveItem::Session(row, t, d) => {
                                    let at = pending.entry(t.max(time)).or_default();
                                    *at.sessions.entry(row).or_insert(0) += d;
                                }
                                LiveItem::Entry(entry) => {
                                    pending.entry(time).or_default().entries.push(entry)
                                }
                                LiveItem::Ingested(marks) => {
                                    pending.entry(time).or_default().ingested.extend(marks)
                                }
                            }
                        }
                    }
                });
                let Some(sender) = sender.as_ref() else {
                    return;
                };
                let frontier = frontier.frontier();
                while let Some(entry) = pending.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (epoch, gathered) = entry.remove_entry();
                    sender.send(gathered.into_changes(epoch));
                }
            },
        );
    }
}
