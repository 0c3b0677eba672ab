//! A deterministic Formula 1 race that produces telemetry in *arrival* order.
//!
//! The race: a 5.793 km track (Monza-like) with three sectors, corners that set
//! a speed profile, and two DRS zones; per-car pace, tire wear and
//! temperatures, one or two pit stops per car, a safety-car period, yellow
//! flags and a chequered flag. Every car emits all six event types at their
//! nominal rates (power unit 50 Hz, dynamics 20 Hz, position and aerodynamics
//! 10 Hz, tire 5 Hz per corner, system on change) with per-(car, type)
//! increasing sequences, from a 50 Hz simulation step.
//!
//! The delivery: each event is *delivered* at an arrival time; normally its
//! event time, but a share arrives late (`late`, delayed by 1 s up to
//! `late_max`), twice (`duplicates`), is first sent wrong and then corrected
//! (`corrections`: the wrong revision 0, sometimes a wrong revision 1, some
//! putting the sample in the next or previous lap, then the true last
//! revision), or is accompanied by an invalid record (`invalid`:
//! out-of-range values, missing fields, undecodable bytes, and invalid
//! corrections). [`Simulator`] is an iterator of [`Delivery`] in arrival
//! order; it knows nothing about where records go.
//!
//! Same [`SimConfig`] (seed included), same records, bit for bit.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::f64::consts::TAU;

use racecast_dataflow::SessionType;
use racecast_proto::v1::{self as pb, telemetry_event::Payload as PbPayload};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Track length in metres.
pub const TRACK_LENGTH_M: f64 = 5793.0;
/// Race distance the default lap count is derived from (FIA: just over 305 km).
pub const RACE_DISTANCE_M: f64 = 305_000.0;
/// Simulation step, milliseconds (50 Hz).
const STEP_MS: i64 = 20;
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

/// Full race distance on the simulated track.
pub fn full_race_laps() -> u32 {
    (RACE_DISTANCE_M / TRACK_LENGTH_M).ceil() as u32
}

/// What to simulate and how to deliver it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SimConfig {
    /// Number of cars (1..=50).
    pub cars: u32,
    /// Race distance in laps (1..=200).
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
        if !(1..=200).contains(&self.laps) {
            return bad("laps", "1..=200", self.laps.to_string());
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

/// One record as delivered.
#[derive(Clone, Debug, PartialEq)]
pub enum SimRecord {
    /// An event in wire form: valid, or invalid on purpose (range, missing).
    Event(pb::TelemetryEvent),
    /// Bytes that are not a record at all (`decode`).
    Garbage(Vec<u8>),
}

/// A record and when it arrives.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// Arrival time, Unix epoch milliseconds (for real-time pacing).
    pub arrival_ms: i64,
    /// The record.
    pub record: SimRecord,
}

const DRIVERS: [(&str, u32, &str); 20] = [
    ("VER", 1, "Red Bull Racing"),
    ("TSU", 22, "Red Bull Racing"),
    ("NOR", 4, "McLaren"),
    ("PIA", 81, "McLaren"),
    ("LEC", 16, "Ferrari"),
    ("HAM", 44, "Ferrari"),
    ("RUS", 63, "Mercedes"),
    ("ANT", 12, "Mercedes"),
    ("ALO", 14, "Aston Martin"),
    ("STR", 18, "Aston Martin"),
    ("GAS", 10, "Alpine"),
    ("COL", 43, "Alpine"),
    ("ALB", 23, "Williams"),
    ("SAI", 55, "Williams"),
    ("HAD", 6, "Racing Bulls"),
    ("LAW", 30, "Racing Bulls"),
    ("HUL", 27, "Audi"),
    ("BOR", 5, "Audi"),
    ("OCO", 31, "Haas"),
    ("BEA", 87, "Haas"),
];

/// Driver code, car number and team of the `i`-th car (0-based). Cars past
/// the twentieth get generated codes and free numbers.
fn driver(i: usize) -> (String, u32, String) {
    if let Some(&(code, number, team)) = DRIVERS.get(i) {
        return (code.into(), number, team.into());
    }
    let extra = i - DRIVERS.len();
    let used: Vec<u32> = DRIVERS.iter().map(|d| d.1).collect();
    let number = (2..=99)
        .filter(|n| !used.contains(n))
        .nth(extra)
        .expect("at most 50 cars");
    let letters = [b'X', b'A' + (extra / 26) as u8, b'A' + (extra % 26) as u8];
    let code = String::from_utf8(letters.to_vec()).expect("ascii");
    (code, number, format!("Privateer {}", extra / 2 + 1))
}

