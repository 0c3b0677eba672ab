//! The race: per-car pace, tire wear and temperatures, one or two pit stops
//! per car, a safety-car period, yellow flags and a chequered flag. Every
//! car emits all six event types at their nominal rates (power unit 50 Hz,
//! dynamics 20 Hz, position and aerodynamics 10 Hz, tire 5 Hz per corner,
//! system on change) with per-(car, type) increasing sequences, from a
//! 50 Hz simulation step. [`Simulator`] is an iterator of
//! [`crate::Delivery`] in arrival order; it knows nothing about
//! where records go.
//!
//! The flag falls when the leader completes the race distance
//! ([`SimConfig::laps`]); every other car takes it the next time it crosses
//! the line, so a lapped car finishes a lap or more down, as in Formula 1.
//! A car that has taken the flag does not vanish at the line: like real
//! telemetry, it drives one more lap, the cool-down lap (its lap number one
//! past its last racing lap, at [`COOL_DOWN_PACE`] of its racing speed,
//! pit-lane speed over the last few percent), and stops emitting when it
//! completes that lap into parc fermé. The cool-down lap's first position
//! event is what completes the car's last racing lap (SPEC §3:
//! `lap_time_ms` needs the next lap's `lap_start_ms`); the cool-down lap
//! itself has no next lap, so it never counts in `laps_completed`. Hence
//! the race's last lap number is `laps + 1`, and `laps` stops at 199.

use racecast_proto::v1::{self as pb, telemetry_event::Payload as PbPayload};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::SimConfig;
use crate::delivery::{ArrivalQueue, Delivery, deliver};
use crate::entries::driver;
use crate::track::{TRACK_LENGTH_M, geometry, in_drs_zone, round, sector_of, speed_profile};

const STEP_MS: i64 = 20;
/// Speed on the cool-down lap, as a share of the car's racing speed (a lap
/// about 1.4 times as long).
pub const COOL_DOWN_PACE: f64 = 0.75;
/// Pit-lane speed limit, kph: a car about to pit, and a car at the end of
/// its cool-down lap.
const PIT_LANE_KPH: f64 = 80.0;

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
    /// Has taken the chequered flag: on the cool-down lap.
    cooling_down: bool,
    /// Has completed the cool-down lap: parked, emits nothing more.
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
    queue: ArrivalQueue,
    finished: bool,
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
                    cooling_down: false,
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
            queue: ArrivalQueue::default(),
            finished: false,
        }
    }

    /// The config the race runs with.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// How far the race is, 0..=1 (laps done by the leader; 1 from the
    /// flag on, while the cars drive their cool-down laps).
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

    /// The car's speed factor against the track's speed profile: its
    /// racing pace, or its cool-down pace once it has taken the flag.
    fn pace(&self, i: usize) -> f64 {
        let car = &self.cars[i];
        if car.cooling_down {
            car.pace * COOL_DOWN_PACE
        } else {
            car.pace
        }
    }

    fn move_car(&mut self, i: usize, dt: f64, now: i64) {
        let flag = self.flag;
        let pace = self.pace(i);
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
        let mut target = speed_profile(fraction) * pace * (1.0 - car.wear * 0.0006);
        match flag {
            RaceFlag::SafetyCar => target = target.min(170.0),
            RaceFlag::Yellow if sector_of(fraction) == 2 => target *= 0.92,
            _ => {}
        }
        if pitting && !(0.05..0.97).contains(&fraction) {
            target = target.min(PIT_LANE_KPH);
        }
        if car.cooling_down && fraction >= 0.97 {
            // Into the pit lane, towards parc fermé.
            target = target.min(PIT_LANE_KPH);
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
            if car.cooling_down {
                // The cool-down lap is done: parked in parc fermé.
                car.distance = TRACK_LENGTH_M;
                car.speed_kph = 0.0;
                car.finished = true;
                return;
            }
            car.distance -= TRACK_LENGTH_M;
            let completed = car.lap;
            self.leader_laps_done = self.leader_laps_done.max(completed);
            car.lap += 1;
            if self.leader_laps_done >= self.config.laps {
                // The leader has finished: this car takes the flag now,
                // on its cool-down lap (no pit stop, no DRS).
                car.cooling_down = true;
                car.pit_laps.clear();
                car.drs_this_lap = false;
            } else {
                car.drs_this_lap = car.lap > 2 && self.rng.random_bool(0.7);
            }
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
        let pace = self.pace(i);
        let car = &self.cars[i];
        let fraction = (car.distance / TRACK_LENGTH_M).clamp(0.0, 1.0 - 1e-9);
        let speed = car.speed_kph;
        let target_ahead = speed_profile((fraction + 0.004) % 1.0) * pace;
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
        deliver(&mut self.queue, &mut self.rng, &self.config, e);
        // Dynamics, 20 Hz (every other step... 25 Hz would be every 2; use
        // steps 0, 2 of every 5: 2 per 100 ms = 20 Hz).
        if phase % 5 == 0 || phase % 5 == 2 {
            let throttle = if braking {
                0.0
            } else if speed_profile((fraction + 0.002) % 1.0) * pace >= speed - 1.0 {
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
            deliver(&mut self.queue, &mut self.rng, &self.config, e);
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
            deliver(&mut self.queue, &mut self.rng, &self.config, e);
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
            deliver(&mut self.queue, &mut self.rng, &self.config, e);
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
                deliver(&mut self.queue, &mut self.rng, &self.config, e);
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
        deliver(&mut self.queue, &mut self.rng, &self.config, e);
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
        deliver(&mut self.queue, &mut self.rng, &self.config, e);
    }
}

impl Iterator for Simulator {
    type Item = Delivery;

    fn next(&mut self) -> Option<Delivery> {
        loop {
            // Everything produced so far has an event time < now, and every
            // arrival is at or after its event time: anything due by now can
            // go.
            if let Some(delivery) = self.queue.pop_due(self.now_ms(), self.finished) {
                return Some(delivery);
            }
            if self.finished {
                return None;
            }
            self.advance();
        }
    }
}

#[cfg(test)]
mod tests;
