//! Stable reason codes for invalid records (SPEC §2).
//!
//! A code is `kind` or `kind:field`, e.g. `decode`, `missing:lap`,
//! `range:speed_kph`. Field names are SPEC §1's (payload fields without a
//! prefix). The codes are part of the data contract: quarantine rows, the
//! dead-letter topic and `racecast validate` all print them, so never rename
//! one.
//!
//! | code | meaning |
//! |---|---|
//! | `decode` | the bytes are not a JSON object / protobuf message |
//! | `wire:magic`, `wire:message_index`, `wire:schema_id` | a bad Confluent wire-format header |
//! | `oversized` | the record is larger than the configured limit |
//! | `missing:F` | field `F` is absent (or JSON `null`) |
//! | `type:F` | field `F` has the wrong JSON type |
//! | `range:F` | field `F` is outside its valid range (or not finite) |
//! | `length:F` | string `F` is empty or too long |
//! | `format:F` | string `F` is not in its format (`session_date`, `driver_code`) |
//! | `enum:F` | enum `F` has an unknown value |
//! | `unknown:F` | field `F` does not belong to the record or its payload type |
//! | `mismatch:payload` | the payload is of another type than `event_type` |
//! | `expectation:N` | the event fails expectation `N` of the run's suite ([`crate::expect`]) |

use std::fmt;

/// What is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum ReasonKind {
    /// Not decodable.
    Decode,
    /// Bad Confluent wire-format header.
    Wire,
    /// Larger than the configured limit.
    Oversized,
    /// A field is absent.
    Missing,
    /// A field has the wrong type.
    Type,
    /// A value is out of range.
    Range,
    /// A string is empty or too long.
    Length,
    /// A string is not in its format.
    Format,
    /// An enum value is unknown.
    Enum,
    /// A field is not expected.
    Unknown,
    /// The payload is of another type than `event_type`.
    Mismatch,
    /// A valid event fails a quarantining expectation of the suite.
    Expectation,
}

impl ReasonKind {
    /// The code prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonKind::Decode => "decode",
            ReasonKind::Wire => "wire",
            ReasonKind::Oversized => "oversized",
            ReasonKind::Missing => "missing",
            ReasonKind::Type => "type",
            ReasonKind::Range => "range",
            ReasonKind::Length => "length",
            ReasonKind::Format => "format",
            ReasonKind::Enum => "enum",
            ReasonKind::Unknown => "unknown",
            ReasonKind::Mismatch => "mismatch",
            ReasonKind::Expectation => "expectation",
        }
    }
}

/// One broken rule: a kind and (for most kinds) the field it concerns.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Reason {
    /// What is wrong.
    pub kind: ReasonKind,
    /// The field, or empty.
    pub field: Box<str>,
}

impl Reason {
    /// A reason about `field`.
    pub fn new(kind: ReasonKind, field: &str) -> Reason {
        Reason {
            kind,
            field: field.into(),
        }
    }

    /// A reason about the record as a whole (`decode`, `oversized`).
    pub fn whole(kind: ReasonKind) -> Reason {
        Reason {
            kind,
            field: "".into(),
        }
    }

    /// The stable code, e.g. `range:speed_kph`.
    pub fn code(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(self.kind.as_str())
        } else {
            write!(f, "{}:{}", self.kind.as_str(), self.field)
        }
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Every reason a record was rejected for; never empty.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Reasons(pub Vec<Reason>);

impl Reasons {
    /// Adds a reason.
    pub fn push(&mut self, kind: ReasonKind, field: &str) {
        self.0.push(Reason::new(kind, field));
    }

    /// Whether some reason already names `field` (so that, e.g., a wrongly
    /// typed field is not also reported missing).
    pub fn mentions(&self, field: &str) -> bool {
        self.0.iter().any(|r| &*r.field == field)
    }

    /// Whether there is no reason at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The codes, sorted and without repeats.
    pub fn codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = self.0.iter().map(Reason::code).collect();
        codes.sort();
        codes.dedup();
        codes
    }
}

impl fmt::Display for Reasons {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.codes().join(","))
    }
}