/// The entry list of a simulated session.
pub fn entry_list(config: &SimConfig) -> Vec<pb::EntryListRecord> {
    (0..config.cars as usize)
        .map(|i| {
            let (code, number, team) = driver(i);
            pb::EntryListRecord {
                session_id: Some(config.session_id.clone()),
                car_number: Some(number),
                driver_code: Some(code),
                team: Some(team),
                track: Some("Monza".into()),
                session_type: SessionType::ALL
                    .iter()
                    .position(|&t| t == SessionType::R)
                    .map_or(0, |p| p as i32 + 1),
                revision: Some(0),
            }
        })
        .collect()
}

/// Target speed (kph) at a lap fraction: limited by the corners ahead
/// (braking) and behind (acceleration).
fn speed_profile(fraction: f64) -> f64 {
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

fn sector_of(fraction: f64) -> u32 {
    match fraction {
        f if f < SECTOR_ENDS[0] => 1,
        f if f < SECTOR_ENDS[1] => 2,
        _ => 3,
    }
}

fn in_drs_zone(fraction: f64) -> bool {
    DRS_ZONES.iter().any(|&(a, b)| fraction >= a && fraction < b)
}

/// Track coordinates (x, y, z) and heading at a lap fraction.
fn geometry(fraction: f64) -> (f64, f64, f64, f64) {
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
fn round(v: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (v * scale).round() / scale
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RaceFlag {
    Green,
    Yellow,
    SafetyCar,
    Chequered,
}

impl RaceFlag {
    fn wire(self) -> i32 {
        let flag = match self {
            RaceFlag::Green => racecast_dataflow::event::Flag::Green,
            RaceFlag::Yellow => racecast_dataflow::event::Flag::Yellow,
            RaceFlag::SafetyCar => racecast_dataflow::event::Flag::SafetyCar,
            RaceFlag::Chequered => racecast_dataflow::event::Flag::Chequered,
        };
        racecast_dataflow::event::Flag::ALL
            .iter()
            .position(|&f| f == flag)
            .map_or(0, |p| p as i32 + 1)
    }
}

struct Car {
    number: u32,
    pace: f64,
    wear_rate: f64,
    front_wing: f64,
    rear_wing: f64,
    brake_balance: f64,
    start_delay_ms: i64,
    /// Metres into the current lap.
    distance: f64,
    lap: u32,
    speed_kph: f64,
    wear: f64,
    tire_temp: f64,
    ers: f64,
    pit_laps: Vec<u32>,
    pit_stop_left_ms: i64,
    finished: bool,
    sequences: [u64; 6],
    drs_this_lap: bool,
}

/// The race simulator: an iterator of deliveries in arrival order.
pub struct Simulator {
    config: SimConfig,
    rng: ChaCha8Rng,
    cars: Vec<Car>,
    step: i64,
    flag: RaceFlag,
    safety_car_laps: (u32, u32),
    yellow_windows: Vec<(i64, i64)>,
    leader_laps_done: u32,
    heap: BinaryHeap<Reverse<Pending>>,
    counter: u64,
    finished: bool,
}

/// A delivery waiting in the arrival queue, ordered by arrival then by the
/// order it was produced in (so equal arrival times keep event order).
struct Pending {
    arrival_ms: i64,
    order: u64,
    record: SimRecord,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.arrival_ms, self.order) == (other.arrival_ms, other.order)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.arrival_ms, self.order).cmp(&(other.arrival_ms, other.order))
    }
}

