//! [`lap_extremes`]: each lap's [`LapExtremes`] kept up to date value by
//! value, instead of refolding the lap on every change.
//!
//! A differential `reduce` re-reads a key's whole input whenever it
//! changes: a lap that grows by a few values per epoch costs O(lap) per
//! epoch. This operator keeps, per lap, its values as an ordered multiset
//! (the same state the reduce would keep) and answers every column with
//! O(log n) range queries on it: the first `Date`, the first `SectorTime`
//! of each sector, the last `Speed`/`Rpm`/`TireTemp`/`TireWear`, the
//! presence of `Yellow`. `gear_changes` is a count kept up to date: adding
//! or removing a gear value only changes the pairs it forms with its
//! neighbours in (`timestamp_ms`, `sequence`) order.
//!
//! Updates are applied per timestamp, in timestamp order, once the input
//! frontier has passed it; each touched lap emits `-old +new` (or only one
//! of them when the lap appears or empties), so the output is exactly the
//! reduce's. Values are routed by lap key with a hash that is the same in
//! every process.

use std::collections::{BTreeMap, HashMap};

use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use super::LapKey;
use super::lap_extremes::{LapExtremes, LapValue};
use crate::Time;
use crate::real::Real;
use crate::silver::route;

/// Lower bound of a `Real` in a range query (silver values are finite).
const LOWEST: Real = Real(f64::NEG_INFINITY);

/// One lap's values and the gear-change count over them.
#[derive(Default)]
struct Lap {
    values: BTreeMap<LapValue, isize>,
    gear_changes: i64,
    current: Option<LapExtremes>,
}

/// The gear of a present `Gear` value.
fn gear(value: &LapValue) -> Option<i8> {
    match value {
        LapValue::Gear(_, _, g) => Some(*g),
        _ => None,
    }
}

impl Lap {
    /// The nearest present values below and above `value` in the gear
    /// stream, as gears.
    fn gear_neighbours(&self, value: &LapValue) -> (Option<i8>, Option<i8>) {
        let below = self
            .values
            .range(..value)
            .rev()
            .find(|(_, c)| **c > 0)
            .and_then(|(v, _)| gear(v));
        let above = self
            .values
            .range(value..)
            .find(|(v, c)| *v != value && **c > 0)
            .and_then(|(v, _)| gear(v));
        (below, above)
    }

    /// Pairs of consecutive gears that `value`, between its neighbours,
    /// adds to the change count.
    fn gear_delta(&self, value: &LapValue) -> i64 {
        let Some(g) = gear(value) else { return 0 };
        let (below, above) = self.gear_neighbours(value);
        let differs =
            |a: Option<i8>, b: Option<i8>| i64::from(matches!((a, b), (Some(a), Some(b)) if a != b));
        differs(below, Some(g)) + differs(Some(g), above) - differs(below, above)
    }

    /// Adds `diff` copies of `value`.
    fn apply(&mut self, value: LapValue, diff: isize) {
        let before = self.values.get(&value).copied().unwrap_or(0);
        let after = before + diff;
        if before <= 0 && after > 0 {
            self.gear_changes += self.gear_delta(&value);
        } else if before > 0 && after <= 0 {
            self.gear_changes -= self.gear_delta(&value);
        }
        if after == 0 {
            self.values.remove(&value);
        } else {
            self.values.insert(value, after);
        }
    }

    /// The last present value below `bound`, if it has the wanted variant.
    fn last_below<T>(&self, bound: LapValue, pick: impl Fn(&LapValue) -> Option<T>) -> Option<T> {
        self.values
            .range(..bound)
            .rev()
            .find(|(_, c)| **c > 0)
            .and_then(|(v, _)| pick(v))
    }

    /// The first present value from `start`, if it has the wanted variant.
    fn first_from<T>(&self, start: LapValue, pick: impl Fn(&LapValue) -> Option<T>) -> Option<T> {
        self.values
            .range(start..)
            .find(|(_, c)| **c > 0)
            .and_then(|(v, _)| pick(v))
    }

