//! [`LapPartials::lap_partials`]: each lap's sums and extremes ([`LapPartial`]) kept up
//! to date sample by sample, in one operator keyed by lap.
//!
//! Sums: [`LapSums`] is an abelian group (counts and fixed-point sums);
//! the operator keeps one accumulated `LapSums` per lap and adds or
//! subtracts each sample's share, so this part of the state is per lap, not
//! per event. (A differential `count` over `LapSums` as the difference type
//! computes the same; it was the first design, but it sorts every event's
//! ~100-byte update in its merge batcher and needs an exchange of its own:
//! fusing took that per-event work out, see `bench/README.md`.)
//!
//! Extremes: a differential `reduce` re-reads a key's whole input whenever
//! it changes: a lap that grows by a few values per epoch costs O(lap) per
//! epoch. This operator keeps, per lap, its values as an ordered multiset
//! (the same state the reduce would keep) and answers every column with
//! O(log n) range queries on it: the first `Date`, the first `SectorTime`
//! of each sector, the last `Speed`/`Rpm`/`TireTemp`/`TireWear`, the
//! presence of `Yellow`. `gear_changes` is a count kept up to date: adding
//! or removing a gear value only changes the pairs it forms with its
//! neighbours in (`timestamp_ms`, `sequence`) order.
//!
//! Cost per silver change: one exchange of a [`LapSample`] (~48 bytes plus
//! its lap key), one hash probe for the lap, the sums' additions and one to
//! three O(log n) map updates. State per lap: its `LapSums`, its current
//! `LapPartial`, and one entry per distinct value in an ordered
//! [`Multiset`] per kind of value (per event for `rpm` and gears, which
//! the definition needs; per distinct value for dates, sector times,
//! speeds and temperatures): 12 bytes of B-tree node for an 8-byte value
//! with its count, 28 for a gear (timestamp, sequence, gear).
//!
//! Input is applied in timestamp order ([`TimeOrder`]); when a time closes,
//! each lap it touched emits `-old +new` (or only one of them when the lap
//! appears or empties), so the output at every time is exactly the
//! partials of silver as of that time. Samples are routed by lap key with
//! a hash that is the same in every process.

use differential_dataflow::{AsCollection, VecCollection};
use hashbrown::{HashMap, HashSet};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use super::lap_extremes::{LapExtremes, LapValue};
use super::lap_sample::LapSample;
use super::multiset::Multiset;
use super::{LapKey, LapPartial, LapSums};
use crate::Time;
use crate::date::SessionDate;
use crate::real::Real;
use crate::route::route;
use crate::symbol::Symbol;
use crate::time_order::{TimeOrder, earliest};

/// One lap's values, one ordered multiset per kind (so that each entry is
/// as small as its kind allows), and the gear-change count over them.
#[derive(Default)]
struct LapValues {
    dates: Multiset<SessionDate>,
    /// Position timestamps of sectors 1, 2 and 3.
    sector_times: [Multiset<i64>; 3],
    speeds: Multiset<Real>,
    /// (`timestamp_ms`, `sequence`, `gear`) of dynamics events.
    gears: Multiset<(i64, u64, i8)>,
    rpms: Multiset<Real>,
    tire_temps: Multiset<Real>,
    tire_wears: Multiset<Real>,
    yellows: i64,
    gear_changes: i64,
}

impl LapValues {
    /// Pairs of consecutive gears that `value`, between its present
    /// neighbours in (`timestamp_ms`, `sequence`) order, adds to the
    /// change count.
    fn gear_delta(&self, value: &(i64, u64, i8)) -> i64 {
        let below = self.gears.below(value).map(|v| v.2);
        let above = self.gears.above(value).map(|v| v.2);
        let differs =
            |a: Option<i8>, b: Option<i8>| i64::from(matches!((a, b), (Some(a), Some(b)) if a != b));
        let g = Some(value.2);
        differs(below, g) + differs(g, above) - differs(below, above)
    }

    /// Adds `diff` copies of a gear value, keeping the change count (a
    /// value's pairs do not depend on its own multiplicity, so they are
    /// counted after the one lookup that changes it).
    fn apply_gear(&mut self, value: (i64, u64, i8), diff: isize) {
        let (before, after) = self.gears.add(value, diff);
        if before <= 0 && after > 0 {
            self.gear_changes += self.gear_delta(&value);
        } else if before > 0 && after <= 0 {
            self.gear_changes -= self.gear_delta(&value);
        }
    }