impl Simulator {
    /// A new race. Check the config with [`SimConfig::validate`] first.
    pub fn new(config: SimConfig) -> Simulator {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let laps = config.laps;
        let cars = (0..config.cars as usize)
            .map(|i| {
                let (_, number, _) = driver(i);
                let stops = if rng.random_bool(0.6) { 1 } else { 2 };
                let mut pit_laps: Vec<u32> = (0..stops)
                    .map(|s| {
                        let lo = laps * (s * 2 + 1) / (stops * 2 + 1);
                        (lo + rng.random_range(0..=laps / 8)).clamp(2, laps.saturating_sub(1).max(2))
                    })
                    .collect();
                pit_laps.dedup();
                Car {
                    number,
                    pace: 0.985 + 0.0015 * i as f64 + rng.random_range(0.0..0.004),
                    wear_rate: rng.random_range(1.2..2.2),
                    front_wing: round(rng.random_range(18.0..32.0), 1),
                    rear_wing: round(rng.random_range(14.0..30.0), 1),
                    brake_balance: round(rng.random_range(54.0..58.5), 1),
                    start_delay_ms: i as i64 * 250,
                    distance: 0.0,
                    lap: 1,
                    speed_kph: 0.0,
                    wear: 0.0,
                    tire_temp: 70.0,
                    ers: 100.0,
                    pit_laps,
                    pit_stop_left_ms: 0,
                    finished: false,
                    sequences: [0; 6],
                    drs_this_lap: false,
                }
            })
            .collect();
        let sc_start = if laps >= 12 {
            rng.random_range(laps / 4..laps / 2)
        } else {
            laps + 1
        };
        let race_ms = i64::from(laps) * 85_000;
        let yellow_windows = (0..3)
            .map(|_| {
                let start = rng.random_range(0..race_ms.max(1));
                (start, start + rng.random_range(8_000..25_000))
            })
            .collect();
        Simulator {
            config,
            rng,
            cars,
            step: 0,
            flag: RaceFlag::Green,
            safety_car_laps: (sc_start, sc_start + 3),
            yellow_windows,
            leader_laps_done: 0,
            heap: BinaryHeap::new(),
            counter: 0,
            finished: false,
        }
    }

    /// The config the race runs with.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// How far the race is, 0..=1 (laps done by the leader).
    pub fn progress(&self) -> f64 {
        if self.finished {
            1.0
        } else {
            f64::from(self.leader_laps_done) / f64::from(self.config.laps)
        }
    }

    fn now_ms(&self) -> i64 {
        self.config.start_ms + self.step * STEP_MS
    }

    /// Advances the race by one step, queueing what it emitted.
    fn advance(&mut self) {
        let now = self.now_ms();
        let elapsed = self.step * STEP_MS;
        let dt = STEP_MS as f64 / 1000.0;
        let flag = self.race_flag(elapsed);
        if flag != self.flag {
            self.flag = flag;
            for i in 0..self.cars.len() {
                if !self.cars[i].finished {
                    self.emit_system(i, now, flag);
                }
            }
        }
        for i in 0..self.cars.len() {
            if self.cars[i].finished || elapsed < self.cars[i].start_delay_ms {
                continue;
            }
            self.move_car(i, dt, now);
            self.emit_samples(i, now);
        }
        self.step += 1;
        if self.cars.iter().all(|c| c.finished) {
            self.finished = true;
        }
    }

    fn race_flag(&self, elapsed_ms: i64) -> RaceFlag {
        let leader_lap = self.leader_laps_done + 1;
        if self.leader_laps_done >= self.config.laps {
            RaceFlag::Chequered
        } else if (self.safety_car_laps.0..self.safety_car_laps.1).contains(&leader_lap) {
            RaceFlag::SafetyCar
        } else if self
            .yellow_windows
            .iter()
            .any(|&(a, b)| (a..b).contains(&elapsed_ms))
        {
            RaceFlag::Yellow
        } else {
            RaceFlag::Green
        }
    }

