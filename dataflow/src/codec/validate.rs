//! The validator: a wire record (from protobuf or JSON) becomes a valid
//! domain [`Event`] / [`Entry`], or the list of every rule it breaks (SPEC §1
//! ranges, §2 rules, reason codes in [`crate::reason`]).

use racecast_proto::v1::{self as pb, telemetry_event::Payload as PbPayload};

use crate::date::SessionDate;
use crate::entry::{Entry, SessionType};
use crate::event::{Corner, Event, EventType, Flag, Payload, Severity, StoredId, SystemPayload};
use crate::real::Real;
use crate::reason::{ReasonKind, Reasons};
use crate::symbol::Symbol;

/// Largest `event_id`, in characters.
pub const MAX_EVENT_ID_CHARS: usize = 128;
/// Largest `session_id`, in characters.
pub const MAX_SESSION_ID_CHARS: usize = 64;

struct Check {
    reasons: Reasons,
}

impl Check {
    fn present<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        if value.is_none() && !self.reasons.mentions(field) {
            self.reasons.push(ReasonKind::Missing, field);
        }
        value
    }

    fn text(&mut self, field: &str, value: Option<&str>, max_chars: usize) -> Option<String> {
        let value = self.present(field, value)?;
        let chars = value.chars().count();
        if chars == 0 || chars > max_chars {
            self.reasons.push(ReasonKind::Length, field);
            return None;
        }
        Some(value.to_owned())
    }

    fn int_range<T: PartialOrd + Copy>(&mut self, field: &str, value: Option<T>, lo: T, hi: T) -> Option<T> {
        let value = self.present(field, value)?;
        if value < lo || value > hi {
            self.reasons.push(ReasonKind::Range, field);
            return None;
        }
        Some(value)
    }

    /// A finite value in `lo..=hi` (or `lo..hi` when `hi_open`).
    fn real(&mut self, field: &str, value: Option<f64>, lo: f64, hi: f64, hi_open: bool) -> Option<Real> {
        let v = self.present(field, value)?;
        let above = if hi_open { v >= hi } else { v > hi };
        if !v.is_finite() || v < lo || above {
            self.reasons.push(ReasonKind::Range, field);
            return None;
        }
        Some(Real(v))
    }

    fn any_finite(&mut self, field: &str, value: Option<f64>) -> Option<Real> {
        self.real(field, value, f64::NEG_INFINITY, f64::INFINITY, false)
    }

    fn named<T: Copy>(&mut self, field: &str, code: i32, all: &[T]) -> Option<T> {
        if code == 0 {
            return self.present(field, None);
        }
        let found = usize::try_from(code - 1).ok().and_then(|i| all.get(i).copied());
        if found.is_none() && !self.reasons.mentions(field) {
            self.reasons.push(ReasonKind::Enum, field);
        }
        found
    }
}

/// Validates a wire event. `reasons` carries what an earlier stage (JSON
/// typing) already found; the result lists every broken rule.
pub fn validate_event(event: &pb::TelemetryEvent, reasons: Reasons) -> Result<Event, Reasons> {
    let mut c = Check { reasons };
    let event_id = c.text("event_id", event.event_id.as_deref(), MAX_EVENT_ID_CHARS);
    let revision = c.present("revision", event.revision);
    let session_id = c.text("session_id", event.session_id.as_deref(), MAX_SESSION_ID_CHARS);
    let session_date = c
        .present("session_date", event.session_date.as_deref())
        .and_then(|text| {
            let date = SessionDate::parse(text);
            if date.is_none() {
                c.reasons.push(ReasonKind::Format, "session_date");
            }
            date
        });
    let car_number = c.int_range("car_number", event.car_number, 1, 99);
    let event_type = c.named("event_type", event.event_type, &EventType::ALL);
    let lap = c.int_range("lap", event.lap, 1, 200);
    let timestamp_ms = c.int_range("timestamp_ms", event.timestamp_ms, 0, i64::MAX);
    let sequence = c.present("sequence", event.sequence);
    let payload = match (event_type, &event.payload) {
        (Some(t), Some(p)) => validate_payload(&mut c, t, p),
        (Some(_), None) => c.present("payload", None),
        // Without a known type, the payload cannot be checked.
        (None, _) => None,
    };
    match (
        event_id,
        revision,
        session_id,
        session_date,
        car_number,
        lap,
        timestamp_ms,
        sequence,
        payload,
    ) {
        (
            Some(id),
            Some(revision),
            Some(session),
            Some(date),
            Some(car),
            Some(lap),
            Some(ts),
            Some(seq),
            Some(payload),
        ) if c.reasons.is_empty() => {
            let session_id = Symbol::intern(&session);
            let car_number = u8::try_from(car).expect("checked 1..=99");
            Ok(Event {
                id: StoredId::of(&id, session_id, car_number, payload.event_type(), seq),
                revision,
                session_id,
                session_date: date,
                car_number,
                lap: u8::try_from(lap).expect("checked 1..=200"),
                timestamp_ms: ts,
                sequence: seq,
                payload,
            })
        }
        _ => Err(c.reasons),
    }
}

