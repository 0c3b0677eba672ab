//! Gold: `gold.lap_metrics` and `gold.session_metrics` (SPEC §3) as
//! differential collections, functions of silver alone.
//!
//! ```text
//! silver ─explode─▶ (lap, LapSums) ─count──────────────┐ per-lap sums in the
//!    │                                                 │ difference type
//!    └─flat_map─▶ (lap, LapValue) ─upkeep─▶ LapExtremes┤ per-lap values
//!                                                      ▼
//!                  (car, (lap, part)) ─reduce─▶ lap rows + car summary
//!                                                      ▼
//!                  (session, summary) ─reduce─▶ session rows
//! ```
//!
//! What each stage keeps (per worker, across all times once compacted):
//! - `LapSums` count: one `(lap key, LapSums)` per lap: O(laps).
//! - `LapValue` upkeep ([`extremes_upkeep`], a custom operator): one entry
//!   per distinct value per lap in an ordered map: per event for `rpm` and
//!   gears (the definition needs them), per distinct value for speeds and
//!   temperatures; plus the lap's current `LapExtremes`. A change costs
//!   O(log values in the lap), where a `reduce` would refold the lap.
//! - car reduce: two partials per lap in, one row per lap out: O(laps).
//! - session reduce: one summary per car in, one row per car out.
//!
//! A correction that moves a sample to another lap or car retracts it from one
//! key and inserts it under the other; each stage recomputes only the keys
//! whose input changed (a lap: O(log its values); a car: O(its laps); a
//! session: O(its cars)).

pub mod extremes_upkeep;
pub mod fixed;
pub mod lap_extremes;
pub mod lap_sums;
pub mod rows;

use differential_dataflow::VecCollection;

use crate::Time;
use crate::silver::SilverRow;
use crate::symbol::Symbol;
pub use lap_extremes::{LapExtremes, LapValue};
pub use lap_sums::LapSums;
pub use rows::{CarSummary, LapPartial, LapRow, SessionRow};

/// (`session_id`, `car_number`, `lap`).
pub type LapKey = (Symbol, u8, u8);

/// One lap's input to its car's reduce.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum LapPart {
    /// The lap's accumulated sums.
    Sums(LapSums),
    /// The lap's extremes.
    Extremes(LapExtremes),
}

/// What a car's reduce produces. Both variants are held in the reduce's
/// output trace (one per lap, one per car), so boxing the small one buys
/// nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum CarOutput {
    /// A lap row.
    Lap(LapRow),
    /// The car's summary for the session ranking.
    Summary(CarSummary),
}

/// The two gold collections.
pub struct Gold<'scope> {
    /// `gold.lap_metrics`.
    pub lap_metrics: VecCollection<'scope, Time, LapRow, isize>,
    /// `gold.session_metrics`.
    pub session_metrics: VecCollection<'scope, Time, SessionRow, isize>,
}

/// The gold views of a silver collection.
pub fn gold_views<'scope>(silver: VecCollection<'scope, Time, SilverRow, isize>) -> Gold<'scope> {
    let lap_key = |row: &SilverRow| -> LapKey { (row.event.session_id, row.event.car_number, row.event.lap) };

    let sums = silver
        .clone()
        .explode(move |row| Some((lap_key(&row), LapSums::of(&row.event))))
        .count()
        .map(|(key, sums)| (key, LapPart::Sums(sums)));

    let extremes = extremes_upkeep::lap_extremes(silver.flat_map(move |row| {
        let key = lap_key(&row);
        LapValue::of(&row.event).map(move |v| (key, v))
    }))
    .map(|(key, extremes)| (key, LapPart::Extremes(extremes)));

    let per_car = sums
        .concat(extremes)
        .map(|((session, car, lap), part)| ((session, car), (lap, part)))
        .reduce_named("CarLaps", |&(session, car), parts, output| {
            let mut laps: Vec<(u8, LapPartial)> = Vec::new();
            for (&(lap, ref part), count) in parts.iter().map(|(p, c)| (*p, *c)) {
                if count <= 0 {
                    continue;
                }
                if laps.last().is_none_or(|(l, _)| *l != lap) {
                    laps.push((lap, LapPartial::default()));
                }
                let slot = &mut laps.last_mut().expect("pushed above").1;
                match part {
                    LapPart::Sums(s) => slot.sums = *s,
                    LapPart::Extremes(x) => slot.extremes = x.clone(),
                }
            }
            let lap_rows = rows::lap_rows(session, car, &laps);
            let summary = rows::car_summary(car, &lap_rows);
            output.extend(lap_rows.into_iter().map(|r| (CarOutput::Lap(r), 1isize)));
            output.push((CarOutput::Summary(summary), 1));
        });

    let lap_metrics = per_car.clone().flat_map(|(_, out)| match out {
        CarOutput::Lap(row) => Some(row),
        CarOutput::Summary(_) => None,
    });

    let session_metrics = per_car
        .flat_map(|((session, _car), out)| match out {
            CarOutput::Summary(s) => Some((session, s)),
            CarOutput::Lap(_) => None,
        })
        .reduce_named("SessionRanking", |&session, cars, output| {
            let cars: Vec<CarSummary> = cars
                .iter()
                .filter(|(_, c)| *c > 0)
                .map(|(s, _)| (*s).clone())
                .collect();
            output.extend(
                rows::session_rows(session, &cars)
                    .into_iter()
                    .map(|r| (r, 1isize)),
            );
        })
        .map(|(_, row)| row);

    Gold {
        lap_metrics,
        session_metrics,
    }
}
