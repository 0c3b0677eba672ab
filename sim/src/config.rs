//! [`SimConfig`]: what race to simulate and how to deliver it, checked by
//! [`SimConfig::validate`] before a [`crate::Simulator`] runs it.

use crate::track::TRACK_LENGTH_M;

/// Race distance the default lap count is derived from (FIA: just over 305 km).
pub const RACE_DISTANCE_M: f64 = 305_000.0;

/// Full race distance on the simulated track.
pub fn full_race_laps() -> u32 {
    (RACE_DISTANCE_M / TRACK_LENGTH_M).ceil() as u32
}

/// What to simulate and how to deliver it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SimConfig {
    /// Number of cars (1..=50).
    pub cars: u32,
    /// Race distance in laps (1..=199: each car's cool-down lap after the
    /// flag is one more, and the contract's `lap` stops at 200).
    pub laps: u32,
    /// Random seed: same seed, same bytes.
    pub seed: u64,
    /// Session id, e.g. `2026-monza-R`.
    pub session_id: String,
    /// Session date, `YYYY-MM-DD`.
    pub session_date: String,
    /// Race start, Unix epoch milliseconds.
    pub start_ms: i64,
    /// Share of events delivered twice.
    pub duplicates: f64,
    /// Share of events delivered late.
    pub late: f64,
    /// Largest delay of a late event, milliseconds (the smallest is 1 s).
    pub late_max_ms: i64,
    /// Share of events followed by a correction.
    pub corrections: f64,
    /// Share of events accompanied by an invalid record.
    pub invalid: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            cars: 20,
            laps: full_race_laps(),
            seed: 1,
            session_id: "2026-monza-R".into(),
            session_date: "2026-09-06".into(),
            // 2026-09-06T13:00:00Z
            start_ms: 1_788_699_600_000,
            duplicates: 0.0,
            late: 0.0,
            late_max_ms: 120_000,
            corrections: 0.0,
            invalid: 0.0,
        }
    }
}

/// Errors in a [`SimConfig`].
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SimConfigError {
    /// A knob is out of its range.
    #[error("{knob} must be in {range}, got {value}")]
    OutOfRange {
        /// Which knob.
        knob: &'static str,
        /// The allowed range.
        range: &'static str,
        /// What was given.
        value: String,
    },
}

impl SimConfig {
    /// Checks every knob.
    pub fn validate(&self) -> Result<(), SimConfigError> {
        let bad = |knob, range, value: String| Err(SimConfigError::OutOfRange { knob, range, value });
        if !(1..=50).contains(&self.cars) {
            return bad("cars", "1..=50", self.cars.to_string());
        }
        if !(1..=199).contains(&self.laps) {
            return bad("laps", "1..=199", self.laps.to_string());
        }
        for (knob, share) in [
            ("duplicates", self.duplicates),
            ("late", self.late),
            ("corrections", self.corrections),
            ("invalid", self.invalid),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return bad(knob, "0..=1", share.to_string());
            }
        }
        if !(1_000..=3_600_000).contains(&self.late_max_ms) {
            return bad("late max", "1s..=1h", format!("{}ms", self.late_max_ms));
        }
        if self.session_id.is_empty() || self.session_id.chars().count() > 64 {
            return bad("session id", "1..=64 characters", self.session_id.clone());
        }
        if racecast_dataflow::SessionDate::parse(&self.session_date).is_none() {
            return bad("session date", "YYYY-MM-DD", self.session_date.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cool_down_lap_keeps_laps_within_the_contract() {
        let laps = |laps| {
            SimConfig {
                laps,
                ..SimConfig::default()
            }
            .validate()
        };
        assert_eq!(laps(199), Ok(()));
        assert!(laps(200).is_err(), "its cool-down lap would be lap 201");
        assert!(laps(0).is_err());
    }
}
