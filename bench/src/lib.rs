//! Shared helpers of racecast's benchmarks: fixed, seeded inputs so that runs
//! compare. See `bench/README.md` for the commands and the recorded figures.

pub mod live;

use racecast_dataflow::Format;
use racecast_sim::records::record_bytes;
use racecast_sim::{SimConfig, Simulator};

/// The first `n` records of a seeded race (with duplicates, late events and
/// corrections, no invalid records), encoded in `format`.
pub fn encoded_race(n: usize, format: Format) -> Vec<Vec<u8>> {
    let config = SimConfig {
        duplicates: 0.02,
        late: 0.05,
        corrections: 0.01,
        ..SimConfig::default()
    };
    Simulator::new(config)
        .take(n)
        .map(|d| record_bytes(d.record, format))
        .collect()
}

/// The adversarial race of the end-to-end harnesses: 5 % duplicates, 5 %
/// late (up to 2 min), 2 % corrections, 0.1 % invalid records.
pub fn adversarial_race(cars: u32, laps: u32, seed: u64) -> SimConfig {
    SimConfig {
        cars,
        laps,
        seed,
        duplicates: 0.05,
        late: 0.05,
        late_max_ms: 120_000,
        corrections: 0.02,
        invalid: 0.001,
        ..SimConfig::default()
    }
}
