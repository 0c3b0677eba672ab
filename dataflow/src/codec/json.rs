//! The JSON form of events and entry-list records (SPEC §1,
//! `schemas/telemetry_event.json`), to and from the protobuf wire types.
//!
//! Decoding is lenient on purpose: a field of the wrong JSON type becomes a
//! reason (`type:lap`) instead of failing the whole record, so that the
//! validator can report every broken rule at once. Only bytes that are not a
//! JSON object at all give `decode`. Integers may be written as integral
//! numbers (`3.0`), as JSON Schema's `integer` allows.

use std::borrow::Cow;
use std::fmt;

use racecast_proto::v1::{self as pb, telemetry_event::Payload as PbPayload};
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};

use crate::event::{Corner, EventType, Flag, Severity};
use crate::reason::{ReasonKind, Reasons};

/// One JSON value as the decoder sees it: scalars kept, containers skipped.
enum Scalar<'a> {
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Compound,
}

impl<'de> de::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Unsigned(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Signed(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Compound)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Compound)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A map key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Scalar::deserialize(deserializer)? {
            Scalar::Str(s) => Ok(Key(s)),
            _ => Err(de::Error::custom("object keys are strings")),
        }
    }
}

/// Converts scalars to typed fields, recording a reason on mismatch.
struct Fields<'r> {
    reasons: &'r mut Reasons,
}

impl Fields<'_> {
    fn string(&mut self, field: &str, value: Scalar<'_>) -> Option<String> {
        match value {
            Scalar::Str(s) => Some(s.into_owned()),
            Scalar::Null => None,
            _ => self.wrong(ReasonKind::Type, field),
        }
    }

    fn integer(&mut self, field: &str, value: Scalar<'_>) -> Option<i128> {
        match value {
            Scalar::Unsigned(v) => Some(i128::from(v)),
            Scalar::Signed(v) => Some(i128::from(v)),
            Scalar::Float(v) if v.fract() == 0.0 && v.abs() < 1e30 => Some(v as i128),
            Scalar::Float(v) if v.is_finite() && v.fract() == 0.0 => self.wrong(ReasonKind::Range, field),
            Scalar::Null => None,
            _ => self.wrong(ReasonKind::Type, field),
        }
    }

    fn bounded<T: TryFrom<i128>>(&mut self, field: &str, value: Scalar<'_>) -> Option<T> {
        let wide = self.integer(field, value)?;
        T::try_from(wide)
            .ok()
            .or_else(|| self.wrong(ReasonKind::Range, field))
    }

    fn number(&mut self, field: &str, value: Scalar<'_>) -> Option<f64> {
        match value {
            Scalar::Unsigned(v) => Some(v as f64),
            Scalar::Signed(v) => Some(v as f64),
            Scalar::Float(v) => Some(v),
            Scalar::Null => None,
            _ => self.wrong(ReasonKind::Type, field),
        }
    }

    fn boolean(&mut self, field: &str, value: Scalar<'_>) -> Option<bool> {
        match value {
            Scalar::Bool(v) => Some(v),
            Scalar::Null => None,
            _ => self.wrong(ReasonKind::Type, field),
        }
    }

    /// An enum given by name; `0` (unspecified) when absent or unknown.
    fn named(&mut self, field: &str, value: Scalar<'_>, parse: impl Fn(&str) -> Option<i32>) -> i32 {
        match value {
            Scalar::Str(s) => parse(&s).unwrap_or_else(|| {
                self.reasons.push(ReasonKind::Enum, field);
                0
            }),
            Scalar::Null => 0,
            _ => {
                self.reasons.push(ReasonKind::Type, field);
                0
            }
        }
    }

    fn wrong<T>(&mut self, kind: ReasonKind, field: &str) -> Option<T> {
        self.reasons.push(kind, field);
        None
    }
}

fn event_type_code(text: &str) -> Option<i32> {
    EventType::parse(text).map(|t| wire_event_type(t) as i32)
}

