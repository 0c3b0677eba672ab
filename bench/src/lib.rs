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
