//! Test support (the `test-support` feature, and this crate's own tests):
//! events to build test collections from, shared with the connectors'
//! tests so that both crates test against the same rows.

use crate::date::SessionDate;
use crate::event::{Event, EventId, EventType, Payload, StoredId};
use crate::real::Real;
use crate::symbol::Symbol;

/// A position event of car `car` with sequence `sequence` (its id, as a
/// canonical id or as text), `revision` and speed `speed`.
pub fn position(car: u8, sequence: u64, text_id: bool, revision: u32, speed: u8) -> Event {
    let session_id = Symbol::intern("2026-test-R");
    let event_id = if text_id {
        EventId::Text(format!("other-{car}-{sequence}").into())
    } else {
        EventId::Canonical {
            session: session_id,
            car,
            event_type: EventType::Position,
            sequence,
        }
    };
    Event {
        id: StoredId::for_id(event_id, session_id, car, EventType::Position, sequence),
        revision,
        session_id,
        session_date: SessionDate::from_ymd(2026, 5, 24).expect("a date"),
        car_number: car,
        lap: 1 + (sequence % 3) as u8,
        timestamp_ms: 1_780_000_000_000 + sequence as i64,
        sequence,
        payload: Payload::Position {
            x_m: Real(0.0),
            y_m: Real(0.0),
            z_m: Real(0.0),
            speed_kph: Real(f64::from(speed)),
            heading_deg: Real(0.0),
            sector: 1,
        },
    }
}