/// The wire enum of a domain event type.
pub fn wire_event_type(t: EventType) -> pb::EventType {
    match t {
        EventType::Position => pb::EventType::Position,
        EventType::Dynamics => pb::EventType::Dynamics,
        EventType::PowerUnit => pb::EventType::PowerUnit,
        EventType::Tire => pb::EventType::Tire,
        EventType::Aerodynamics => pb::EventType::Aerodynamics,
        EventType::System => pb::EventType::System,
    }
}

/// Wire enum value (1-based, 0 = unspecified) of a named-enum value.
fn position_of<T: PartialEq + Copy>(all: &[T], value: T) -> i32 {
    let index = all.iter().position(|&v| v == value).expect("value is one of ALL");
    i32::try_from(index + 1).expect("enums are small")
}

fn corner_code(text: &str) -> Option<i32> {
    Corner::parse(text).map(|c| position_of(Corner::ALL, c))
}
fn severity_code(text: &str) -> Option<i32> {
    Severity::parse(text).map(|c| position_of(Severity::ALL, c))
}
fn flag_code(text: &str) -> Option<i32> {
    Flag::parse(text).map(|c| position_of(Flag::ALL, c))
}

/// The name of a wire enum value, if it is a known, specified one.
fn name_of<T: Copy>(all: &[T], code: i32, as_str: impl Fn(T) -> &'static str) -> Option<&'static str> {
    let index = usize::try_from(code).ok()?.checked_sub(1)?;
    all.get(index).map(|&v| as_str(v))
}

/// Decodes a JSON event into its wire form plus the type errors met on the way.
/// Only bytes that are not a JSON object are an error (`decode`).
pub fn decode_event(bytes: &[u8]) -> Result<(pb::TelemetryEvent, Reasons), Reasons> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let loose =
        de::Deserializer::deserialize_map(&mut de, EventVisitor).and_then(|loose| de.end().map(|()| loose));
    loose.map_err(|_| decode_error())
}

fn decode_error() -> Reasons {
    Reasons(vec![crate::reason::Reason::whole(ReasonKind::Decode)])
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = (pb::TelemetryEvent, Reasons);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a telemetry event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut event = pb::TelemetryEvent::default();
        let mut reasons = Reasons::default();
        let mut payload: Option<Vec<(Key<'de>, Scalar<'de>)>> = None;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if key.0 == "payload" {
                payload = map.next_value::<LoosePayload<'de>>()?.0.or_else(|| {
                    reasons.push(ReasonKind::Type, "payload");
                    None
                });
                continue;
            }
            let value: Scalar<'de> = map.next_value()?;
            let mut f = Fields {
                reasons: &mut reasons,
            };
            match &*key.0 {
                "event_id" => event.event_id = f.string("event_id", value),
                "revision" => event.revision = f.bounded("revision", value),
                "session_id" => event.session_id = f.string("session_id", value),
                "session_date" => event.session_date = f.string("session_date", value),
                "car_number" => event.car_number = f.bounded("car_number", value),
                "event_type" => event.event_type = f.named("event_type", value, event_type_code),
                "lap" => event.lap = f.bounded("lap", value),
                "timestamp_ms" => event.timestamp_ms = f.bounded("timestamp_ms", value),
                "sequence" => event.sequence = f.bounded("sequence", value),
                other => reasons.push(ReasonKind::Unknown, other),
            }
        }
        if let Some(fields) = payload {
            event.payload = build_payload(event.event_type, fields, &mut reasons);
        }
        Ok((event, reasons))
    }
}

/// The payload object's entries, or `None` when the payload is not an object.
struct LoosePayload<'a>(Option<Vec<(Key<'a>, Scalar<'a>)>>);

