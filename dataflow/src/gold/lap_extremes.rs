//! [`LapExtremes`]: the per-lap columns that need the lap's values rather than
//! a sum: sector starts (min `timestamp_ms` per sector, hence `lap_start_ms`),
//! maxima, `gear_changes` (ordered dynamics events) and `yellow_flag`.
//!
//! Each silver event maps to zero or more [`LapValue`]s under its lap key,
//! which sort by variant, then value. [`LapExtremes::from_sorted`] folds a
//! lap's sorted values in one pass (the definition, used by tests);
//! [`super::lap_upkeep`] keeps the same result up to date value by
//! value.

use super::lap_sample::{LapSample, Measure};
use crate::date::SessionDate;
use crate::real::Real;

/// One value of a lap that an extreme or ordered column needs. The variant
/// order groups values by column; within a variant they sort by value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum LapValue {
    /// The session date of an event of the lap.
    Date(SessionDate),
    /// (sector, `timestamp_ms`) of a position event.
    SectorTime(u8, i64),
    /// `speed_kph` of a position event.
    Speed(Real),
    /// (`timestamp_ms`, `sequence`, `gear`) of a dynamics event.
    Gear(i64, u64, i8),
    /// `rpm` of a power-unit event.
    Rpm(Real),
    /// `surface_temp_c` of a tire event.
    TireTemp(Real),
    /// `wear_pct` of a tire event.
    TireWear(Real),
    /// A system event with a yellow-type flag.
    Yellow,
}

impl LapValue {
    /// The values a sample contributes to its lap.
    pub fn of(sample: &LapSample) -> impl Iterator<Item = LapValue> + use<> {
        let date = LapValue::Date(sample.session_date);
        let (a, b) = match sample.measure {
            Measure::Position { speed_kph, sector } => (
                Some(LapValue::SectorTime(sector, sample.timestamp_ms)),
                Some(LapValue::Speed(speed_kph)),
            ),
            Measure::Dynamics { gear, .. } => (
                Some(LapValue::Gear(sample.timestamp_ms, sample.sequence, gear)),
                None,
            ),
            Measure::PowerUnit { rpm } => (Some(LapValue::Rpm(rpm)), None),
            Measure::Tire {
                surface_temp_c,
                wear_pct,
            } => (
                Some(LapValue::TireTemp(surface_temp_c)),
                Some(LapValue::TireWear(wear_pct)),
            ),
            Measure::Aerodynamics { .. } => (None, None),
            Measure::System { yellow } => (yellow.then_some(LapValue::Yellow), None),
        };
        std::iter::once(date).chain(a).chain(b)
    }
}

/// The extreme and ordered columns of one lap.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct LapExtremes {
    /// Smallest session date among the lap's events.
    pub session_date: Option<SessionDate>,
    /// Min `timestamp_ms` of the lap's position events in sector 1, 2, 3.
    pub sector_start_ms: [Option<i64>; 3],
    /// Max `speed_kph`.
    pub max_speed_kph: Option<Real>,
    /// Consecutive dynamics pairs (by `timestamp_ms`, `sequence`) whose gear differs.
    pub gear_changes: i64,
    /// Max `rpm`.
    pub max_rpm: Option<Real>,
    /// Max tire `surface_temp_c`.
    pub max_tire_temp_c: Option<Real>,
    /// Max tire `wear_pct`.
    pub max_tire_wear_pct: Option<Real>,
    /// Any yellow-type flag.
    pub yellow_flag: bool,
}

impl LapExtremes {
    /// Folds a lap's values, sorted ascending, each with its multiplicity
    /// (values with a multiplicity ≤ 0 are ignored).
    pub fn from_sorted<'a>(values: impl IntoIterator<Item = (&'a LapValue, isize)>) -> LapExtremes {
        let mut x = LapExtremes::default();
        let mut last_gear: Option<i8> = None;
        for (value, count) in values {
            if count <= 0 {
                continue;
            }
            match value {
                LapValue::Date(d) => {
                    x.session_date.get_or_insert(*d);
                }
                LapValue::SectorTime(sector, ts) => {
                    if let Some(slot) = x.sector_start_ms.get_mut(usize::from(*sector) - 1) {
                        slot.get_or_insert(*ts);
                    }
                }
                LapValue::Speed(v) => x.max_speed_kph = Some(*v),
                LapValue::Gear(_, _, gear) => {
                    if last_gear.is_some_and(|g| g != *gear) {
                        x.gear_changes += 1;
                    }
                    last_gear = Some(*gear);
                }
                LapValue::Rpm(v) => x.max_rpm = Some(*v),
                LapValue::TireTemp(v) => x.max_tire_temp_c = Some(*v),
                LapValue::TireWear(v) => x.max_tire_wear_pct = Some(*v),
                LapValue::Yellow => x.yellow_flag = true,
            }
        }
        x
    }

    /// `lap_start_ms`: min `timestamp_ms` of the lap's position events.
    pub fn lap_start_ms(&self) -> Option<i64> {
        self.sector_start_ms.iter().flatten().min().copied()
    }
}