    fn move_car(&mut self, i: usize, dt: f64, now: i64) {
        let flag = self.flag;
        let car = &mut self.cars[i];
        if car.pit_stop_left_ms > 0 {
            car.pit_stop_left_ms -= STEP_MS;
            car.speed_kph = 0.0;
            if car.pit_stop_left_ms <= 0 {
                self.emit_pit(i, now, "PIT_OUT", "left the pit box on new tires");
            }
            return;
        }
        let fraction = car.distance / TRACK_LENGTH_M;
        let pitting = car.pit_laps.contains(&car.lap);
        let mut target = speed_profile(fraction) * car.pace * (1.0 - car.wear * 0.0006);
        match flag {
            RaceFlag::SafetyCar => target = target.min(170.0),
            RaceFlag::Yellow if sector_of(fraction) == 2 => target *= 0.92,
            _ => {}
        }
        if pitting && !(0.05..0.97).contains(&fraction) {
            target = target.min(80.0);
        }
        // First-order response towards the target speed.
        car.speed_kph += (target - car.speed_kph) * (dt * 3.0).min(1.0);
        car.speed_kph = car.speed_kph.clamp(0.0, 360.0);
        car.distance += car.speed_kph / 3.6 * dt;
        car.tire_temp += ((80.0 + car.speed_kph * 0.09) - car.tire_temp) * dt * 0.2;
        car.wear = (car.wear + car.wear_rate * car.speed_kph / 3.6 * dt / TRACK_LENGTH_M).min(100.0);
        let recharge = if target < car.speed_kph { 1.5 } else { -0.8 };
        car.ers = (car.ers + recharge * dt * 4.0).clamp(0.0, 100.0);
        if pitting && fraction < 0.02 && car.distance / TRACK_LENGTH_M >= 0.02 && car.pit_stop_left_ms == 0 {
            // In the box: stationary for ~2.4 s, new tires.
            car.pit_laps.retain(|&l| l != car.lap);
            car.pit_stop_left_ms = 2_400;
            car.wear = 0.0;
            car.tire_temp = 60.0;
            self.emit_pit(i, now, "PIT_IN", "pit stop");
            return;
        }
        let car = &mut self.cars[i];
        if car.distance >= TRACK_LENGTH_M {
            car.distance -= TRACK_LENGTH_M;
            let completed = car.lap;
            if completed > self.leader_laps_done {
                self.leader_laps_done = completed;
            }
            if self.flag == RaceFlag::Chequered || completed >= self.config.laps {
                car.finished = true;
                return;
            }
            car.lap += 1;
            car.drs_this_lap = car.lap > 2 && self.rng.random_bool(0.7);
        }
    }

    fn next_sequence(&mut self, i: usize, slot: usize) -> u64 {
        let seq = self.cars[i].sequences[slot];
        self.cars[i].sequences[slot] += 1;
        seq
    }

    fn base_event(&mut self, i: usize, now: i64, event_type: pb::EventType) -> pb::TelemetryEvent {
        let slot = event_type as usize - 1;
        let sequence = self.next_sequence(i, slot);
        let car = &self.cars[i];
        let name = racecast_dataflow::EventType::ALL[slot].as_str();
        pb::TelemetryEvent {
            event_id: Some(format!(
                "{}/{}/{}/{}",
                self.config.session_id, car.number, name, sequence
            )),
            revision: Some(0),
            session_id: Some(self.config.session_id.clone()),
            session_date: Some(self.config.session_date.clone()),
            car_number: Some(car.number),
            event_type: event_type as i32,
            lap: Some(car.lap),
            timestamp_ms: Some(now),
            sequence: Some(sequence),
            payload: None,
        }
    }

