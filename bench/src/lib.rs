//! Shared helpers of racecast's benchmarks: fixed, seeded inputs so that runs
//! compare. See `bench/README.md` for the commands and the recorded figures.

use racecast_connectors::simulator::{SimConfig, SimRecord, Simulator};
use racecast_dataflow::Format;

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
        .map(|d| {
            let SimRecord::Event(e) = d.record else {
                unreachable!("no invalid records requested")
            };
            let mut out = Vec::new();
            match format {
                Format::Json => racecast_dataflow::codec::json::encode_event(&e, &mut out),
                Format::Protobuf => prost::Message::encode(&e, &mut out).expect("a Vec grows"),
            }
            out
        })
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
