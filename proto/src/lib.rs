//! racecast's wire types, generated from `proto/telemetry_event.proto`.
//!
//! Only generated code lives here; the domain event that the dataflow uses,
//! and the conversion from these wire types into it (with validation), live in
//! `racecast-dataflow`'s `codec` module.
#![allow(missing_docs, clippy::all)]

/// Package `racecast.v1`.
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/racecast.v1.rs"));
}

pub use prost::Message;
pub use v1::{EntryListRecord, TelemetryEvent};
