//! [`LapSums`]: the per-lap sums and counts of `gold.lap_metrics`, carried in
//! differential's *difference* type.
//!
//! Every silver event contributes a `LapSums` to its lap's key; a retraction
//! contributes the negation. Because the sums form an abelian group,
//! differential keeps one accumulated `LapSums` per (lap key, time) and
//! compacts history into one per key: the state is per lap, not per event.
//! Means, shares and counts (`avg_*`, `*_pct`, `position_samples`, `events`)
//! are read off the accumulated value.

use differential_dataflow::difference::{Abelian, IsZero, Monoid, Multiply, Semigroup};

use super::fixed::to_fixed;
use crate::event::{Event, Payload};

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
    /// What one event adds to its lap.
    pub fn of(event: &Event) -> LapSums {
        let mut s = LapSums {
            events: 1,
            ..LapSums::default()
        };
        match &event.payload {
            Payload::Position { speed_kph, .. } => {
                s.position_samples = 1;
                s.speed_sum = to_fixed(speed_kph.0);
            }
            Payload::Dynamics {
                throttle_pct,
                brake_pct,
                ..
            } => {
                s.dynamics = 1;
                s.throttle_sum = to_fixed(throttle_pct.0);
                s.full_throttle = i64::from(throttle_pct.0 >= 98.0);
                s.braking = i64::from(brake_pct.0 > 5.0);
            }
            Payload::PowerUnit { rpm, .. } => {
                s.power_unit = 1;
                s.rpm_sum = to_fixed(rpm.0);
            }
            Payload::Aerodynamics { drs_open, .. } => {
                s.aerodynamics = 1;
                s.drs_open = i64::from(*drs_open);
            }
            Payload::Tire { .. } | Payload::System(_) => {}
        }
        s
    }
}

impl IsZero for LapSums {
    fn is_zero(&self) -> bool {
        *self == LapSums::default()
    }
}

impl Semigroup for LapSums {
    fn plus_equals(&mut self, rhs: &Self) {
        self.events += rhs.events;
        self.position_samples += rhs.position_samples;
        self.speed_sum += rhs.speed_sum;
        self.dynamics += rhs.dynamics;
        self.throttle_sum += rhs.throttle_sum;
        self.full_throttle += rhs.full_throttle;
        self.braking += rhs.braking;
        self.power_unit += rhs.power_unit;
        self.rpm_sum += rhs.rpm_sum;
        self.aerodynamics += rhs.aerodynamics;
        self.drs_open += rhs.drs_open;
    }
}

impl Monoid for LapSums {
    fn zero() -> Self {
        LapSums::default()
    }
}

impl Abelian for LapSums {
    fn negate(&mut self) {
        *self = self.scaled(-1);
    }
}

impl LapSums {
    /// Every sum multiplied by `factor`.
    pub fn scaled(&self, factor: i64) -> LapSums {
        let wide = i128::from(factor);
        LapSums {
            events: self.events * factor,
            position_samples: self.position_samples * factor,
            speed_sum: self.speed_sum * wide,
            dynamics: self.dynamics * factor,
            throttle_sum: self.throttle_sum * wide,
            full_throttle: self.full_throttle * factor,
            braking: self.braking * factor,
            power_unit: self.power_unit * factor,
            rpm_sum: self.rpm_sum * wide,
            aerodynamics: self.aerodynamics * factor,
            drs_open: self.drs_open * factor,
        }
    }
}

impl Multiply<isize> for LapSums {
    type Output = LapSums;
    fn multiply(self, rhs: &isize) -> LapSums {
        self.scaled(*rhs as i64)
    }
}

impl Multiply<LapSums> for isize {
    type Output = LapSums;
    fn multiply(self, rhs: &LapSums) -> LapSums {
        rhs.scaled(self as i64)
    }
}
