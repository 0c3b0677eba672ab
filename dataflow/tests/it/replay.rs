//! Correctness by replay: silver and gold from the incremental dataflow equal
//! a plain batch computation over the same records, whatever the order,
//! batching, lateness, duplication, corrections or worker count.

use proptest::prelude::*;
use racecast_dataflow::Format;
use racecast_sim::SimConfig;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

fn adversarial(seed: u64, cars: u32, laps: u32) -> SimConfig {
    SimConfig {
        cars,
        laps,
        seed,
        duplicates: 0.1,
        late: 0.1,
        late_max_ms: 90_000,
        corrections: 0.05,
        invalid: 0.02,
        ..SimConfig::default()
    }
}

fn check(records: Vec<racecast_dataflow::bronze::Ingested>, epochs: Vec<u64>, workers: usize) {
    let expected = racecast_dataflow::reference::batch(&records);
    let got = racecast_dataflow::testing::run_dataflow(records, epochs, workers).into_batch();
    assert_eq!(got.bronze, expected.bronze, "bronze count");
    assert_eq!(got.quarantined, expected.quarantined, "quarantine count");
    assert_eq!(got.silver.len(), expected.silver.len(), "silver size");
    assert!(got.silver == expected.silver, "silver differs");
    assert_eq!(got.laps.len(), expected.laps.len(), "lap rows");
    for (g, e) in got.laps.iter().zip(&expected.laps) {
        assert_eq!(g, e);
    }
    assert_eq!(got.sessions, expected.sessions);
}

#[test]
fn simulated_race_matches_batch_on_1_2_and_4_workers() {
    let records = racecast_sim::simulated(&adversarial(3, 4, 3), Format::Protobuf);
    assert!(records.len() > 100_000);
    // Epochs of ~10k records, in arrival order.
    let epochs: Vec<u64> = (0..records.len() as u64).map(|i| i / 10_000).collect();
    for workers in [1, 2, 4] {
        check(records.clone(), epochs.clone(), workers);
    }
}

#[test]
fn json_input_with_shuffled_order_matches_batch() {
    let mut records = racecast_sim::simulated(&adversarial(5, 3, 2), Format::Json);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    records.shuffle(&mut rng);
    let epochs: Vec<u64> = (0..records.len() as u64).map(|i| i / 3_000).collect();
    check(records, epochs, 2);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Small streams (a slice of a race), shuffled, with random epochs.
    #[test]
    fn any_order_and_batching_gives_the_batch_result(
        seed in 0u64..1000,
        take in 200usize..3000,
        workers in 1usize..4,
        max_epoch_len in 1u64..500,
    ) {
        let mut records = racecast_sim::simulated(&adversarial(seed, 2, 2), Format::Protobuf);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        // A window of the race that spans lap boundaries now and then.
        let start = rng.random_range(0..records.len() - take);
        records = records[start..start + take].to_vec();
        records.shuffle(&mut rng);
        let mut epoch = 0;
        let epochs = (0..records.len()).map(|_| { if rng.random_range(0..max_epoch_len) == 0 { epoch += 1; } epoch }).collect();
        check(records, epochs, workers);
    }
}