    fn emit_samples(&mut self, i: usize, now: i64) {
        // Stagger the slower streams per car so that they do not all fire on
        // the same step.
        let phase = self.step + i as i64;
        let car = &self.cars[i];
        let fraction = (car.distance / TRACK_LENGTH_M).clamp(0.0, 1.0 - 1e-9);
        let speed = car.speed_kph;
        let target_ahead = speed_profile((fraction + 0.004) % 1.0) * car.pace;
        let braking = target_ahead < speed - 3.0 && speed > 60.0;
        let gear = if speed < 1.0 {
            0
        } else {
            (1 + (speed / 44.0) as i32).clamp(1, 8)
        };
        let rpm = if gear == 0 {
            4000.0
        } else {
            9500.0 + (speed % 44.0) / 44.0 * 2300.0
        };
        // Power unit, 50 Hz.
        let mut e = self.base_event(i, now, pb::EventType::PowerUnit);
        let car = &self.cars[i];
        e.payload = Some(PbPayload::PowerUnit(pb::PowerUnit {
            rpm: Some(round(rpm + self.rng.random_range(-40.0..40.0), 0)),
            ers_store_pct: Some(round(car.ers, 1)),
            water_temp_c: Some(round(92.0 + speed * 0.03, 1)),
            oil_temp_c: Some(round(104.0 + speed * 0.035, 1)),
        }));
        self.deliver(e);
        // Dynamics, 20 Hz (every other step... 25 Hz would be every 2; use
        // steps 0, 2 of every 5: 2 per 100 ms = 20 Hz).
        if phase % 5 == 0 || phase % 5 == 2 {
            let throttle = if braking {
                0.0
            } else if speed_profile((fraction + 0.002) % 1.0) * self.cars[i].pace >= speed - 1.0 {
                100.0
            } else {
                round(self.rng.random_range(20.0..90.0), 1)
            };
            let brake = if braking {
                round(self.rng.random_range(40.0..100.0), 1)
            } else {
                0.0
            };
            let mut e = self.base_event(i, now, pb::EventType::Dynamics);
            e.payload = Some(PbPayload::Dynamics(pb::Dynamics {
                throttle_pct: Some(throttle),
                brake_pct: Some(brake),
                gear: Some(gear),
                g_lat: Some(round(self.rng.random_range(-4.5..4.5), 2)),
                g_long: Some(round(
                    if braking { -4.0 } else { 1.2 } + self.rng.random_range(-0.5..0.5),
                    2,
                )),
            }));
            self.deliver(e);
        }
        // Position and aerodynamics, 10 Hz.
        if phase % 5 == 1 {
            let (x, y, z, heading) = geometry(fraction);
            let mut e = self.base_event(i, now, pb::EventType::Position);
            e.payload = Some(PbPayload::Position(pb::Position {
                x_m: Some(round(x, 2)),
                y_m: Some(round(y, 2)),
                z_m: Some(round(z, 2)),
                speed_kph: Some(round(speed, 1)),
                heading_deg: Some(round(heading, 1) % 360.0),
                sector: Some(sector_of(fraction)),
            }));
            self.deliver(e);
            let car = &self.cars[i];
            let drs = car.drs_this_lap && in_drs_zone(fraction) && self.flag == RaceFlag::Green;
            let (front, rear, balance) = (car.front_wing, car.rear_wing, car.brake_balance);
            let mut e = self.base_event(i, now, pb::EventType::Aerodynamics);
            e.payload = Some(PbPayload::Aerodynamics(pb::Aerodynamics {
                drs_open: Some(drs),
                front_wing_deg: Some(front),
                rear_wing_deg: Some(if drs { round(rear * 0.4, 1) } else { rear }),
                brake_balance_pct: Some(balance),
            }));
            self.deliver(e);
        }
        // Tire, 5 Hz per corner.
        if phase % 10 == 3 {
            for corner in 1..=4 {
                let car = &self.cars[i];
                let (temp, wear) = (car.tire_temp, car.wear);
                let mut e = self.base_event(i, now, pb::EventType::Tire);
                let front = corner <= 2;
                e.payload = Some(PbPayload::Tire(pb::Tire {
                    corner,
                    pressure_psi: Some(round(if front { 23.5 } else { 21.0 } + temp * 0.01, 2)),
                    surface_temp_c: Some(round(
                        temp + if front { 4.0 } else { 0.0 } + self.rng.random_range(-2.0..2.0),
                        1,
                    )),
                    wear_pct: Some(round((wear * if front { 1.1 } else { 0.9 }).min(100.0), 2)),
                }));
                self.deliver(e);
            }
        }
    }

    fn emit_system(&mut self, i: usize, now: i64, flag: RaceFlag) {
        let (severity, code, message) = match flag {
            RaceFlag::Green => (1, "TRACK_CLEAR", "green flag"),
            RaceFlag::Yellow => (2, "YELLOW_S2", "yellow flag in sector 2"),
            RaceFlag::SafetyCar => (2, "SAFETY_CAR", "safety car deployed"),
            RaceFlag::Chequered => (1, "CHEQUERED", "chequered flag"),
        };
        let mut e = self.base_event(i, now, pb::EventType::System);
        e.payload = Some(PbPayload::System(pb::System {
            severity,
            flag: flag.wire(),
            code: Some(code.into()),
            message: Some(message.into()),
        }));
        self.deliver(e);
    }

    fn emit_pit(&mut self, i: usize, now: i64, code: &str, message: &str) {
        let flag = self.flag.wire();
        let mut e = self.base_event(i, now, pb::EventType::System);
        e.payload = Some(PbPayload::System(pb::System {
            severity: 1,
            flag,
            code: Some(code.into()),
            message: Some(message.into()),
        }));
        self.deliver(e);
    }

    fn push(&mut self, arrival_ms: i64, record: SimRecord) {
        self.counter += 1;
        self.heap.push(Reverse(Pending {
            arrival_ms,
            order: self.counter,
            record,
        }));
    }

