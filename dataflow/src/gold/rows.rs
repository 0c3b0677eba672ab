//! The gold rows (SPEC §3) and the pure functions that build them from a
//! car's per-lap partials ([`lap_rows`], [`car_summary`]) and from a
//! session's car summaries ([`session_rows`]). The differential operators in
//! [`crate::gold`] call these inside `reduce`; the batch reference in the
//! tests does not (it recomputes everything from silver on its own).

use super::fixed::mean;
use super::lap_extremes::LapExtremes;
use super::lap_sums::LapSums;
use crate::date::SessionDate;
use crate::real::Real;
use crate::symbol::Symbol;

/// One row of `gold.lap_metrics`, keyed by (`session_id`, `car_number`, `lap`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct LapRow {
    /// Session id.
    pub session_id: Symbol,
    /// Car number.
    pub car_number: u8,
    /// Lap.
    pub lap: u8,
    /// Session date (partition column).
    pub session_date: Option<SessionDate>,
    /// Min `timestamp_ms` of the lap's position events.
    pub lap_start_ms: Option<i64>,
    /// `lap_start_ms(lap + 1) - lap_start_ms`.
    pub lap_time_ms: Option<i64>,
    /// `s(2) - s(1)`.
    pub sector1_ms: Option<i64>,
    /// `s(3) - s(2)`.
    pub sector2_ms: Option<i64>,
    /// `lap_start_ms(lap + 1) - s(3)`.
    pub sector3_ms: Option<i64>,
    /// Count of position events.
    pub position_samples: i64,
    /// Mean `speed_kph`.
    pub avg_speed_kph: Option<Real>,
    /// Max `speed_kph`.
    pub max_speed_kph: Option<Real>,
    /// Mean `throttle_pct`.
    pub avg_throttle_pct: Option<Real>,
    /// 100 × share of dynamics events with `throttle_pct >= 98`.
    pub full_throttle_pct: Option<Real>,
    /// 100 × share of dynamics events with `brake_pct > 5`.
    pub braking_pct: Option<Real>,
    /// Gear changes between consecutive dynamics events.
    pub gear_changes: i64,
    /// Max `rpm`.
    pub max_rpm: Option<Real>,
    /// Mean `rpm`.
    pub avg_rpm: Option<Real>,
    /// Max tire `surface_temp_c`.
    pub max_tire_temp_c: Option<Real>,
    /// Max tire `wear_pct`.
    pub max_tire_wear_pct: Option<Real>,
    /// 100 × share of aerodynamics events with `drs_open`.
    pub drs_open_pct: Option<Real>,
    /// Any yellow-type flag in the lap.
    pub yellow_flag: bool,
    /// Count of silver events of the lap.
    pub events: i64,
}

/// One row of `gold.session_metrics`, keyed by (`session_id`, `car_number`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct SessionRow {
    /// Session id.
    pub session_id: Symbol,
    /// Car number.
    pub car_number: u8,
    /// Session date (partition column).
    pub session_date: Option<SessionDate>,
    /// Laps with a non-null `lap_time_ms`.
    pub laps_completed: i64,
    /// Min `lap_time_ms`.
    pub best_lap_ms: Option<i64>,
    /// Smallest lap with `best_lap_ms`.
    pub best_lap: Option<u8>,
    /// Sum of `lap_time_ms` over completed laps.
    pub total_time_ms: i64,
    /// Max `speed_kph` over the car's position events.
    pub top_speed_kph: Option<Real>,
    /// 1-based rank in the session.
    pub position: i64,
    /// `total_time_ms` minus the leader's, on the leader's lap count.
    pub gap_to_leader_ms: Option<i64>,
    /// The session's fastest lap.
    pub fastest_lap: bool,
}

/// What one lap of a car contributes to the car's rows.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct LapPartial {
    /// The sums.
    pub sums: LapSums,
    /// The extremes.
    pub extremes: LapExtremes,
}

fn share(part: i64, whole: i64) -> Option<Real> {
    (whole > 0).then(|| Real(100.0 * part as f64 / whole as f64))
}

fn real_mean(sum: i128, count: i64) -> Option<Real> {
    mean(sum, count).map(Real)
}