    /// Adds `diff` copies of `value`.
    fn apply(&mut self, value: LapValue, diff: isize) {
        match value {
            LapValue::Date(d) => {
                self.dates.add(d, diff);
            }
            LapValue::SectorTime(sector, ts) => {
                // Validation keeps sectors to 1..=3; the definition
                // (`LapExtremes::from_sorted`) ignores any other.
                if let Some(times) = self.sector_times.get_mut(usize::from(sector).wrapping_sub(1)) {
                    times.add(ts, diff);
                }
            }
            LapValue::Speed(v) => {
                self.speeds.add(v, diff);
            }
            LapValue::Gear(ts, seq, g) => self.apply_gear((ts, seq, g), diff),
            LapValue::Rpm(v) => {
                self.rpms.add(v, diff);
            }
            LapValue::TireTemp(v) => {
                self.tire_temps.add(v, diff);
            }
            LapValue::TireWear(v) => {
                self.tire_wears.add(v, diff);
            }
            LapValue::Yellow => self.yellows += diff as i64,
        }
    }

    /// The lap's extremes, or `None` when it holds no value.
    fn extremes(&self) -> Option<LapExtremes> {
        let reals = [&self.speeds, &self.rpms, &self.tire_temps, &self.tire_wears];
        let any = self.dates.any()
            || self.sector_times.iter().any(Multiset::any)
            || self.gears.any()
            || reals.iter().any(|values| values.any())
            || self.yellows > 0;
        if !any {
            return None;
        }
        let mut sector_start_ms = [None; 3];
        for (slot, times) in sector_start_ms.iter_mut().zip(&self.sector_times) {
            *slot = times.min().copied();
        }
        Some(LapExtremes {
            session_date: self.dates.min().copied(),
            sector_start_ms,
            max_speed_kph: self.speeds.max().copied(),
            gear_changes: self.gear_changes,
            max_rpm: self.rpms.max().copied(),
            max_tire_temp_c: self.tire_temps.max().copied(),
            max_tire_wear_pct: self.tire_wears.max().copied(),
            yellow_flag: self.yellows > 0,
        })
    }
}

/// One lap's state: its sums, its values, and the partial last emitted.
#[derive(Default)]
struct Lap {
    sums: LapSums,
    values: LapValues,
    current: Option<LapPartial>,
}

impl Lap {
    /// Adds `diff` copies of `sample`.
    fn apply(&mut self, sample: &LapSample, diff: isize) {
        self.sums.add(sample, diff as i64);
        for value in LapValue::of(sample) {
            self.values.apply(value, diff);
        }
    }

    /// The lap's partial, or `None` when it holds no event.
    fn partial(&self) -> Option<LapPartial> {
        if self.sums.events <= 0 {
            return None;
        }
        Some(LapPartial {
            sums: self.sums,
            extremes: self.values.extremes().unwrap_or_default(),
        })
    }
}

/// A silver change as the lap upkeep receives it.
type Update = ((LapKey, LapSample), isize);

/// A lap's partial keyed by its car: `((session, car), (lap, partial))`.
pub type CarLap = ((Symbol, u8), (u8, LapPartial));

/// Applies one update, noting its lap as touched at the time being applied.
fn apply(laps: &mut HashMap<LapKey, Lap>, touched: &mut HashSet<LapKey>, ((key, sample), diff): Update) {
    laps.entry(key).or_default().apply(&sample, diff);
    touched.insert(key);
}

/// Keeps each lap's sums and extremes up to date from its samples.
pub trait LapPartials<'scope> {
    /// Each lap's partial, as a collection of `((session, car), (lap,
    /// partial))` (keyed by car, for the car's reduce).
    fn lap_partials(self) -> VecCollection<'scope, Time, CarLap, isize>;
}

impl<'scope> LapPartials<'scope> for VecCollection<'scope, Time, (LapKey, LapSample), isize> {
    fn lap_partials(self) -> VecCollection<'scope, Time, CarLap, isize> {
        lap_partials(self)
    }
}

