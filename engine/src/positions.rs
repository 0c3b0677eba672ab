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
//!   [`LANES`] workers, the workers above it read no file.) A lane's
//!   position also holds the byte offset of its next record, so that a
//!   restart opens the file at the least position of the lanes it reads
//!   instead of reading the file from its start.
//! - **Simulator**: one position: the next delivery of the (deterministic)
//!   race.
//!
//! A checkpoint records every position it covers ([`Positions`], JSON in
//! each Delta commit and in the Kafka progress record).

use std::collections::BTreeMap;

use racecast_sim::SimConfig;

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
    /// Files: the byte offset of record `next` in the file (absent in
    /// positions written before it was recorded). Always serialized:
    /// positions also cross processes in bincode, which cannot skip a field.
    #[serde(default)]
    pub byte: Option<u64>,
}

impl Position {
    /// A position without a byte offset (Kafka, the simulator).
    pub fn at(source: u32, partition: u32, next: u64) -> Position {
        Position {
            source,
            partition,
            next,
            byte: None,
        }
    }
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

    /// `(source, partition) → position`.
    pub fn map(&self) -> BTreeMap<(u32, u32), Position> {
        self.next.iter().map(|p| ((p.source, p.partition), *p)).collect()
    }

    /// Replaces the positions with `map`'s.
    pub fn set(&mut self, map: &BTreeMap<(u32, u32), Position>) {
        self.next = map.values().copied().collect();
    }

    /// The position of `source`'s `partition`, if it was ever read.
    pub fn of(&self, source: u32, partition: u32) -> Option<Position> {
        self.next
            .iter()
            .find(|p| p.source == source && p.partition == partition)
            .copied()
    }

    /// The next record of `source`'s `partition` (0 when never read).
    pub fn next_of(&self, source: u32, partition: u32) -> u64 {
        self.of(source, partition).map_or(0, |p| p.next)
    }

    /// Merges `p` into `map`: the furthest position per (source,
    /// partition) wins.
    pub fn merge(map: &mut BTreeMap<(u32, u32), Position>, p: Position) {
        let slot = map.entry((p.source, p.partition)).or_insert(p);
        if p.next > slot.next {
            *slot = p;
        }
    }

    /// As JSON (what a checkpoint's `commitInfo` and progress record hold).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("positions serialize")
    }

    /// Back from JSON.
    pub fn from_json(value: serde_json::Value) -> Result<Positions, serde_json::Error> {
        serde_json::from_value(value)
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
        let mut map = BTreeMap::new();
        Positions::merge(&mut map, Position::at(0, 3, 4096));
        Positions::merge(&mut map, Position::at(0, 1, 2048));
        Positions::merge(
            &mut map,
            Position {
                byte: Some(99_000),
                ..Position::at(0, 1, 3072)
            },
        );
        Positions::merge(&mut map, Position::at(0, 1, 1024));
        p.set(&map);
        let back: Positions = serde_json::from_value(p.to_json()).expect("parses");
        assert_eq!(back, p);
        assert_eq!(back.next_of(0, 3), 4096);
        assert_eq!(back.next_of(0, 2), 0);
        assert_eq!(
            back.of(0, 1).and_then(|p| p.byte),
            Some(99_000),
            "the furthest wins"
        );
        // Positions written before byte offsets were recorded still parse.
        let old =
            r#"{"sources":["a.pb"],"block":1024,"lanes":64,"next":[{"source":0,"partition":2,"next":7}]}"#;
        let old: Positions = serde_json::from_str(old).expect("parses");
        assert_eq!(old.of(0, 2), Some(Position::at(0, 2, 7)));
    }
}
