//! racecast's race simulator: a deterministic Formula 1 race that produces
//! telemetry in *arrival* order, with duplicates, late events, corrections
//! and invalid records, and the pacing that plays it live.
//!
//! - [`config`]: what to simulate and how to deliver it ([`SimConfig`]);
//! - [`track`]: the track's geometry, sectors, DRS zones and speed profile;
//! - [`entries`]: the session's entry list;
//! - [`race`]: the race itself ([`Simulator`], an iterator of deliveries),
//!   through each car's cool-down lap after the chequered flag, whose first
//!   position event completes the car's last racing lap;
//! - [`delivery`]: lateness, duplicates, corrections and invalid records;
//! - [`pacer`]: plays deliveries against the wall clock ([`Pacer`]);
//! - [`records`]: a race as the bytes a source reads.
//!
//! Same [`SimConfig`] (seed included), same records, bit for bit. The
//! simulator knows nothing about where records go: `racecast-engine` feeds
//! them to the dataflow or writes them to a file or a Kafka topic.
#![deny(missing_docs)]

pub mod config;
pub mod delivery;
pub mod entries;
pub mod pacer;
pub mod race;
pub mod records;
pub mod track;

pub use config::{RACE_DISTANCE_M, SimConfig, SimConfigError, full_race_laps};
pub use delivery::{Delivery, SimRecord};
pub use entries::entry_list;
pub use pacer::Pacer;
pub use race::Simulator;
pub use records::simulated;
pub use track::TRACK_LENGTH_M;
