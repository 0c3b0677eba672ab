//! Gold: `gold.lap_metrics` and `gold.session_metrics` (SPEC §3) as
//! differential collections, functions of silver alone.
//!
//! ```text
//! silver ──────▶ (lap, LapSample) ─upkeep─▶ (car, (lap, LapPartial))   per lap: sums,
//!                                                      │               values, extremes
//!                                                      ▼
//!                  (car, (lap, partial)) ─reduce─▶ lap rows + car summary
//!                                                      ▼
//!                  (session, summary) ─reduce─▶ session rows
//! ```
//!
//! What each stage keeps (per worker, across all times once compacted):
//! - lap upkeep ([`lap_upkeep`], a custom operator): per lap, its
//!   accumulated [`LapSums`] (an abelian group: one value per lap, not per
//!   event), one entry per distinct value in an ordered multiset of its
//!   kind (per event for
//!   `rpm` and gears, which the definition needs; per distinct value for
//!   speeds and temperatures) and its current `LapPartial`. A change costs
//!   O(log values in the lap), where a `reduce` would refold the lap.
//! - car reduce: one partial per lap in, one row per lap out: O(laps).
//! - session reduce: one summary per car in, one row per car out.
//!
//! A correction that moves a sample to another lap or car retracts it from one
//! key and inserts it under the other; each stage recomputes only the keys
//! whose input changed (a lap: O(log its values); a car: O(its laps); a
//! session: O(its cars)).

pub mod fixed;
pub mod lap_extremes;
pub mod lap_sample;
pub mod lap_sums;
pub mod lap_upkeep;
pub mod multiset;
pub mod rows;

use differential_dataflow::VecCollection;

use crate::Time;
use crate::symbol::Symbol;
pub use lap_extremes::{LapExtremes, LapValue};
pub use lap_sample::{LapSample, Measure};
pub use lap_sums::LapSums;
pub use lap_upkeep::LapPartials;
pub use rows::{CarSummary, LapPartial, LapRow, SessionRow};

/// (`session_id`, `car_number`, `lap`).
pub type LapKey = (Symbol, u8, u8);

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

/// Computes the gold views of a silver collection, given as its events'
/// lap keys and samples ([`crate::silver::Silver::samples`]).
pub trait GoldViews<'scope> {
    /// `gold.lap_metrics` and `gold.session_metrics` of these samples.
    fn gold_views(self) -> Gold<'scope>;
}

impl<'scope> GoldViews<'scope> for VecCollection<'scope, Time, (LapKey, LapSample), isize> {
    fn gold_views(self) -> Gold<'scope> {
        gold_views(self)
    }
}

fn gold_views<'scope>(samples: VecCollection<'scope, Time, (LapKey, LapSample), isize>) -> Gold<'scope> {
    let per_car = samples
        .lap_partials()
        .reduce_named("CarLaps", |&(session, car), laps, output| {
            let laps: Vec<(u8, LapPartial)> = laps
                .iter()
                .filter(|(_, count)| *count > 0)
                .map(|((lap, partial), _)| (*lap, partial.clone()))
                .collect();
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