    /// The lap's extremes, or `None` when it holds no value.
    fn extremes(&self) -> Option<LapExtremes> {
        if !self.values.values().any(|c| *c > 0) {
            return None;
        }
        let mut x = LapExtremes {
            gear_changes: self.gear_changes,
            ..LapExtremes::default()
        };
        x.session_date = self
            .values
            .iter()
            .find(|(_, c)| **c > 0)
            .and_then(|(v, _)| match v {
                LapValue::Date(d) => Some(*d),
                _ => None,
            });
        for (i, slot) in x.sector_start_ms.iter_mut().enumerate() {
            let sector = i as u8 + 1;
            *slot = self.first_from(LapValue::SectorTime(sector, i64::MIN), |v| match v {
                LapValue::SectorTime(s, ts) if *s == sector => Some(*ts),
                _ => None,
            });
        }
        x.max_speed_kph = self.last_below(LapValue::Gear(i64::MIN, 0, i8::MIN), |v| match v {
            LapValue::Speed(s) => Some(*s),
            _ => None,
        });
        x.max_rpm = self.last_below(LapValue::TireTemp(LOWEST), |v| match v {
            LapValue::Rpm(r) => Some(*r),
            _ => None,
        });
        x.max_tire_temp_c = self.last_below(LapValue::TireWear(LOWEST), |v| match v {
            LapValue::TireTemp(t) => Some(*t),
            _ => None,
        });
        x.max_tire_wear_pct = self.last_below(LapValue::Yellow, |v| match v {
            LapValue::TireWear(w) => Some(*w),
            _ => None,
        });
        x.yellow_flag = self.values.get(&LapValue::Yellow).is_some_and(|c| *c > 0);
        Some(x)
    }
}

/// One timestamp's updates, with the capability to emit its changes at.
type Pending = (
    timely::dataflow::operators::Capability<Time>,
    Vec<((LapKey, LapValue), isize)>,
);

/// Each lap's extremes, as a collection of `(lap, extremes)`.
pub fn lap_extremes<'scope>(
    values: VecCollection<'scope, Time, (LapKey, LapValue), isize>,
) -> VecCollection<'scope, Time, (LapKey, LapExtremes), isize> {
    values
        .inner
        .unary_frontier(
            Exchange::new(|((key, _), _, _): &((LapKey, LapValue), Time, isize)| route(key)),
            "LapExtremes",
            |_capability, _info| {
                let mut laps: HashMap<LapKey, Lap> = HashMap::new();
                let mut pending: BTreeMap<Time, Pending> = BTreeMap::new();
                move |(input, frontier), output| {
                    input.for_each_stamp(|cap, data| {
                        if let Some(cap) = cap.retain_least(output.output_index()) {
                            for batch in data {
                                for (kv, time, diff) in batch.drain(..) {
                                    pending
                                        .entry(time)
                                        .or_insert_with(|| (cap.delayed(&time), Vec::new()))
                                        .1
                                        .push((kv, diff));
                                }
                            }
                        }
                    });
                    while let Some(entry) = pending.first_entry() {
                        if frontier.frontier().less_equal(entry.key()) {
                            break;
                        }
                        let (time, (cap, mut updates)) = entry.remove_entry();
                        // Consolidate, then per lap: retractions before
                        // insertions (a value replaced in place).
                        updates.sort_by(|a, b| (&a.0.0, a.1, &a.0.1).cmp(&(&b.0.0, b.1, &b.0.1)));
                        let mut session = output.session(&cap);
                        let mut updates = updates.into_iter().peekable();
                        while let Some(((key, value), diff)) = updates.next() {
                            let lap = laps.entry(key).or_default();
                            lap.apply(value, diff);
                            while let Some(((_, value), diff)) = updates.next_if(|((k, _), _)| *k == key) {
                                lap.apply(value, diff);
                            }
                            let new = lap.extremes();
                            if new != lap.current {
                                if let Some(old) = lap.current.take() {
                                    session.give(((key, old), time, -1));
                                }
                                if let Some(new) = &new {
                                    session.give(((key, new.clone()), time, 1));
                                }
                                lap.current = new;
                            }
                            if lap.current.is_none() {
                                laps.remove(&key);
                            }
                        }
                    }
                }
            },
        )
        .as_collection()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::SessionDate;
    use proptest::prelude::*;

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
            let mut lap = Lap::default();
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
}
