//! [`UpsertLatest`]: the silver upsert as a timely operator, keyed by
//! `event_id`, that keeps the latest valid revision per id and emits the
//! silver collection's changes and gold's samples.
//!
//! Input is applied in timestamp order ([`TimeOrder`]): on arrival when it
//! is at the frontiers' own time, else when its time comes. The winner per
//! id and the entry per car do not depend on the order of updates within a
//! time, so the output at every time is exactly silver of the input up to
//! that time.

use std::rc::Rc;

use differential_dataflow::AsCollection;
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::vec::Broadcast;

use super::state::{Input, Phase, Upsert, sample_of};
use super::{Restore, Silver, SilverRow};
use crate::Time;
use crate::entry::Entry;
use crate::event::Event;
use crate::gold::{LapKey, LapSample};
use crate::route::route;
use crate::stats::PipelineStats;
use crate::time_order::{TimeOrder, earliest};

/// Keeps the latest valid revision per `event_id` of a stream of valid
/// events, enriched with the entry list: the silver collection (SPEC §2)
/// and its samples for gold.
pub trait UpsertLatest<'scope> {
    /// The silver collection of these events, enriched with `entries`
    /// (broadcast to every worker), and its samples for gold; starting
    /// with a resumed run's `restore` when given, and counting upsert
    /// outcomes and the state's size in `stats` when given.
    fn upsert_latest(
        self,
        entries: StreamVec<'scope, Time, Entry>,
        restore: Option<Restore>,
        stats: Option<Rc<PipelineStats>>,
    ) -> Silver<'scope>;
}

impl<'scope> UpsertLatest<'scope> for StreamVec<'scope, Time, Event> {
    fn upsert_latest(
        self,
        entries: StreamVec<'scope, Time, Entry>,
        restore: Option<Restore>,
        stats: Option<Rc<PipelineStats>>,
    ) -> Silver<'scope> {
        upsert_latest(self, entries, restore, stats)
    }
}

