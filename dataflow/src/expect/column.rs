//! The columns an expectation can check: the silver table's own columns of
//! an event (`silver.telemetry_enriched`, minus those joined from the entry
//! list after validation), resolved once from their names to an accessor,
//! so that checking a record never looks a name up.

use std::borrow::Cow;

use crate::event::{Event, EventType, Payload};

/// A value of one column of one event, as the silver table holds it (a
/// payload column of another event type is null).
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    /// Null.
    Null,
    /// Any number column (integer or double).
    Number(f64),
    /// A string column (`session_date` as `YYYY-MM-DD`).
    Text(Cow<'a, str>),
    /// `drs_open`.
    Bool(bool),
}

/// What a column holds, for checking an expectation's arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Integers or doubles.
    Number,
    /// Strings.
    Text,
    /// Booleans.
    Bool,
}

impl Kind {
    /// The kind's name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Number => "number",
            Kind::Text => "text",
            Kind::Bool => "boolean",
        }
    }
}

macro_rules! columns {
    ($($variant:ident = $name:literal, $kind:ident, $only:expr;)+) => {
        /// One checkable column.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Column { $(#[doc = $name] $variant),+ }

        impl Column {
            /// Every column, in the silver table's order.
            pub const ALL: &'static [Column] = &[$(Column::$variant),+];

            /// The column's name in the silver table.
            pub fn name(self) -> &'static str {
                match self { $(Column::$variant => $name),+ }
            }

            /// What it holds.
            pub fn kind(self) -> Kind {
                match self { $(Column::$variant => Kind::$kind),+ }
            }

            /// The only event type that sets it, for a payload column.
            pub fn only_on(self) -> Option<EventType> {
                match self { $(Column::$variant => $only),+ }
            }
        }
    };
}

columns! {
    EventId = "event_id", Text, None;
    Revision = "revision", Number, None;
    SessionId = "session_id", Text, None;
    SessionDate = "session_date", Text, None;
    CarNumber = "car_number", Number, None;
    EventTypeName = "event_type", Text, None;
    Lap = "lap", Number, None;
    TimestampMs = "timestamp_ms", Number, None;
    Sequence = "sequence", Number, None;
    XM = "x_m", Number, Some(EventType::Position);
    YM = "y_m", Number, Some(EventType::Position);
    ZM = "z_m", Number, Some(EventType::Position);
    SpeedKph = "speed_kph", Number, Some(EventType::Position);
    HeadingDeg = "heading_deg", Number, Some(EventType::Position);
    ThrottlePct = "throttle_pct", Number, Some(EventType::Dynamics);
    BrakePct = "brake_pct", Number, Some(EventType::Dynamics);
    GLat = "g_lat", Number, Some(EventType::Dynamics);
    GLong = "g_long", Number, Some(EventType::Dynamics);
    Rpm = "rpm", Number, Some(EventType::PowerUnit);
    ErsStorePct = "ers_store_pct", Number, Some(EventType::PowerUnit);
    WaterTempC = "water_temp_c", Number, Some(EventType::PowerUnit);
    OilTempC = "oil_temp_c", Number, Some(EventType::PowerUnit);
    PressurePsi = "pressure_psi", Number, Some(EventType::Tire);
    SurfaceTempC = "surface_temp_c", Number, Some(EventType::Tire);
    WearPct = "wear_pct", Number, Some(EventType::Tire);
    FrontWingDeg = "front_wing_deg", Number, Some(EventType::Aerodynamics);
    RearWingDeg = "rear_wing_deg", Number, Some(EventType::Aerodynamics);
    BrakeBalancePct = "brake_balance_pct", Number, Some(EventType::Aerodynamics);
    Sector = "sector", Number, Some(EventType::Position);
    Gear = "gear", Number, Some(EventType::Dynamics);
    Corner = "corner", Text, Some(EventType::Tire);
    DrsOpen = "drs_open", Bool, Some(EventType::Aerodynamics);
    Severity = "severity", Text, Some(EventType::System);
    Flag = "flag", Text, Some(EventType::System);
    Code = "code", Text, Some(EventType::System);
    Message = "message", Text, Some(EventType::System);
}

/// Silver's columns joined from the entry list after validation: an
/// expectation cannot check them.
pub const JOINED: [&str; 5] = ["driver_code", "team", "track", "session_type", "entry_revision"];

impl Column {
    /// The column named `name`.
    pub fn named(name: &str) -> Option<Column> {
        Column::ALL.iter().copied().find(|c| c.name() == name)
    }