/// The lap rows of one car from its laps' partials, sorted by lap.
pub fn lap_rows(session_id: Symbol, car_number: u8, laps: &[(u8, LapPartial)]) -> Vec<LapRow> {
    let start_of = |lap: u8| -> Option<i64> {
        let next = laps.binary_search_by_key(&lap, |(l, _)| *l).ok()?;
        laps[next].1.extremes.lap_start_ms()
    };
    laps.iter()
        .filter(|(_, p)| p.sums.events > 0)
        .map(|(lap, p)| {
            let (s, x) = (&p.sums, &p.extremes);
            let start = x.lap_start_ms();
            let next_start = lap.checked_add(1).and_then(start_of);
            let [s1, s2, s3] = x.sector_start_ms;
            let minus = |a: Option<i64>, b: Option<i64>| Some(a? - b?);
            LapRow {
                session_id,
                car_number,
                lap: *lap,
                session_date: x.session_date,
                lap_start_ms: start,
                lap_time_ms: minus(next_start, start),
                sector1_ms: minus(s2, s1),
                sector2_ms: minus(s3, s2),
                sector3_ms: minus(next_start, s3),
                position_samples: s.position_samples,
                avg_speed_kph: real_mean(s.speed_sum, s.position_samples),
                max_speed_kph: x.max_speed_kph,
                avg_throttle_pct: real_mean(s.throttle_sum, s.dynamics),
                full_throttle_pct: share(s.full_throttle, s.dynamics),
                braking_pct: share(s.braking, s.dynamics),
                gear_changes: x.gear_changes,
                max_rpm: x.max_rpm,
                avg_rpm: real_mean(s.rpm_sum, s.power_unit),
                max_tire_temp_c: x.max_tire_temp_c,
                max_tire_wear_pct: x.max_tire_wear_pct,
                drs_open_pct: share(s.drs_open, s.aerodynamics),
                yellow_flag: x.yellow_flag,
                events: s.events,
            }
        })
        .collect()
}

/// What a car contributes to its session's ranking.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct CarSummary {
    /// Car number.
    pub car_number: u8,
    /// Smallest session date of its laps.
    pub session_date: Option<SessionDate>,
    /// Completed laps.
    pub laps_completed: i64,
    /// Best lap time and the smallest lap that has it.
    pub best: Option<(i64, u8)>,
    /// Sum of lap times.
    pub total_time_ms: i64,
    /// Top speed.
    pub top_speed_kph: Option<Real>,
}

/// A car's summary from its lap rows.
pub fn car_summary(car_number: u8, rows: &[LapRow]) -> CarSummary {
    let completed = rows.iter().filter_map(|r| r.lap_time_ms.map(|t| (t, r.lap)));
    CarSummary {
        car_number,
        session_date: rows.iter().filter_map(|r| r.session_date).min(),
        laps_completed: completed.clone().count() as i64,
        best: completed.clone().min(),
        total_time_ms: completed.map(|(t, _)| t).sum(),
        top_speed_kph: rows.iter().filter_map(|r| r.max_speed_kph).max(),
    }
}

/// The session rows of one session from its cars' summaries.
pub fn session_rows(session_id: Symbol, cars: &[CarSummary]) -> Vec<SessionRow> {
    let mut order: Vec<&CarSummary> = cars.iter().collect();
    order.sort_by_key(|c| (std::cmp::Reverse(c.laps_completed), c.total_time_ms, c.car_number));
    let leader = order.first().map(|c| (c.laps_completed, c.total_time_ms));
    let fastest = cars
        .iter()
        .filter_map(|c| c.best.map(|(t, _)| (t, c.car_number)))
        .min()
        .map(|(_, car)| car);
    order
        .iter()
        .enumerate()
        .map(|(rank, c)| SessionRow {
            session_id,
            car_number: c.car_number,
            session_date: c.session_date,
            laps_completed: c.laps_completed,
            best_lap_ms: c.best.map(|(t, _)| t),
            best_lap: c.best.map(|(_, lap)| lap),
            total_time_ms: c.total_time_ms,
            top_speed_kph: c.top_speed_kph,
            position: rank as i64 + 1,
            gap_to_leader_ms: leader
                .filter(|(laps, _)| *laps == c.laps_completed)
                .map(|(_, total)| c.total_time_ms - total),
            fastest_lap: fastest == Some(c.car_number),
        })
        .collect()
}