    /// Queues an event and whatever the delivery knobs add to it.
    ///
    /// A corrected event is first transmitted wrong (revision 0, and for
    /// one in five also revision 1), and its last revision carries the
    /// truth: the race read from the latest revisions is the simulated one,
    /// while a first-revision-wins reader sees the distortions.
    fn deliver(&mut self, event: pb::TelemetryEvent) {
        let now = event.timestamp_ms.unwrap_or_default();
        let c = &self.config;
        let (late, late_max, duplicates, corrections, invalid) =
            (c.late, c.late_max_ms, c.duplicates, c.corrections, c.invalid);
        let arrival = if late > 0.0 && self.rng.random_bool(late) {
            now + self.rng.random_range(1_000..=late_max)
        } else {
            now
        };
        let mut original = event.clone();
        if corrections > 0.0 && self.rng.random_bool(corrections) {
            let revisions = if self.rng.random_bool(0.2) { 2 } else { 1 };
            original = self.distort(&event, 0);
            for revision in 1..=revisions {
                let when = arrival + self.rng.random_range(1_000..60_000) * i64::from(revision);
                let record = if revision == revisions {
                    let mut truth = event.clone();
                    truth.revision = Some(revision);
                    truth
                } else {
                    self.distort(&event, revision)
                };
                self.push(when, SimRecord::Event(record));
            }
        }
        if duplicates > 0.0 && self.rng.random_bool(duplicates) {
            let again = arrival + self.rng.random_range(0..5_000);
            self.push(again, SimRecord::Event(original.clone()));
        }
        if invalid > 0.0 && self.rng.random_bool(invalid) {
            let bad = self.corrupt(&event);
            let when = arrival + self.rng.random_range(0..2_000);
            self.push(when, bad);
        }
        self.push(arrival, SimRecord::Event(original));
    }

    /// A wrong transmission of `event` at `revision`: a changed measurement;
    /// one in ten puts the sample in the neighbouring lap.
    fn distort(&mut self, event: &pb::TelemetryEvent, revision: u32) -> pb::TelemetryEvent {
        let mut e = event.clone();
        e.revision = Some(revision);
        if self.rng.random_bool(0.1) {
            let lap = e.lap.unwrap_or(1);
            e.lap = Some(if lap > 1 && self.rng.random_bool(0.5) {
                lap - 1
            } else {
                (lap + 1).min(200)
            });
        }
        let nudge = self.rng.random_range(0.9..1.1);
        match &mut e.payload {
            Some(PbPayload::Position(p)) => {
                p.speed_kph = p.speed_kph.map(|v| round((v * nudge).min(400.0), 1))
            }
            Some(PbPayload::Dynamics(p)) => {
                p.throttle_pct = p.throttle_pct.map(|v| round((v * nudge).min(100.0), 1));
                p.gear = p
                    .gear
                    .map(|g| if self.rng.random_bool(0.3) { (g % 8) + 1 } else { g });
            }
            Some(PbPayload::PowerUnit(p)) => p.rpm = p.rpm.map(|v| round((v * nudge).min(20_000.0), 0)),
            Some(PbPayload::Tire(p)) => {
                p.surface_temp_c = p.surface_temp_c.map(|v| round((v * nudge).min(200.0), 1))
            }
            Some(PbPayload::Aerodynamics(p)) => p.drs_open = p.drs_open.map(|d| !d),
            Some(PbPayload::System(p)) => {
                p.message = Some(format!("{} (garbled)", p.message.clone().unwrap_or_default()))
            }
            None => {}
        }
        e
    }

    /// An invalid record derived from `event`.
    fn corrupt(&mut self, event: &pb::TelemetryEvent) -> SimRecord {
        let mut e = event.clone();
        match self.rng.random_range(0..5) {
            0 => {
                // Undecodable: wire type 7 does not exist, so this is never protobuf,
                // and it is not JSON either.
                let mut bytes = vec![0x0f, b'{'];
                bytes.extend((0..self.rng.random_range(4..40)).map(|_| self.rng.random_range(b' '..=b'~')));
                return SimRecord::Garbage(bytes);
            }
            1 => e.lap = None,
            2 => e.car_number = Some(self.rng.random_range(100..1000)),
            3 => {
                // An invalid correction: it must leave the valid revision in force.
                e.revision = Some(7);
                match &mut e.payload {
                    Some(PbPayload::Position(p)) => p.speed_kph = Some(455.5),
                    Some(PbPayload::Dynamics(p)) => p.gear = Some(9),
                    Some(PbPayload::PowerUnit(p)) => p.rpm = Some(25_000.0),
                    Some(PbPayload::Tire(p)) => p.pressure_psi = Some(55.0),
                    Some(PbPayload::Aerodynamics(p)) => p.front_wing_deg = Some(-3.0),
                    Some(PbPayload::System(p)) => p.flag = 99,
                    None => {}
                }
            }
            _ => {
                e.timestamp_ms = Some(-1);
                e.payload = None;
            }
        }
        SimRecord::Event(e)
    }
}

