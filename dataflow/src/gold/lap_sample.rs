//! [`LapSample`]: what one silver event contributes to its lap's gold row,
//! and nothing more: the fields that the lap's sums ([`super::LapSums`])
//! and extremes ([`super::LapExtremes`]) read. Silver rows (an event and
//! its entry, ~200 bytes) are cut down to this (~48 bytes) before they are
//! exchanged to the worker that keeps their lap.

use crate::date::SessionDate;
use crate::event::{Event, Payload};
use crate::real::Real;

/// The measurements of a sample that gold reads, by event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Measure {
    /// `position`.
    Position {
        /// `speed_kph`.
        speed_kph: Real,
        /// `sector`.
        sector: u8,
    },
    /// `dynamics`.
    Dynamics {
        /// `throttle_pct`.
        throttle_pct: Real,
        /// `brake_pct`.
        brake_pct: Real,
        /// `gear`.
        gear: i8,
    },
    /// `power_unit`.
    PowerUnit {
        /// `rpm`.
        rpm: Real,
    },
    /// `tire`.
    Tire {
        /// `surface_temp_c`.
        surface_temp_c: Real,
        /// `wear_pct`.
        wear_pct: Real,
    },
    /// `aerodynamics`.
    Aerodynamics {
        /// `drs_open`.
        drs_open: bool,
    },
    /// `system`.
    System {
        /// Whether its flag is a yellow-type flag.
        yellow: bool,
    },
}

/// One silver event as its lap sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct LapSample {
    /// `session_date`.
    pub session_date: SessionDate,
    /// `timestamp_ms`.
    pub timestamp_ms: i64,
    /// `sequence` (orders dynamics events with equal timestamps).
    pub sequence: u64,
    /// The measurements gold reads.
    pub measure: Measure,
}

impl LapSample {
    /// The sample of `event`.
    pub fn of(event: &Event) -> LapSample {
        let measure = match &event.payload {
            Payload::Position {
                speed_kph, sector, ..
            } => Measure::Position {
                speed_kph: *speed_kph,
                sector: *sector,
            },
            Payload::Dynamics {
                throttle_pct,
                brake_pct,
                gear,
                ..
            } => Measure::Dynamics {
                throttle_pct: *throttle_pct,
                brake_pct: *brake_pct,
                gear: *gear,
            },
            Payload::PowerUnit { rpm, .. } => Measure::PowerUnit { rpm: *rpm },
            Payload::Tire {
                surface_temp_c,
                wear_pct,
                ..
            } => Measure::Tire {
                surface_temp_c: *surface_temp_c,
                wear_pct: *wear_pct,
            },
            Payload::Aerodynamics { drs_open, .. } => Measure::Aerodynamics { drs_open: *drs_open },
            Payload::System(s) => Measure::System {
                yellow: s.flag.is_yellow(),
            },
        };
        LapSample {
            session_date: event.session_date,
            timestamp_ms: event.timestamp_ms,
            sequence: event.sequence,
            measure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_stay_small() {
        assert!(
            std::mem::size_of::<LapSample>() <= 48,
            "{}",
            std::mem::size_of::<LapSample>()
        );
    }
}
