//! Bytes to valid records: the decoder and validator shared by every source
//! (files, Kafka, the simulator) and by `racecast validate`.
//!
//! ```text
//! bytes ──strip Confluent header──▶ JSON / protobuf ──▶ wire record ──validate──▶ Event
//!                                                   └──── every broken rule ────▶ Reasons
//! ```
//!
//! No input makes these functions panic: a record is either valid or comes
//! back with its reasons (fuzzed by `fuzz/fuzz_targets/decode.rs`).

pub mod json;
pub mod validate;
pub mod wire;

use prost::Message;
use racecast_proto::v1::{self as pb, telemetry_event::Payload as PbPayload};

use crate::entry::Entry;
use crate::event::{Corner, Event, Flag, Payload, Severity};
use crate::reason::{Reason, ReasonKind, Reasons};

pub use validate::{validate_entry, validate_event};

/// How a record's value is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Format {
    /// One JSON object.
    Json,
    /// One protobuf message.
    Protobuf,
}

/// Limits a decoder enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Records larger than this are `oversized`.
    pub max_bytes: usize,
    /// When set, a Confluent-framed record with another schema id is rejected
    /// (`wire:schema_id`).
    pub schema_id: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 1 << 20,
            schema_id: None,
        }
    }
}

fn single(kind: ReasonKind, field: &str) -> Reasons {
    Reasons(vec![Reason::new(kind, field)])
}

fn unframe<'a>(bytes: &'a [u8], format: Format, limits: &Limits) -> Result<&'a [u8], Reasons> {
    if bytes.len() > limits.max_bytes {
        return Err(single(ReasonKind::Oversized, ""));
    }
    let (framing, body) = wire::strip(bytes, format == Format::Protobuf)?;
    match (framing.schema_id, limits.schema_id) {
        (Some(found), Some(expected)) if found != expected => Err(single(ReasonKind::Wire, "schema_id")),
        _ => Ok(body),
    }
}

/// Encodes a wire event in `format` into `out` (which is cleared first):
/// what a producer (the simulator, `racecast simulate`, a file writer)
/// sends.
pub fn encode_event(event: &pb::TelemetryEvent, format: Format, out: &mut Vec<u8>) {
    out.clear();
    match format {
        Format::Json => json::encode_event(event, out),
        Format::Protobuf => event.encode(out).expect("a Vec grows as needed"),
    }
}

/// Encodes a wire entry-list record in `format` into `out` (which is
/// cleared first).
pub fn encode_entry(entry: &pb::EntryListRecord, format: Format, out: &mut Vec<u8>) {
    out.clear();
    match format {
        Format::Json => json::encode_entry(entry, out),
        Format::Protobuf => entry.encode(out).expect("a Vec grows as needed"),
    }
}

/// Decodes and validates one event.
pub fn decode_event(bytes: &[u8], format: Format, limits: &Limits) -> Result<Event, Reasons> {
    let body = unframe(bytes, format, limits)?;
    let (wire, reasons) = match format {
        Format::Json => json::decode_event(body)?,
        Format::Protobuf => (
            pb::TelemetryEvent::decode(body).map_err(|_| single(ReasonKind::Decode, ""))?,
            Reasons::default(),
        ),
    };
    validate_event(&wire, reasons)
}

/// Decodes and validates one entry-list record.
pub fn decode_entry(bytes: &[u8], format: Format, limits: &Limits) -> Result<Entry, Reasons> {
    let body = unframe(bytes, format, limits)?;
    let (wire, reasons) = match format {
        Format::Json => json::decode_entry(body)?,
        Format::Protobuf => (
            pb::EntryListRecord::decode(body).map_err(|_| single(ReasonKind::Decode, ""))?,
            Reasons::default(),
        ),
    };
    validate_entry(&wire, reasons)
}

fn wire_enum<T: PartialEq + Copy>(all: &[T], value: T) -> i32 {
    let index = all.iter().position(|&v| v == value).expect("value is one of ALL");
    i32::try_from(index + 1).expect("enums are small")
}

/// The wire form of a valid event (the inverse of [`validate_event`]).
pub fn event_to_wire(event: &Event) -> pb::TelemetryEvent {
    let payload = match &event.payload {
        Payload::Position {
            x_m,
            y_m,
            z_m,
            speed_kph,
            heading_deg,
            sector,
        } => PbPayload::Position(pb::Position {
            x_m: Some(x_m.0),
            y_m: Some(y_m.0),
            z_m: Some(z_m.0),
            speed_kph: Some(speed_kph.0),
            heading_deg: Some(heading_deg.0),
            sector: Some(u32::from(*sector)),
        }),
        Payload::Dynamics {
            throttle_pct,
            brake_pct,
            gear,
            g_lat,
            g_long,
        } => PbPayload::Dynamics(pb::Dynamics {
            throttle_pct: Some(throttle_pct.0),
            brake_pct: Some(brake_pct.0),
            gear: Some(i32::from(*gear)),
            g_lat: Some(g_lat.0),
            g_long: Some(g_long.0),
        }),
        Payload::PowerUnit {
            rpm,
            ers_store_pct,
            water_temp_c,
            oil_temp_c,
        } => PbPayload::PowerUnit(pb::PowerUnit {
            rpm: Some(rpm.0),
            ers_store_pct: Some(ers_store_pct.0),
            water_temp_c: Some(water_temp_c.0),
            oil_temp_c: Some(oil_temp_c.0),
        }),
        Payload::Tire {
            corner,
            pressure_psi,
            surface_temp_c,
            wear_pct,
        } => PbPayload::Tire(pb::Tire {
            corner: wire_enum(Corner::ALL, *corner),
            pressure_psi: Some(pressure_psi.0),
            surface_temp_c: Some(surface_temp_c.0),
            wear_pct: Some(wear_pct.0),
        }),
        Payload::Aerodynamics {
            drs_open,
            front_wing_deg,
            rear_wing_deg,
            brake_balance_pct,
        } => PbPayload::Aerodynamics(pb::Aerodynamics {
            drs_open: Some(*drs_open),
            front_wing_deg: Some(front_wing_deg.0),
            rear_wing_deg: Some(rear_wing_deg.0),
            brake_balance_pct: Some(brake_balance_pct.0),
        }),
        Payload::System(s) => PbPayload::System(pb::System {
            severity: wire_enum(Severity::ALL, s.severity),
            flag: wire_enum(Flag::ALL, s.flag),
            code: Some(s.code.to_string()),
            message: Some(s.message.to_string()),
        }),
    };
    pb::TelemetryEvent {
        event_id: Some(event.event_id().to_string()),
        revision: Some(event.revision),
        session_id: Some(event.session_id.to_string()),
        session_date: Some(event.session_date.to_string()),
        car_number: Some(u32::from(event.car_number)),
        event_type: json::wire_event_type(event.event_type()) as i32,
        lap: Some(u32::from(event.lap)),
        timestamp_ms: Some(event.timestamp_ms),
        sequence: Some(event.sequence),
        payload: Some(payload),
    }
}

/// The wire form of a valid entry-list record.
pub fn entry_to_wire(entry: &Entry) -> pb::EntryListRecord {
    pb::EntryListRecord {
        session_id: Some(entry.session_id.to_string()),
        car_number: Some(u32::from(entry.car_number)),
        driver_code: Some(entry.driver_code.to_string()),
        team: Some(entry.team.to_string()),
        track: Some(entry.track.to_string()),
        session_type: wire_enum(crate::entry::SessionType::ALL, entry.session_type),
        revision: Some(entry.revision),
    }
}