impl Iterator for Simulator {
    type Item = Delivery;

    fn next(&mut self) -> Option<Delivery> {
        loop {
            if let Some(Reverse(top)) = self.heap.peek() {
                // Everything produced so far has an event time < now, and every
                // arrival is at or after its event time: anything due by now
                // can go.
                if self.finished || top.arrival_ms < self.now_ms() {
                    let Reverse(p) = self.heap.pop().expect("peeked");
                    return Some(Delivery {
                        arrival_ms: p.arrival_ms,
                        record: p.record,
                    });
                }
            }
            if self.finished {
                return None;
            }
            self.advance();
        }
    }
}

/// Silver rows of every event a small race simulates (all six payloads,
/// valid by construction), two in three with their car's entry: what tests
/// of the silver writers write.
#[cfg(test)]
pub(crate) fn simulated_silver_rows() -> Vec<racecast_dataflow::silver::SilverRow> {
    use racecast_dataflow::{Entry, Limits, decode_entry, decode_event};
    let config = SimConfig {
        cars: 3,
        laps: 1,
        ..SimConfig::default()
    };
    let entries: Vec<Entry> = entry_list(&config)
        .iter()
        .map(|e| {
            decode_entry(
                &prost::Message::encode_to_vec(e),
                racecast_dataflow::Format::Protobuf,
                &Limits::default(),
            )
            .expect("a valid entry")
        })
        .collect();
    let mut rows = Vec::new();
    for (i, d) in Simulator::new(config).enumerate() {
        let SimRecord::Event(e) = d.record else { continue };
        let event = decode_event(
            &prost::Message::encode_to_vec(&e),
            racecast_dataflow::Format::Protobuf,
            &Limits::default(),
        )
        .expect("a valid event");
        let entry = (i % 3 != 0)
            .then(|| entries.iter().find(|x| x.car_number == event.car_number).cloned())
            .flatten();
        rows.push(racecast_dataflow::silver::SilverRow { event, entry });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use racecast_dataflow::{Format, Limits};

    fn small(seed: u64) -> SimConfig {
        SimConfig {
            cars: 3,
            laps: 2,
            seed,
            ..SimConfig::default()
        }
    }

    #[test]
    fn same_seed_same_records() {
        let a: Vec<Delivery> = Simulator::new(small(7)).take(5_000).collect();
        let b: Vec<Delivery> = Simulator::new(small(7)).take(5_000).collect();
        let c: Vec<Delivery> = Simulator::new(small(8)).take(5_000).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn clean_race_is_all_valid_in_order_with_every_type() {
        let mut counts = [0u64; 6];
        let mut last_arrival = i64::MIN;
        let mut laps = 0;
        for d in Simulator::new(small(3)) {
            assert!(d.arrival_ms >= last_arrival, "arrival order");
            last_arrival = d.arrival_ms;
            let SimRecord::Event(e) = d.record else {
                panic!("garbage in a clean race")
            };
            let mut bytes = Vec::new();
            prost::Message::encode(&e, &mut bytes).expect("encode");
            let event = racecast_dataflow::decode_event(&bytes, Format::Protobuf, &Limits::default())
                .unwrap_or_else(|r| panic!("invalid {r}: {e:?}"));
            counts[event.event_type() as usize] += 1;
            laps = laps.max(event.lap);
        }
        assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
        assert_eq!(laps, 2);
        // Nominal rates: power unit 50 Hz vs position 10 Hz.
        let ratio = counts[2] as f64 / counts[0] as f64;
        assert!((4.5..5.5).contains(&ratio), "{ratio}");
    }

    #[test]
    fn speed_profile_is_plausible() {
        let speeds: Vec<f64> = (0..1000).map(|i| speed_profile(f64::from(i) / 1000.0)).collect();
        let max = speeds.iter().cloned().fold(0.0, f64::max);
        let min = speeds.iter().cloned().fold(1000.0, f64::min);
        assert!(max > 320.0 && max <= 345.0, "{max}");
        assert!((80.0..100.0).contains(&min), "{min}");
    }
}
