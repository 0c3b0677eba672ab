//! Source positions: where a checkpoint's input ends, per source and
//! partition, in a form that a restart can resume from with any number of
//! workers and processes.
//!
//! - **Kafka**: one position per (topic, partition): the next offset.
//! - **Files**: records are cut into blocks of [`BLOCK`] records, and block
//!   `b` belongs to lane `b % LANES`; lane `l` is read by worker
//!   `l % peers`. A lane's position is the next record index its worker
//!   will look at, so "record `r` is done" is `r < next[lane(r)]`, whatever
//!   the worker count was: a restart with another `-w`/`-n` deals the lanes
//!   anew and skips exactly the records that are done. (With more than
//!   [`LANES`] workers, the workers above it read no file.)
//! - **Simulator**: one position: the next delivery of the (deterministic)
//!   race.
//!
//! A checkpoint records every position it covers ([`Positions`], JSON in
//! each Delta commit and in the Kafka progress record).

use std::collections::BTreeMap;

use crate::simulator::SimConfig;

/// Records per block when dealing file records to lanes.
pub const BLOCK: u64 = 1024;
/// Lanes per file: the most workers that share one file.
pub const LANES: u32 = 64;

/// The lane of file record `offset`.
pub fn lane_of(offset: u64) -> u32 {
    ((offset / BLOCK) % u64::from(LANES)) as u32
}

/// Whether worker `index` of `peers` reads lane `lane`.
pub fn reads_lane(lane: u32, index: usize, peers: usize) -> bool {
    lane as usize % peers.max(1) == index
}

/// One source position, reported by the worker that reads it at the epoch
/// of the records it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// Source index (entries first, then events; see [`Positions::sources`]).
    pub source: u32,
    /// Kafka partition, or file lane (0 for the simulator).
    pub partition: u32,
    /// Next record index (offset) to read.
    pub next: u64,
}

/// Every position a checkpoint covers, with the names of its sources.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Positions {
    /// Source names, by index (file paths, topics, `simulator`).
    pub sources: Vec<String>,
    /// Records per block (files).
    pub block: u64,
    /// Lanes per file.
    pub lanes: u32,
    /// The positions, one per (source, partition).
    pub next: Vec<Position>,
    /// The simulated race, when the simulator is the source (a restart
    /// replays the same race from its position).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulator: Option<SimConfig>,
}

impl Positions {
    /// Empty positions over `sources`.
    pub fn new(sources: Vec<String>) -> Positions {
        Positions {
            sources,
            block: BLOCK,
            lanes: LANES,
            next: Vec::new(),
            simulator: None,
        }
    }

    /// `(source, partition) → next`.
    pub fn map(&self) -> BTreeMap<(u32, u32), u64> {
        self.next
            .iter()
            .map(|p| ((p.source, p.partition), p.next))
            .collect()
    }

    /// Replaces the positions with `map`.
    pub fn set(&mut self, map: &BTreeMap<(u32, u32), u64>) {
        self.next = map
            .iter()
            .map(|(&(source, partition), &next)| Position {
                source,
                partition,
                next,
            })
            .collect();
    }

    /// The next record of `source`'s `partition` (0 when never read).
    pub fn next_of(&self, source: u32, partition: u32) -> u64 {
        self.next
            .iter()
            .find(|p| p.source == source && p.partition == partition)
            .map_or(0, |p| p.next)
    }

    /// As JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("positions serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_cover_every_record_once_for_any_worker_count() {
        for peers in [1, 2, 3, 4, 7] {
            for offset in (0..BLOCK * u64::from(LANES) * 2).step_by(97) {
                let lane = lane_of(offset);
                let readers = (0..peers).filter(|&w| reads_lane(lane, w, peers)).count();
                assert_eq!(readers, 1, "offset {offset}, {peers} workers");
            }
        }
        assert_eq!(lane_of(BLOCK - 1), 0);
        assert_eq!(lane_of(BLOCK), 1);
        assert_eq!(lane_of(BLOCK * u64::from(LANES)), 0);
    }

    #[test]
    fn positions_round_trip_as_json() {
        let mut p = Positions::new(vec!["a.pb".into()]);
        p.set(&BTreeMap::from([((0, 3), 4096), ((0, 1), 2048)]));
        let back: Positions = serde_json::from_value(p.to_json()).expect("parses");
        assert_eq!(back, p);
        assert_eq!(back.next_of(0, 3), 4096);
        assert_eq!(back.next_of(0, 2), 0);
    }
}