fn lap_partials<'scope>(
    samples: VecCollection<'scope, Time, (LapKey, LapSample), isize>,
) -> VecCollection<'scope, Time, CarLap, isize> {
    samples
        .inner
        .unary_frontier(
            Exchange::new(|((key, _), _, _): &((LapKey, LapSample), Time, isize)| route(key)),
            "LapUpkeep",
            |_capability, _info| {
                let mut laps: HashMap<LapKey, Lap> = HashMap::new();
                let mut touched: HashSet<LapKey> = HashSet::new();
                let mut order: TimeOrder<Update> = TimeOrder::default();
                move |(input, frontier), output| {
                    let earliest = earliest(frontier);
                    while let Some((cap, waited)) = order.next_closed(earliest) {
                        for update in waited {
                            apply(&mut laps, &mut touched, update);
                        }
                        let mut session = output.session(&cap);
                        let time = *cap.time();
                        for key in touched.drain() {
                            let Some(lap) = laps.get_mut(&key) else { continue };
                            let new = lap.partial();
                            if new != lap.current {
                                let (session_id, car, number) = key;
                                if let Some(old) = lap.current.take() {
                                    session.give((((session_id, car), (number, old)), time, -1));
                                }
                                if let Some(new) = &new {
                                    session.give((((session_id, car), (number, new.clone())), time, 1));
                                }
                                lap.current = new;
                            }
                            if lap.current.is_none() {
                                laps.remove(&key);
                            }
                        }
                    }
                    input.for_each_stamp(|cap, data| {
                        let Some(cap) = cap.retain_least(output.output_index()) else {
                            return;
                        };
                        for batch in data {
                            for (kv, time, diff) in batch.drain(..) {
                                if order.admit(&cap, time, earliest) {
                                    apply(&mut laps, &mut touched, (kv, diff));
                                } else {
                                    order.defer(&cap, time, [(kv, diff)]);
                                }
                            }
                        }
                    });
                }
            },
        )
        .as_collection()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// A small universe of values, so that sequences insert, remove and
    /// re-insert the same ones.
    fn value(kind: u8, a: u8, b: i8) -> LapValue {
        match kind % 8 {
            0 => LapValue::Date(SessionDate::from_ymd(2026, 9, 1 + u32::from(a % 3)).expect("a date")),
            1 => LapValue::SectorTime(1 + a % 3, i64::from(b)),
            2 => LapValue::Speed(Real(f64::from(b))),
            3 | 4 => LapValue::Gear(i64::from(a % 12), 0, b % 3),
            5 => LapValue::Rpm(Real(f64::from(b) * 100.0)),
            6 => LapValue::TireTemp(Real(f64::from(a))),
            _ => LapValue::Yellow,
        }
    }

    proptest! {
        /// After any sequence of insertions and removals, the kept-up
        /// extremes equal a fold of the lap's present values.
        #[test]
        fn upkeep_equals_a_fold(ops in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<i8>(), any::<bool>()), 1..120)) {
            let mut lap = LapValues::default();
            let mut present: BTreeMap<LapValue, isize> = BTreeMap::new();
            for (kind, a, b, insert) in ops {
                let v = value(kind, a, b);
                // Silver is a set: insert what is absent, remove what is present.
                let here = present.contains_key(&v);
                if insert == here {
                    continue;
                }
                if insert {
                    present.insert(v.clone(), 1);
                    lap.apply(v, 1);
                } else {
                    present.remove(&v);
                    lap.apply(v, -1);
                }
                let folded = (!present.is_empty()).then(|| LapExtremes::from_sorted(present.iter().map(|(v, c)| (v, *c))));
                prop_assert_eq!(lap.extremes(), folded);
            }
        }
    }

    /// A small universe of samples.
    fn sample(kind: u8, a: u8) -> LapSample {
        use super::super::lap_sample::Measure;
        let real = |x: u8| Real(f64::from(x % 5) * 10.0);
        LapSample {
            session_date: SessionDate::from_ymd(2026, 9, 1 + u32::from(a % 2)).expect("a date"),
            timestamp_ms: i64::from(a % 7),
            sequence: u64::from(a),
            measure: match kind % 6 {
                0 => Measure::Position {
                    speed_kph: real(a),
                    sector: 1 + a % 3,
                },
                1 => Measure::Dynamics {
                    throttle_pct: real(a),
                    brake_pct: real(a / 2),
                    gear: (a % 3) as i8,
                },
                2 => Measure::PowerUnit { rpm: real(a) },
                3 => Measure::Tire {
                    surface_temp_c: real(a),
                    wear_pct: real(a / 3),
                },
                4 => Measure::Aerodynamics {
                    drs_open: a.is_multiple_of(2),
                },
                _ => Measure::System {
                    yellow: a.is_multiple_of(2),
                },
            },
        }
    }

    /// An update as sent into the dataflow.
    type Sent = ((LapKey, LapSample), Time, isize);

    /// The partials of the samples present, folded from scratch.
    fn fold(present: &BTreeMap<(LapKey, LapSample), isize>) -> BTreeMap<CarLap, isize> {
        let mut laps: BTreeMap<LapKey, (LapSums, BTreeMap<LapValue, isize>)> = BTreeMap::new();
        for ((key, sample), count) in present {
            let lap = laps.entry(*key).or_default();
            lap.0.add(sample, *count as i64);
            for value in LapValue::of(sample) {
                *lap.1.entry(value).or_default() += count;
            }
        }
        laps.into_iter()
            .map(|((session, car, lap), (sums, values))| {
                let extremes = LapExtremes::from_sorted(values.iter().map(|(v, c)| (v, *c)));
                (((session, car), (lap, LapPartial { sums, extremes })), 1)
            })
            .collect()
    }

    proptest! {
        /// Updates sent at or ahead of their time, in any order, some
        /// applied on arrival and some waiting for their time: the output
        /// accumulated up to every time equals a fold of the samples
        /// present at that time.
        #[test]
        fn every_time_sees_exactly_its_updates(
            history in proptest::collection::vec((0u8..2, any::<u8>(), any::<u8>(), 0u64..5, proptest::option::of(1u64..4), 0u64..3), 1..60),
        ) {
            use timely::dataflow::operators::capture::{Capture, Extract};
            use timely::dataflow::operators::Input;

            let session = Symbol::intern("test-session");
            // Each (lap, sample) once: inserted at `t`, maybe removed `gap` later,
            // each update sent `ahead` epochs before its time.
            let mut seen = std::collections::BTreeSet::new();
            // (epoch sent at, update)
            let mut updates: Vec<(Time, Sent)> = Vec::new();
            for (lap, kind, a, t, gap, ahead) in history {
                let kv = ((session, 7, lap), sample(kind, a));
                if !seen.insert(kv) {
                    continue;
                }
                updates.push((t.saturating_sub(ahead), (kv, t, 1)));
                if let Some(gap) = gap {
                    updates.push(((t + gap).saturating_sub(ahead), (kv, t + gap, -1)));
                }
            }
            updates.sort_by_key(|(sent, _)| *sent);
            let (send, received) = std::sync::mpsc::channel();
            let to_send = updates.clone();
            timely::execute_directly(move |worker| {
                let mut input = worker.dataflow::<Time, _, _>(|scope| {
                    let (input, stream) = scope.new_input::<Vec<Sent>>();
                    stream.as_collection().lap_partials().inner.capture_into(send);
                    input
                });
                for (sent, update) in to_send {
                    input.advance_to(sent);
                    input.send(update);
                    worker.step();
                }
            });
            let output: Vec<(CarLap, Time, isize)> =
                received.extract().into_iter().flat_map(|(_, batch)| batch).collect();
            for time in 0..10 {
                let mut present: BTreeMap<(LapKey, LapSample), isize> = BTreeMap::new();
                for (_, (kv, t, diff)) in &updates {
                    if *t <= time {
                        *present.entry(*kv).or_default() += diff;
                    }
                }
                present.retain(|_, c| *c != 0);
                let mut got: BTreeMap<CarLap, isize> = BTreeMap::new();
                for (row, t, diff) in &output {
                    if *t <= time {
                        *got.entry(row.clone()).or_default() += diff;
                    }
                }
                got.retain(|_, c| *c != 0);
                prop_assert_eq!(got, fold(&present), "at time {}", time);
            }
        }
    }
}
