//! The simulated track: a 5.793 km lap (Monza-like) with three sectors,
//! corners that set a speed profile, and two DRS zones, as functions of the
//! fraction of a lap a car has covered.

use std::f64::consts::TAU;

/// Track length in metres.
pub const TRACK_LENGTH_M: f64 = 5793.0;

/// Sector boundaries as fractions of a lap.
const SECTOR_ENDS: [f64; 2] = [0.34, 0.70];
/// DRS zones as (start, end) fractions of a lap.
const DRS_ZONES: [(f64, f64); 2] = [(0.0, 0.09), (0.47, 0.55)];
/// Corners as (fraction of lap, apex speed in kph).
const CORNERS: [(f64, f64); 8] = [
    (0.11, 85.0),
    (0.16, 175.0),
    (0.30, 205.0),
    (0.38, 110.0),
    (0.43, 120.0),
    (0.60, 175.0),
    (0.78, 240.0),
    (0.95, 215.0),
];

/// Target speed (kph) at a lap fraction: limited by the corners ahead
/// (braking) and behind (acceleration).
pub(crate) fn speed_profile(fraction: f64) -> f64 {
    const V_MAX: f64 = 345.0;
    const BRAKE: f64 = 45.0; // m/s² over the braking zone
    const ACCEL: f64 = 11.0; // m/s² out of a corner
    let mut v = V_MAX / 3.6;
    for &(at, apex) in &CORNERS {
        let apex = apex / 3.6;
        let ahead = (at - fraction).rem_euclid(1.0) * TRACK_LENGTH_M;
        let behind = (fraction - at).rem_euclid(1.0) * TRACK_LENGTH_M;
        v = v.min((apex * apex + 2.0 * BRAKE * ahead).sqrt());
        v = v.min((apex * apex + 2.0 * ACCEL * behind).sqrt());
    }
    v * 3.6
}

pub(crate) fn sector_of(fraction: f64) -> u32 {
    match fraction {
        f if f < SECTOR_ENDS[0] => 1,
        f if f < SECTOR_ENDS[1] => 2,
        _ => 3,
    }
}

pub(crate) fn in_drs_zone(fraction: f64) -> bool {
    DRS_ZONES.iter().any(|&(a, b)| fraction >= a && fraction < b)
}

/// Track coordinates (x, y, z) and heading at a lap fraction.
pub(crate) fn geometry(fraction: f64) -> (f64, f64, f64, f64) {
    let t = fraction * TAU;
    let x = 1100.0 * t.cos() + 260.0 * (3.0 * t).cos();
    let y = 700.0 * t.sin() + 140.0 * (2.0 * t).sin();
    let z = 8.0 * (t + 0.5).sin();
    let dx = -1100.0 * t.sin() - 780.0 * (3.0 * t).sin();
    let dy = 700.0 * t.cos() + 280.0 * (2.0 * t).cos();
    let heading = dy.atan2(dx).to_degrees().rem_euclid(360.0);
    // rem_euclid can round up to exactly 360.0.
    let heading = if heading >= 360.0 { 0.0 } else { heading };
    (x, y, z, heading)
}

/// Rounds to `decimals` places, as real telemetry is quantised.
pub(crate) fn round(v: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (v * scale).round() / scale
}
