//! An event's identity: [`EventId`] (what a record says), [`EventIdRef`]
//! (the id read back from an [`Event`](super::Event), borrowed) and
//! [`StoredId`] (how an event keeps it: not at all when the id has the
//! canonical shape `{session_id}/{car_number}/{event_type}/{sequence}` of
//! the event's own fields).

use std::fmt;

use super::EventType;
use crate::symbol::Symbol;

/// The identity of one logical sample.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum EventId {
    /// `{session}/{car}/{event_type}/{sequence}`, stored as its parts.
    Canonical {
        /// Session id.
        session: Symbol,
        /// Car number (1..=99 in canonical ids).
        car: u8,
        /// Event type.
        event_type: EventType,
        /// Sequence number.
        sequence: u64,
    },
    /// Any other id, as text.
    Text(Box<str>),
}

/// An event id as read from an [`Event`](super::Event) (borrowed, `Copy`): equal ids
/// are equal views, whichever way the event stores its id, and a view
/// hashes and orders as its [`EventId`] does.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventIdRef<'a> {
    /// `{session}/{car}/{event_type}/{sequence}`.
    Canonical {
        /// Session id.
        session: Symbol,
        /// Car number.
        car: u8,
        /// Event type.
        event_type: EventType,
        /// Sequence number.
        sequence: u64,
    },
    /// Any other id.
    Text(&'a str),
}

impl fmt::Display for EventIdRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventIdRef::Canonical {
                session,
                car,
                event_type,
                sequence,
            } => {
                // Piece by piece: `write!` with four arguments was a visible
                // share of writing silver files, which format every id.
                let mut number = itoa::Buffer::new();
                f.write_str(session.as_str())?;
                f.write_str("/")?;
                f.write_str(number.format(*car))?;
                f.write_str("/")?;
                f.write_str(event_type.as_str())?;
                f.write_str("/")?;
                f.write_str(number.format(*sequence))
            }
            EventIdRef::Text(text) => f.write_str(text),
        }
    }
}

impl fmt::Debug for EventIdRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}", self = self.to_string())
    }
}

impl EventId {
    /// The id as a view (what [`Event::event_id`](super::Event::event_id) returns).
    pub fn view(&self) -> EventIdRef<'_> {
        match self {
            EventId::Canonical {
                session,
                car,
                event_type,
                sequence,
            } => EventIdRef::Canonical {
                session: *session,
                car: *car,
                event_type: *event_type,
                sequence: *sequence,
            },
            EventId::Text(text) => EventIdRef::Text(text),
        }
    }

    /// Parses an id, storing it as parts when it has the canonical shape and
    /// prints back to exactly `text`.
    pub fn parse(text: &str) -> EventId {
        Self::parse_canonical(text, None).unwrap_or_else(|| EventId::Text(text.into()))
    }

    /// As [`EventId::parse`], for an id whose session part is most likely
    /// `session` (the event's own session id): then the symbol is taken as
    /// it is, without a lookup in the intern table.
    pub fn parse_in(text: &str, session: Symbol) -> EventId {
        Self::parse_canonical(text, Some(session)).unwrap_or_else(|| EventId::Text(text.into()))
    }

    fn parse_canonical(text: &str, known: Option<Symbol>) -> Option<EventId> {
        let mut parts = text.rsplitn(4, '/');
        let sequence = parts.next()?;
        let event_type = EventType::parse(parts.next()?)?;
        let car = parts.next()?;
        let session = parts.next()?;
        let canonical_number = |s: &str| {
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
        };
        if session.is_empty() || !canonical_number(sequence) || !canonical_number(car) {
            return None;
        }
        Some(EventId::Canonical {
            session: match known {
                Some(symbol) if symbol.as_str() == session => symbol,
                _ => Symbol::intern(session),
            },
            car: car.parse().ok().filter(|&c| c > 0)?,
            event_type,
            sequence: sequence.parse().ok()?,
        })
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.view().fmt(f)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}", self = self.to_string())
    }
}

/// How an [`Event`](super::Event) stores its `event_id`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum StoredId {
    /// The canonical id of the event's own `session_id`, `car_number`,
    /// type and `sequence`: nothing to store.
    Own,
    /// Any other id.
    Other(Box<EventId>),
}

impl StoredId {
    /// How to store `text` as the id of an event with these fields.
    pub fn of(text: &str, session: Symbol, car: u8, event_type: EventType, sequence: u64) -> StoredId {
        StoredId::for_id(
            EventId::parse_in(text, session),
            session,
            car,
            event_type,
            sequence,
        )
    }

    /// How to store `id` as the id of an event with these fields.
    pub fn for_id(id: EventId, session: Symbol, car: u8, event_type: EventType, sequence: u64) -> StoredId {
        let own = EventIdRef::Canonical {
            session,
            car,
            event_type,
            sequence,
        };
        if id.view() == own {
            StoredId::Own
        } else {
            StoredId::Other(Box::new(id))
        }
    }
}
