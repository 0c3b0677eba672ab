//! The session's entry list (SPEC §1, "session context"): who drives which
//! car. Silver rows carry these columns; the highest `revision` of a
//! (`session_id`, `car_number`) wins.

use std::fmt;

use crate::symbol::Symbol;

/// Session types, in SPEC order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum SessionType {
    /// Practice 1.
    P1,
    /// Practice 2.
    P2,
    /// Practice 3.
    P3,
    /// Qualifying.
    Q,
    /// Sprint qualifying.
    Sq,
    /// Sprint.
    S,
    /// Race.
    R,
}

impl SessionType {
    /// Every value, in order.
    pub const ALL: &'static [SessionType] = &[
        SessionType::P1,
        SessionType::P2,
        SessionType::P3,
        SessionType::Q,
        SessionType::Sq,
        SessionType::S,
        SessionType::R,
    ];

    /// The SPEC name.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionType::P1 => "P1",
            SessionType::P2 => "P2",
            SessionType::P3 => "P3",
            SessionType::Q => "Q",
            SessionType::Sq => "SQ",
            SessionType::S => "S",
            SessionType::R => "R",
        }
    }

    /// Parses a SPEC name.
    pub fn parse(text: &str) -> Option<SessionType> {
        SessionType::ALL.iter().copied().find(|t| t.as_str() == text)
    }
}

impl fmt::Display for SessionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One validated entry-list record.
///
/// The derived order is the tie rule for two different records with the same
/// key and revision: the greater one wins.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// Session id.
    pub session_id: Symbol,
    /// Car number, 1..=99.
    pub car_number: u8,
    /// Higher revisions replace lower ones.
    pub revision: u32,
    /// Three upper-case letters, e.g. `VER`.
    pub driver_code: Symbol,
    /// Team name.
    pub team: Symbol,
    /// Track name.
    pub track: Symbol,
    /// Session type.
    pub session_type: SessionType,
}

impl Entry {
    /// The (`session_id`, `car_number`) this record describes.
    pub fn key(&self) -> (Symbol, u8) {
        (self.session_id, self.car_number)
    }
}