impl<'de> de::Deserialize<'de> for LoosePayload<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LoosePayload<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a payload")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LoosePayload<'de>, A::Error> {
                let mut fields = Vec::with_capacity(6);
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    fields.push((key, map.next_value::<Scalar<'de>>()?));
                }
                Ok(LoosePayload(Some(fields)))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<LoosePayload<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LoosePayload(None))
            }
            fn visit_unit<E>(self) -> Result<LoosePayload<'de>, E> {
                Ok(LoosePayload(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<LoosePayload<'de>, E> {
                Ok(LoosePayload(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<LoosePayload<'de>, E> {
                Ok(LoosePayload(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<LoosePayload<'de>, E> {
                Ok(LoosePayload(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<LoosePayload<'de>, E> {
                Ok(LoosePayload(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<LoosePayload<'de>, E> {
                Ok(LoosePayload(None))
            }
        }
        deserializer.deserialize_any(V)
    }
}

fn build_payload(
    event_type: i32,
    fields: Vec<(Key<'_>, Scalar<'_>)>,
    reasons: &mut Reasons,
) -> Option<PbPayload> {
    let Ok(event_type) = pb::EventType::try_from(event_type) else {
        return None;
    };
    let mut unknown = Vec::new();
    let mut f = Fields { reasons };
    let payload = match event_type {
        pb::EventType::Unspecified => return None,
        pb::EventType::Position => {
            let mut p = pb::Position::default();
            for (key, value) in fields {
                match &*key.0 {
                    "x_m" => p.x_m = f.number("x_m", value),
                    "y_m" => p.y_m = f.number("y_m", value),
                    "z_m" => p.z_m = f.number("z_m", value),
                    "speed_kph" => p.speed_kph = f.number("speed_kph", value),
                    "heading_deg" => p.heading_deg = f.number("heading_deg", value),
                    "sector" => p.sector = f.bounded("sector", value),
                    _ => unknown.push(key.0),
                }
            }
            PbPayload::Position(p)
        }
        pb::EventType::Dynamics => {
            let mut p = pb::Dynamics::default();
            for (key, value) in fields {
                match &*key.0 {
                    "throttle_pct" => p.throttle_pct = f.number("throttle_pct", value),
                    "brake_pct" => p.brake_pct = f.number("brake_pct", value),
                    "gear" => p.gear = f.bounded("gear", value),
                    "g_lat" => p.g_lat = f.number("g_lat", value),
                    "g_long" => p.g_long = f.number("g_long", value),
                    _ => unknown.push(key.0),
                }
            }
            PbPayload::Dynamics(p)
        }
        pb::EventType::PowerUnit => {
            let mut p = pb::PowerUnit::default();
            for (key, value) in fields {
                match &*key.0 {
                    "rpm" => p.rpm = f.number("rpm", value),
                    "ers_store_pct" => p.ers_store_pct = f.number("ers_store_pct", value),
                    "water_temp_c" => p.water_temp_c = f.number("water_temp_c", value),
                    "oil_temp_c" => p.oil_temp_c = f.number("oil_temp_c", value),
                    _ => unknown.push(key.0),
                }
            }
            PbPayload::PowerUnit(p)
        }
        pb::EventType::Tire => {
            let mut p = pb::Tire::default();
            for (key, value) in fields {
                match &*key.0 {
                    "corner" => p.corner = f.named("corner", value, corner_code),
                    "pressure_psi" => p.pressure_psi = f.number("pressure_psi", value),
                    "surface_temp_c" => p.surface_temp_c = f.number("surface_temp_c", value),
                    "wear_pct" => p.wear_pct = f.number("wear_pct", value),
                    _ => unknown.push(key.0),
                }
            }
            PbPayload::Tire(p)
        }
        pb::EventType::Aerodynamics => {
            let mut p = pb::Aerodynamics::default();
            for (key, value) in fields {
                match &*key.0 {
                    "drs_open" => p.drs_open = f.boolean("drs_open", value),
                    "front_wing_deg" => p.front_wing_deg = f.number("front_wing_deg", value),
                    "rear_wing_deg" => p.rear_wing_deg = f.number("rear_wing_deg", value),
                    "brake_balance_pct" => p.brake_balance_pct = f.number("brake_balance_pct", value),
                    _ => unknown.push(key.0),
                }
            }
            PbPayload::Aerodynamics(p)
        }
        pb::EventType::System => {
            let mut p = pb::System::default();
            for (key, value) in fields {
                match &*key.0 {
                    "severity" => p.severity = f.named("severity", value, severity_code),
                    "flag" => p.flag = f.named("flag", value, flag_code),
                    "code" => p.code = f.string("code", value),
                    "message" => p.message = f.string("message", value),
                    _ => unknown.push(key.0),
                }
            }
            PbPayload::System(p)
        }
    };
    for key in unknown {
        f.reasons.push(ReasonKind::Unknown, &key);
    }
    Some(payload)
}

/// Encodes a wire event as one line of JSON (no trailing newline). Absent
/// fields are left out; an unknown enum value is written as its number.
pub fn encode_event(event: &pb::TelemetryEvent, out: &mut Vec<u8>) {
    let mut ser = serde_json::Serializer::new(out);
    write_event(event, &mut ser).expect("writing JSON to a Vec cannot fail");
}

fn write_event<S: Serializer>(e: &pb::TelemetryEvent, ser: S) -> Result<S::Ok, S::Error> {
    let mut map = ser.serialize_map(None)?;
    opt(&mut map, "event_id", &e.event_id)?;
    opt(&mut map, "revision", &e.revision)?;
    opt(&mut map, "session_id", &e.session_id)?;
    opt(&mut map, "session_date", &e.session_date)?;
    opt(&mut map, "car_number", &e.car_number)?;
    enum_field(&mut map, "event_type", e.event_type, |c| {
        name_of(&EventType::ALL, c, EventType::as_str)
    })?;
    opt(&mut map, "lap", &e.lap)?;
    opt(&mut map, "timestamp_ms", &e.timestamp_ms)?;
    opt(&mut map, "sequence", &e.sequence)?;
    if let Some(payload) = &e.payload {
        map.serialize_entry("payload", &PayloadJson(payload))?;
    }
    map.end()
}

struct PayloadJson<'a>(&'a PbPayload);

impl serde::Serialize for PayloadJson<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut m = ser.serialize_map(None)?;
        match self.0 {
            PbPayload::Position(p) => {
                opt(&mut m, "x_m", &p.x_m)?;
                opt(&mut m, "y_m", &p.y_m)?;
                opt(&mut m, "z_m", &p.z_m)?;
                opt(&mut m, "speed_kph", &p.speed_kph)?;
                opt(&mut m, "heading_deg", &p.heading_deg)?;
                opt(&mut m, "sector", &p.sector)?;
            }
            PbPayload::Dynamics(p) => {
                opt(&mut m, "throttle_pct", &p.throttle_pct)?;
                opt(&mut m, "brake_pct", &p.brake_pct)?;
                opt(&mut m, "gear", &p.gear)?;
                opt(&mut m, "g_lat", &p.g_lat)?;
                opt(&mut m, "g_long", &p.g_long)?;
            }
            PbPayload::PowerUnit(p) => {
                opt(&mut m, "rpm", &p.rpm)?;
                opt(&mut m, "ers_store_pct", &p.ers_store_pct)?;
                opt(&mut m, "water_temp_c", &p.water_temp_c)?;
                opt(&mut m, "oil_temp_c", &p.oil_temp_c)?;
            }
            PbPayload::Tire(p) => {
                enum_field(&mut m, "corner", p.corner, |c| {
                    name_of(Corner::ALL, c, Corner::as_str)
                })?;
                opt(&mut m, "pressure_psi", &p.pressure_psi)?;
                opt(&mut m, "surface_temp_c", &p.surface_temp_c)?;
                opt(&mut m, "wear_pct", &p.wear_pct)?;
            }
            PbPayload::Aerodynamics(p) => {
                opt(&mut m, "drs_open", &p.drs_open)?;
                opt(&mut m, "front_wing_deg", &p.front_wing_deg)?;
                opt(&mut m, "rear_wing_deg", &p.rear_wing_deg)?;
                opt(&mut m, "brake_balance_pct", &p.brake_balance_pct)?;
            }
            PbPayload::System(p) => {
                enum_field(&mut m, "severity", p.severity, |c| {
                    name_of(Severity::ALL, c, Severity::as_str)
                })?;
                enum_field(&mut m, "flag", p.flag, |c| name_of(Flag::ALL, c, Flag::as_str))?;
                opt(&mut m, "code", &p.code)?;
                opt(&mut m, "message", &p.message)?;
            }
        }
        m.end()
    }
}

fn opt<M: SerializeMap, T: serde::Serialize>(
    map: &mut M,
    key: &str,
    value: &Option<T>,
) -> Result<(), M::Error> {
    match value {
        // Non-finite numbers have no JSON form; leave them out like absent ones.
        Some(v) => map.serialize_entry(key, v),
        None => Ok(()),
    }
}

fn enum_field<M: SerializeMap>(
    map: &mut M,
    key: &str,
    code: i32,
    name: impl Fn(i32) -> Option<&'static str>,
) -> Result<(), M::Error> {
    match (code, name(code)) {
        (0, _) => Ok(()),
        (_, Some(name)) => map.serialize_entry(key, name),
        (_, None) => map.serialize_entry(key, &code),
    }
}

fn session_type_code(text: &str) -> Option<i32> {
    crate::entry::SessionType::parse(text).map(|t| position_of(crate::entry::SessionType::ALL, t))
}

/// Decodes a JSON entry-list record into its wire form plus type errors.
pub fn decode_entry(bytes: &[u8]) -> Result<(pb::EntryListRecord, Reasons), Reasons> {
    let fields: Vec<(Key<'_>, Scalar<'_>)> = serde_json::from_slice::<LoosePayload<'_>>(bytes)
        .ok()
        .and_then(|p| p.0)
        .ok_or_else(decode_error)?;
    let mut record = pb::EntryListRecord::default();
    let mut reasons = Reasons::default();
    let mut f = Fields {
        reasons: &mut reasons,
    };
    let mut unknown = Vec::new();
    for (key, value) in fields {
        match &*key.0 {
            "session_id" => record.session_id = f.string("session_id", value),
            "car_number" => record.car_number = f.bounded("car_number", value),
            "driver_code" => record.driver_code = f.string("driver_code", value),
            "team" => record.team = f.string("team", value),
            "track" => record.track = f.string("track", value),
            "session_type" => record.session_type = f.named("session_type", value, session_type_code),
            "revision" => record.revision = f.bounded("revision", value),
            _ => unknown.push(key.0),
        }
    }
    for key in unknown {
        reasons.push(ReasonKind::Unknown, &key);
    }
    Ok((record, reasons))
}

/// Encodes a wire entry-list record as one line of JSON.
pub fn encode_entry(record: &pb::EntryListRecord, out: &mut Vec<u8>) {
    let mut ser = serde_json::Serializer::new(out);
    let write = |ser: &mut serde_json::Serializer<&mut Vec<u8>>| -> serde_json::Result<()> {
        let mut map = ser.serialize_map(None)?;
        opt(&mut map, "session_id", &record.session_id)?;
        opt(&mut map, "car_number", &record.car_number)?;
        opt(&mut map, "driver_code", &record.driver_code)?;
        opt(&mut map, "team", &record.team)?;
        opt(&mut map, "track", &record.track)?;
        enum_field(&mut map, "session_type", record.session_type, |c| {
            name_of(
                crate::entry::SessionType::ALL,
                c,
                crate::entry::SessionType::as_str,
            )
        })?;
        opt(&mut map, "revision", &record.revision)?;
        map.end()
    };
    write(&mut ser).expect("writing JSON to a Vec cannot fail");
}
