//! The domain event that flows through the dataflow: one validated telemetry
//! sample (SPEC §1), laid out to be cheap to keep by the million.
//!
//! Size: session ids are interned ([`Symbol`], 8 bytes), dates are packed
//! into 4 bytes, and an `event_id` of the simulator's canonical shape
//! `{session_id}/{car_number}/{event_type}/{sequence}` that names the
//! event's own fields is not stored at all ([`StoredId::Own`]): it is
//! rebuilt from them when read ([`Event::event_id`]). Any other id is boxed
//! ([`StoredId::Other`]: as its parts when it has the canonical shape, else
//! as text). The rare system payload (two free-text strings) is boxed so
//! that the common payloads stay inline. `size_of::<Event>()` is checked in
//! a test.

mod id;

use std::fmt;

pub use id::{EventId, EventIdRef, StoredId};

use crate::date::SessionDate;
use crate::real::Real;
use crate::symbol::Symbol;

/// The six kinds of telemetry sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum EventType {
    /// Car position and speed, 10 Hz.
    Position,
    /// Driver inputs and accelerations, 20 Hz.
    Dynamics,
    /// Engine and energy store, 50 Hz.
    PowerUnit,
    /// One tire corner, 5 Hz per corner.
    Tire,
    /// DRS and wing settings, 10 Hz.
    Aerodynamics,
    /// Flags and messages, on change.
    System,
}

impl EventType {
    /// All types, in SPEC order.
    pub const ALL: [EventType; 6] = [
        EventType::Position,
        EventType::Dynamics,
        EventType::PowerUnit,
        EventType::Tire,
        EventType::Aerodynamics,
        EventType::System,
    ];

    /// The SPEC name (`position`, `power_unit`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Position => "position",
            EventType::Dynamics => "dynamics",
            EventType::PowerUnit => "power_unit",
            EventType::Tire => "tire",
            EventType::Aerodynamics => "aerodynamics",
            EventType::System => "system",
        }
    }

    /// Parses a SPEC name.
    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Declares a string-named enum with `as_str`, `parse` and `ALL`.
macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The SPEC name.
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $text),+ } }
            /// Parses a SPEC name.
            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

named_enum! {
    /// A tire corner.
    Corner { /// Front left.
        Fl = "FL", /// Front right.
        Fr = "FR", /// Rear left.
        Rl = "RL", /// Rear right.
        Rr = "RR" }
}

named_enum! {
    /// Severity of a system event.
    Severity { /// Informational.
        Info = "info", /// A warning.
        Warning = "warning", /// An error.
        Error = "error" }
}

named_enum! {
    /// Track flag carried by a system event.
    Flag {
        /// No flag.
        None = "none", /// Green.
        Green = "green", /// Single yellow.
        Yellow = "yellow", /// Double yellow.
        DoubleYellow = "double_yellow", /// Red.
        Red = "red", /// Safety car.
        SafetyCar = "safety_car", /// Virtual safety car.
        VirtualSafetyCar = "virtual_safety_car", /// Chequered.
        Chequered = "chequered"
    }
}

impl Flag {
    /// Whether the flag counts as a yellow for `gold.lap_metrics.yellow_flag`.
    pub fn is_yellow(self) -> bool {
        matches!(
            self,
            Flag::Yellow | Flag::DoubleYellow | Flag::SafetyCar | Flag::VirtualSafetyCar
        )
    }
}

/// The fields of a system event; boxed inside [`Payload`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct SystemPayload {
    /// Severity.
    pub severity: Severity,
    /// Track flag.
    pub flag: Flag,
    /// Machine-readable code.
    pub code: Box<str>,
    /// Human-readable message.
    pub message: Box<str>,
}

/// The type-specific measurements of an event.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Payload {
    /// `position`.
    Position {
        /// Metres.
        x_m: Real,
        /// Metres.
        y_m: Real,
        /// Metres.
        z_m: Real,
        /// 0..=400.
        speed_kph: Real,
        /// 0..360.
        heading_deg: Real,
        /// 1..=3.
        sector: u8,
    },
    /// `dynamics`.
    Dynamics {
        /// 0..=100.
        throttle_pct: Real,
        /// 0..=100.
        brake_pct: Real,
        /// -1..=8.
        gear: i8,
        /// -10..=10.
        g_lat: Real,
        /// -10..=10.
        g_long: Real,
    },
    /// `power_unit`.
    PowerUnit {
        /// 0..=20000.
        rpm: Real,
        /// 0..=100.
        ers_store_pct: Real,
        /// -20..=200.
        water_temp_c: Real,
        /// -20..=200.
        oil_temp_c: Real,
    },
    /// `tire`.
    Tire {
        /// Which corner.
        corner: Corner,
        /// 10..=40.
        pressure_psi: Real,
        /// -20..=200.
        surface_temp_c: Real,
        /// 0..=100.
        wear_pct: Real,
    },
    /// `aerodynamics`.
    Aerodynamics {
        /// DRS flap open.
        drs_open: bool,
        /// 0..=50.
        front_wing_deg: Real,
        /// 0..=50.
        rear_wing_deg: Real,
        /// 0..=100.
        brake_balance_pct: Real,
    },
    /// `system`.
    System(Box<SystemPayload>),
}

