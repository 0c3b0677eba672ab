//! [`LapSums`]: the per-lap sums and counts of `gold.lap_metrics`, an
//! abelian group of partial sums.
//!
//! Every silver event adds its share to its lap ([`LapSums::add`] with a
//! diff of 1); a retraction adds the negation (a diff of -1). Because the
//! sums form a group, the lap upkeep ([`super::lap_upkeep`]) keeps one
//! accumulated `LapSums` per lap, whatever the order of insertions and
//! retractions: the state is per lap, not per event. Sums of reals are
//! fixed-point integers ([`super::fixed`]), so they are exact and
//! order-independent. Means, shares and counts (`avg_*`, `*_pct`,
//! `position_samples`, `events`) are read off the accumulated value.

use super::fixed::to_fixed;
use super::lap_sample::{LapSample, Measure};

/// Partial sums of one lap (or of one event, before accumulation).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct LapSums {
    /// Silver events of any type.
    pub events: i64,
    /// Position events.
    pub position_samples: i64,
    /// Fixed-point sum of `speed_kph` over position events.
    pub speed_sum: i128,
    /// Dynamics events.
    pub dynamics: i64,
    /// Fixed-point sum of `throttle_pct` over dynamics events.
    pub throttle_sum: i128,
    /// Dynamics events with `throttle_pct >= 98`.
    pub full_throttle: i64,
    /// Dynamics events with `brake_pct > 5`.
    pub braking: i64,
    /// Power-unit events.
    pub power_unit: i64,
    /// Fixed-point sum of `rpm`.
    pub rpm_sum: i128,
    /// Aerodynamics events.
    pub aerodynamics: i64,
    /// Aerodynamics events with `drs_open`.
    pub drs_open: i64,
}

impl LapSums {
    /// Adds `diff` copies of `sample` (a negative `diff` removes them).
    pub fn add(&mut self, sample: &LapSample, diff: i64) {
        let wide = i128::from(diff);
        self.events += diff;
        match sample.measure {
            Measure::Position { speed_kph, .. } => {
                self.position_samples += diff;
                self.speed_sum += to_fixed(speed_kph.0) * wide;
            }
            Measure::Dynamics {
                throttle_pct,
                brake_pct,
                ..
            } => {
                self.dynamics += diff;
                self.throttle_sum += to_fixed(throttle_pct.0) * wide;
                self.full_throttle += i64::from(throttle_pct.0 >= 98.0) * diff;
                self.braking += i64::from(brake_pct.0 > 5.0) * diff;
            }
            Measure::PowerUnit { rpm } => {
                self.power_unit += diff;
                self.rpm_sum += to_fixed(rpm.0) * wide;
            }
            Measure::Aerodynamics { drs_open } => {
                self.aerodynamics += diff;
                self.drs_open += i64::from(drs_open) * diff;
            }
            Measure::Tire { .. } | Measure::System { .. } => {}
        }
    }
}