fn upsert_latest<'scope>(
    events: StreamVec<'scope, Time, Event>,
    entries: StreamVec<'scope, Time, Entry>,
    restore: Option<Restore>,
    stats: Option<Rc<PipelineStats>>,
) -> Silver<'scope> {
    let peers = events.scope().peers() as u64;
    let mut builder = OperatorBuilder::new("SilverUpsert".to_owned(), events.scope());
    let mut events_in = builder.new_input(events, Exchange::new(|e: &Event| route(&e.event_id())));
    let mut entries_in = builder.new_input(entries.broadcast(), Pipeline);
    let (rows_out, rows) = builder.new_output::<Vec<(SilverRow, Time, isize)>>();
    let (samples_out, samples) = builder.new_output::<Vec<((LapKey, LapSample), Time, isize)>>();
    let (mut rows_out, mut samples_out) = (OutputBuilder::from(rows_out), OutputBuilder::from(samples_out));
    builder.build(move |initial| {
        let mut upsert = Upsert::default();
        let phase_at = move |time: Time| match restore {
            Some(r) if time <= r.until => Phase::Restore,
            _ => Phase::Live,
        };
        // While the restore is on: capabilities (following the frontier, up
        // to the last restore time) to retract, once it is over, what was
        // emitted for a restored row that lost to another with its id; and
        // the capacity the restored rows are indexed with (routing by id
        // spreads them evenly, to a few thousand at millions, so a little
        // slack is enough).
        let mut restoring = restore.and_then(|r| {
            let mut caps = initial.into_iter();
            let share = r.rows / peers.max(1);
            let capacity = (share + share / 256 + 1024) as usize;
            Some(((caps.next()?, caps.next()?), r.until, capacity))
        });
        let mut order: TimeOrder<Input, (Capability<Time>, Capability<Time>)> = TimeOrder::default();
        move |frontiers| {
            let (mut rows_out, mut samples_out) = (rows_out.activate(), samples_out.activate());
            let earliest = earliest(&frontiers[0])
                .into_iter()
                .chain(earliest(&frontiers[1]))
                .min();
            if let Some((caps, until, capacity)) = restoring.as_mut() {
                let (until, capacity) = (*until, *capacity);
                let held = earliest.unwrap_or(until).min(until);
                caps.0.downgrade(&held);
                caps.1.downgrade(&held);
                if earliest.is_none_or(|t| t > until) {
                    // Every restored row is in: index them before any
                    // later input looks one up.
                    let mut samples = samples_out.session(&caps.1);
                    for loser in upsert.winners.index_stored(capacity) {
                        samples.give((sample_of(&loser), until, -1));
                    }
                    drop(samples);
                    restoring = None;
                }
            }
            while let Some((caps, waited)) = order.next_closed(earliest) {
                let time = *caps.0.time();
                let (mut rows, mut samples) = (rows_out.session(&caps.0), samples_out.session(&caps.1));
                for input in waited {
                    upsert.apply(
                        input,
                        phase_at(time),
                        stats.as_deref(),
                        |row, diff| rows.give((row, time, diff)),
                        |sample, diff| samples.give((sample, time, diff)),
                    );
                }
            }
            let caps_of = |cap: timely::dataflow::operators::InputCapability<Time>| {
                Some((cap.retain_least(0)?, cap.retain_least(1)?))
            };
            events_in.for_each_stamp(|cap, data| {
                let Some(caps) = caps_of(cap) else { return };
                let time = *caps.0.time();
                let events = data.flat_map(|d| d.drain(..));
                // A restore's rows are stored as they come, in any order:
                // they are indexed together once the restore is over.
                if phase_at(time) == Phase::Restore || order.admit(&caps, time, earliest) {
                    let (mut rows, mut samples) = (rows_out.session(&caps.0), samples_out.session(&caps.1));
                    for event in events {
                        upsert.event(
                            event,
                            phase_at(time),
                            stats.as_deref(),
                            |row, diff| rows.give((row, time, diff)),
                            |sample, diff| samples.give((sample, time, diff)),
                        );
                    }
                } else {
                    order.defer(&caps, time, events.map(Input::Event));
                }
            });
            entries_in.for_each_stamp(|cap, data| {
                let Some(caps) = caps_of(cap) else { return };
                let time = *caps.0.time();
                let entries: Vec<Entry> = data.flat_map(|d| d.drain(..)).collect();
                // At a restore time, entries only set the known winners
                // (which do not depend on order).
                if phase_at(time) == Phase::Restore || order.admit(&caps, time, earliest) {
                    let mut rows = rows_out.session(&caps.0);
                    upsert.entries(entries, phase_at(time), |row, diff| rows.give((row, time, diff)));
                } else {
                    order.defer(&caps, time, [Input::Entries(entries)]);
                }
            });
            if let Some(stats) = &stats {
                stats.set_state_size(upsert.winners.size());
            }
        }
    });
    Silver {
        rows: rows.as_collection(),
        samples: samples.as_collection(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::testing::position as event;

    proptest! {
        /// A restore followed by live input (corrections of restored ids,
        /// new ids) gives the samples that the same events give all live:
        /// gold does not see whether its state was restored, even when the
        /// restored rows repeat an id.
        #[test]
        fn a_restore_then_live_input_samples_as_all_live(
            restored in proptest::collection::vec((0u64..30, 0u32..2, 0u8..3), 0..60),
            live in proptest::collection::vec((0u64..40, 0u32..4, 0u8..3), 0..60),
        ) {
            let restored: Vec<Event> = restored.iter().map(|&(s, r, v)| event(3, s, false, r, v)).collect();
            let live: Vec<Event> = live.iter().map(|&(s, r, v)| event(3, s, false, r, v)).collect();
            let all_live = samples_of(&[], &[restored.clone(), live.clone()].concat());
            prop_assert_eq!(samples_of(&restored, &live), all_live);
        }
    }

    /// The samples (consolidated, as of the end) and the live silver rows
    /// of a run that restores `restored` (on two restore times) and then
    /// reads `live` (on two times).
    fn samples_of(restored: &[Event], live: &[Event]) -> BTreeMap<(LapKey, LapSample), isize> {
        use timely::dataflow::operators::capture::{Capture, Extract};
        use timely::dataflow::operators::vec::Input as _;
        let (restored, live) = (restored.to_vec(), live.to_vec());
        let captured = timely::execute_directly(move |worker| {
            let (mut events, mut entries, samples) = worker.dataflow::<Time, _, _>(|scope| {
                let (events_in, events) = scope.new_input::<Event>();
                let (entries_in, entries) = scope.new_input::<Entry>();
                let restore = (!restored.is_empty()).then_some(Restore {
                    until: 1,
                    rows: restored.len() as u64,
                });
                let silver = events.upsert_latest(entries, restore, None);
                (events_in, entries_in, silver.samples.inner.capture())
            });
            let start = if restored.is_empty() { 2 } else { 0 };
            events.advance_to(start);
            entries.advance_to(start);
            // Each list on two times: its first half, then the rest.
            for (i, e) in restored.iter().enumerate() {
                events.advance_to(Time::from(2 * i >= restored.len()));
                events.send(e.clone());
            }
            for (i, e) in live.iter().enumerate() {
                events.advance_to(2 + Time::from(2 * i >= live.len()));
                events.send(e.clone());
            }
            // execute_directly runs the dataflow to completion.
            drop((events, entries));
            samples
        });
        let mut out: BTreeMap<(LapKey, LapSample), isize> = BTreeMap::new();
        for (_, batch) in captured.extract() {
            for (sample, _, diff) in batch {
                *out.entry(sample).or_default() += diff;
            }
        }
        out.retain(|_, d| *d != 0);
        out
    }
}