impl Payload {
    /// The event type this payload belongs to.
    pub fn event_type(&self) -> EventType {
        match self {
            Payload::Position { .. } => EventType::Position,
            Payload::Dynamics { .. } => EventType::Dynamics,
            Payload::PowerUnit { .. } => EventType::PowerUnit,
            Payload::Tire { .. } => EventType::Tire,
            Payload::Aerodynamics { .. } => EventType::Aerodynamics,
            Payload::System(_) => EventType::System,
        }
    }
}

/// One valid telemetry event (SPEC §1).
///
/// Events compare (and hash) by their fields in declaration order, the id
/// by its value ([`Event::event_id`]) whichever way it is stored. That order
/// is the tie rule for two different records with the same `event_id` and
/// `revision`: the greater one wins, whatever order they arrive in.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// Identity of the logical sample, as stored; read it with
    /// [`Event::event_id`].
    pub id: StoredId,
    /// 0 for the original, higher for corrections.
    pub revision: u32,
    /// Session id.
    pub session_id: Symbol,
    /// Session date.
    pub session_date: SessionDate,
    /// 1..=99.
    pub car_number: u8,
    /// 1..=200.
    pub lap: u8,
    /// Event time, Unix epoch milliseconds.
    pub timestamp_ms: i64,
    /// Per (session, car, event type), increasing in event time.
    pub sequence: u64,
    /// The measurements.
    pub payload: Payload,
}

impl Event {
    /// The event's type (from its payload).
    pub fn event_type(&self) -> EventType {
        self.payload.event_type()
    }

    /// Identity of the logical sample.
    pub fn event_id(&self) -> EventIdRef<'_> {
        match &self.id {
            StoredId::Own => EventIdRef::Canonical {
                session: self.session_id,
                car: self.car_number,
                event_type: self.event_type(),
                sequence: self.sequence,
            },
            StoredId::Other(id) => id.view(),
        }
    }

    /// The fields in comparison order.
    #[allow(clippy::type_complexity)]
    fn key(
        &self,
    ) -> (
        EventIdRef<'_>,
        u32,
        Symbol,
        SessionDate,
        u8,
        u8,
        i64,
        u64,
        &Payload,
    ) {
        (
            self.event_id(),
            self.revision,
            self.session_id,
            self.session_date,
            self.car_number,
            self.lap,
            self.timestamp_ms,
            self.sequence,
            &self.payload,
        )
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Event {}

impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Event {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl std::hash::Hash for Event {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::position;

    #[test]
    fn canonical_ids_round_trip_and_others_keep_text() {
        for text in [
            "2026-monaco-R/44/position/0",
            "2026-monaco-R/1/power_unit/123456",
            "a/b/99/tire/7",
        ] {
            let id = EventId::parse(text);
            assert!(matches!(id, EventId::Canonical { .. }), "{text}");
            assert_eq!(id.to_string(), text);
            for known in ["2026-monaco-R", "a/b", "other"] {
                assert_eq!(
                    EventId::parse_in(text, Symbol::intern(known)),
                    id,
                    "{text} in {known}"
                );
            }
        }
        for text in [
            "2026-monaco-R/044/position/0",
            "2026-monaco-R/44/position/01",
            "2026-monaco-R/0/position/1",
            "2026-monaco-R/300/position/1",
            "/44/position/1",
            "2026-monaco-R/44/brakes/1",
            "44/position/1",
            "x",
        ] {
            let id = EventId::parse(text);
            assert!(matches!(id, EventId::Text(_)), "{text}");
            assert_eq!(id.to_string(), text);
        }
    }

    #[test]
    fn an_id_naming_the_events_own_fields_is_not_stored() {
        let session = Symbol::intern("2026-test-R");
        let of = |text: &str, sequence| StoredId::of(text, session, 44, EventType::Position, sequence);
        assert!(matches!(of("2026-test-R/44/position/7", 7), StoredId::Own));
        for (text, sequence) in [
            ("2026-test-R/44/position/7", 8),
            ("2026-test-R/45/position/7", 7),
            ("2026-test-R/44/tire/7", 7),
            ("2026-monza-R/44/position/7", 7),
            ("x", 7),
        ] {
            let stored = of(text, sequence);
            assert!(matches!(stored, StoredId::Other(_)), "{text}");
            let event = Event {
                id: stored,
                ..position(44, sequence, false, 0, 0)
            };
            assert_eq!(event.event_id().to_string(), text);
        }
        // However an id is stored, events compare and hash by its value.
        let own = position(44, 7, false, 0, 0);
        assert!(matches!(own.id, StoredId::Own));
        let boxed = Event {
            id: StoredId::Other(Box::new(EventId::parse("2026-test-R/44/position/7"))),
            ..own.clone()
        };
        assert_eq!(own.event_id().to_string(), "2026-test-R/44/position/7");
        assert_eq!(own, boxed);
        assert_eq!(own.cmp(&boxed), std::cmp::Ordering::Equal);
        let state = std::collections::hash_map::RandomState::new();
        use std::hash::BuildHasher;
        assert_eq!(state.hash_one(&own), state.hash_one(&boxed));
        // A view hashes as its owned id does (silver routes by either).
        assert_eq!(
            state.hash_one(own.event_id()),
            state.hash_one(EventId::parse("2026-test-R/44/position/7"))
        );
    }

    #[test]
    fn events_stay_compact() {
        assert!(
            std::mem::size_of::<Payload>() <= 56,
            "{}",
            std::mem::size_of::<Payload>()
        );
        assert!(
            std::mem::size_of::<Event>() <= 96,
            "{}",
            std::mem::size_of::<Event>()
        );
    }
}