fn validate_payload(c: &mut Check, event_type: EventType, payload: &PbPayload) -> Option<Payload> {
    let all = |values: [Option<Real>; 4]| -> Option<[Real; 4]> {
        let [a, b, d, e] = values;
        Some([a?, b?, d?, e?])
    };
    match (event_type, payload) {
        (EventType::Position, PbPayload::Position(p)) => {
            let x_m = c.any_finite("x_m", p.x_m);
            let y_m = c.any_finite("y_m", p.y_m);
            let z_m = c.any_finite("z_m", p.z_m);
            let speed = c.real("speed_kph", p.speed_kph, 0.0, 400.0, false);
            let heading = c.real("heading_deg", p.heading_deg, 0.0, 360.0, true);
            let sector = c.int_range("sector", p.sector, 1, 3);
            let [x_m, y_m, z_m, speed_kph] = all([x_m, y_m, z_m, speed])?;
            Some(Payload::Position {
                x_m,
                y_m,
                z_m,
                speed_kph,
                heading_deg: heading?,
                sector: u8::try_from(sector?).expect("checked 1..=3"),
            })
        }
        (EventType::Dynamics, PbPayload::Dynamics(p)) => {
            let throttle = c.real("throttle_pct", p.throttle_pct, 0.0, 100.0, false);
            let brake = c.real("brake_pct", p.brake_pct, 0.0, 100.0, false);
            let gear = c.int_range("gear", p.gear, -1, 8);
            let g_lat = c.real("g_lat", p.g_lat, -10.0, 10.0, false);
            let g_long = c.real("g_long", p.g_long, -10.0, 10.0, false);
            let [throttle_pct, brake_pct, g_lat, g_long] = all([throttle, brake, g_lat, g_long])?;
            Some(Payload::Dynamics {
                throttle_pct,
                brake_pct,
                gear: i8::try_from(gear?).expect("checked -1..=8"),
                g_lat,
                g_long,
            })
        }
        (EventType::PowerUnit, PbPayload::PowerUnit(p)) => {
            let rpm = c.real("rpm", p.rpm, 0.0, 20_000.0, false);
            let ers = c.real("ers_store_pct", p.ers_store_pct, 0.0, 100.0, false);
            let water = c.real("water_temp_c", p.water_temp_c, -20.0, 200.0, false);
            let oil = c.real("oil_temp_c", p.oil_temp_c, -20.0, 200.0, false);
            let [rpm, ers_store_pct, water_temp_c, oil_temp_c] = all([rpm, ers, water, oil])?;
            Some(Payload::PowerUnit {
                rpm,
                ers_store_pct,
                water_temp_c,
                oil_temp_c,
            })
        }
        (EventType::Tire, PbPayload::Tire(p)) => {
            let corner = c.named("corner", p.corner, Corner::ALL);
            let pressure = c.real("pressure_psi", p.pressure_psi, 10.0, 40.0, false);
            let temp = c.real("surface_temp_c", p.surface_temp_c, -20.0, 200.0, false);
            let wear = c.real("wear_pct", p.wear_pct, 0.0, 100.0, false);
            let [pressure_psi, surface_temp_c, wear_pct, _] = all([pressure, temp, wear, Some(Real(0.0))])?;
            Some(Payload::Tire {
                corner: corner?,
                pressure_psi,
                surface_temp_c,
                wear_pct,
            })
        }
        (EventType::Aerodynamics, PbPayload::Aerodynamics(p)) => {
            let drs_open = c.present("drs_open", p.drs_open);
            let front = c.real("front_wing_deg", p.front_wing_deg, 0.0, 50.0, false);
            let rear = c.real("rear_wing_deg", p.rear_wing_deg, 0.0, 50.0, false);
            let balance = c.real("brake_balance_pct", p.brake_balance_pct, 0.0, 100.0, false);
            let [front_wing_deg, rear_wing_deg, brake_balance_pct, _] =
                all([front, rear, balance, Some(Real(0.0))])?;
            Some(Payload::Aerodynamics {
                drs_open: drs_open?,
                front_wing_deg,
                rear_wing_deg,
                brake_balance_pct,
            })
        }
        (EventType::System, PbPayload::System(p)) => {
            let severity = c.named("severity", p.severity, Severity::ALL);
            let flag = c.named("flag", p.flag, Flag::ALL);
            let code = c.present("code", p.code.as_deref());
            let message = c.present("message", p.message.as_deref());
            Some(Payload::System(Box::new(SystemPayload {
                severity: severity?,
                flag: flag?,
                code: code?.into(),
                message: message?.into(),
            })))
        }
        _ => {
            c.reasons.push(ReasonKind::Mismatch, "payload");
            None
        }
    }
}

/// Validates a wire entry-list record.
pub fn validate_entry(record: &pb::EntryListRecord, reasons: Reasons) -> Result<Entry, Reasons> {
    let mut c = Check { reasons };
    let session_id = c.text("session_id", record.session_id.as_deref(), MAX_SESSION_ID_CHARS);
    let car_number = c.int_range("car_number", record.car_number, 1, 99);
    let driver_code = c
        .present("driver_code", record.driver_code.as_deref())
        .and_then(|code| {
            let ok = code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase());
            if !ok {
                c.reasons.push(ReasonKind::Format, "driver_code");
            }
            ok.then_some(code)
        });
    let team = c.text("team", record.team.as_deref(), 64);
    let track = c.text("track", record.track.as_deref(), 64);
    let session_type = c.named("session_type", record.session_type, SessionType::ALL);
    let revision = c.present("revision", record.revision);
    match (
        session_id,
        car_number,
        driver_code,
        team,
        track,
        session_type,
        revision,
    ) {
        (
            Some(session),
            Some(car),
            Some(driver),
            Some(team),
            Some(track),
            Some(session_type),
            Some(revision),
        ) if c.reasons.is_empty() => Ok(Entry {
            session_id: Symbol::intern(&session),
            car_number: u8::try_from(car).expect("checked 1..=99"),
            revision,
            driver_code: Symbol::intern(driver),
            team: Symbol::intern(&team),
            track: Symbol::intern(&track),
            session_type,
        }),
        _ => Err(c.reasons),
    }
}