    /// Its value in `e`.
    pub fn value(self, e: &Event) -> Value<'_> {
        use Value::{Bool, Null, Number as N, Text};
        let num = |r: crate::real::Real| N(r.0);
        match (self, &e.payload) {
            (Column::EventId, _) => Text(Cow::Owned(e.event_id().to_string())),
            (Column::Revision, _) => N(f64::from(e.revision)),
            (Column::SessionId, _) => Text(Cow::Borrowed(e.session_id.as_str())),
            (Column::SessionDate, _) => Text(Cow::Owned(e.session_date.to_string())),
            (Column::CarNumber, _) => N(f64::from(e.car_number)),
            (Column::EventTypeName, _) => Text(Cow::Borrowed(e.event_type().as_str())),
            (Column::Lap, _) => N(f64::from(e.lap)),
            (Column::TimestampMs, _) => N(e.timestamp_ms as f64),
            (Column::Sequence, _) => N(e.sequence as f64),
            (Column::XM, Payload::Position { x_m, .. }) => num(*x_m),
            (Column::YM, Payload::Position { y_m, .. }) => num(*y_m),
            (Column::ZM, Payload::Position { z_m, .. }) => num(*z_m),
            (Column::SpeedKph, Payload::Position { speed_kph, .. }) => num(*speed_kph),
            (Column::HeadingDeg, Payload::Position { heading_deg, .. }) => num(*heading_deg),
            (Column::Sector, Payload::Position { sector, .. }) => N(f64::from(*sector)),
            (Column::ThrottlePct, Payload::Dynamics { throttle_pct, .. }) => num(*throttle_pct),
            (Column::BrakePct, Payload::Dynamics { brake_pct, .. }) => num(*brake_pct),
            (Column::GLat, Payload::Dynamics { g_lat, .. }) => num(*g_lat),
            (Column::GLong, Payload::Dynamics { g_long, .. }) => num(*g_long),
            (Column::Gear, Payload::Dynamics { gear, .. }) => N(f64::from(*gear)),
            (Column::Rpm, Payload::PowerUnit { rpm, .. }) => num(*rpm),
            (Column::ErsStorePct, Payload::PowerUnit { ers_store_pct, .. }) => num(*ers_store_pct),
            (Column::WaterTempC, Payload::PowerUnit { water_temp_c, .. }) => num(*water_temp_c),
            (Column::OilTempC, Payload::PowerUnit { oil_temp_c, .. }) => num(*oil_temp_c),
            (Column::PressurePsi, Payload::Tire { pressure_psi, .. }) => num(*pressure_psi),
            (Column::SurfaceTempC, Payload::Tire { surface_temp_c, .. }) => num(*surface_temp_c),
            (Column::WearPct, Payload::Tire { wear_pct, .. }) => num(*wear_pct),
            (Column::Corner, Payload::Tire { corner, .. }) => Text(Cow::Borrowed(corner.as_str())),
            (Column::FrontWingDeg, Payload::Aerodynamics { front_wing_deg, .. }) => num(*front_wing_deg),
            (Column::RearWingDeg, Payload::Aerodynamics { rear_wing_deg, .. }) => num(*rear_wing_deg),
            (
                Column::BrakeBalancePct,
                Payload::Aerodynamics {
                    brake_balance_pct, ..
                },
            ) => num(*brake_balance_pct),
            (Column::DrsOpen, Payload::Aerodynamics { drs_open, .. }) => Bool(*drs_open),
            (Column::Severity, Payload::System(s)) => Text(Cow::Borrowed(s.severity.as_str())),
            (Column::Flag, Payload::System(s)) => Text(Cow::Borrowed(s.flag.as_str())),
            (Column::Code, Payload::System(s)) => Text(Cow::Borrowed(&s.code)),
            (Column::Message, Payload::System(s)) => Text(Cow::Borrowed(&s.message)),
            _ => Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_payload_columns_null_elsewhere() {
        for (i, a) in Column::ALL.iter().enumerate() {
            assert!(
                Column::ALL[i + 1..].iter().all(|b| a.name() != b.name()),
                "{}",
                a.name()
            );
            assert_eq!(Column::named(a.name()), Some(*a));
        }
        let e = crate::testing::position(44, 3, false, 0, 212);
        assert_eq!(Column::SpeedKph.value(&e), Value::Number(212.0));
        assert_eq!(Column::Sector.value(&e), Value::Number(1.0));
        assert_eq!(Column::CarNumber.value(&e), Value::Number(44.0));
        assert_eq!(Column::ThrottlePct.value(&e), Value::Null);
        assert_eq!(Column::EventTypeName.value(&e), Value::Text("position".into()));
        for c in Column::ALL {
            let set = !matches!(c.value(&e), Value::Null);
            assert_eq!(
                set,
                c.only_on().is_none_or(|t| t == EventType::Position),
                "{}",
                c.name()
            );
        }
    }
}
