//! Correctness by replay: silver and gold from the incremental dataflow equal
//! a plain batch computation over the same records, whatever the order,
//! batching, lateness, duplication, corrections or worker count.

use std::sync::Arc;

use proptest::prelude::*;
use racecast_dataflow::Format;
use racecast_dataflow::expect::Suite;
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
    check_with(records, epochs, workers, Arc::default());
}

fn check_with(
    records: Vec<racecast_dataflow::bronze::Ingested>,
    epochs: Vec<u64>,
    workers: usize,
    suite: Arc<Suite>,
) {
    let expected = racecast_dataflow::reference::batch_with(&records, &suite);
    let got = racecast_dataflow::testing::run_dataflow_with(records, epochs, workers, suite).into_batch();
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

/// A suite that quarantines fast position samples and high gears, and
/// warns on revs: the events it quarantines leave silver and gold, and
/// their earlier valid revisions stay in force, exactly as in the batch.
#[test]
fn with_an_expectation_suite_the_race_matches_batch_on_1_2_and_4_workers() {
    let suite = Suite::parse(
        r#"{"name": "replay", "expectations": [
          {"type": "expect_column_values_to_be_between", "kwargs": {"column": "speed_kph", "max_value": 300},
           "meta": {"racecast": {"event_type": "position", "action": "quarantine"}}},
          {"type": "expect_column_values_to_not_be_in_set", "kwargs": {"column": "gear", "value_set": [7, 8]},
           "meta": {"racecast": {"action": "quarantine"}}},
          {"type": "expect_column_values_to_be_between", "kwargs": {"column": "rpm", "max_value": 11000}}
        ]}"#,
    )
    .expect("the suite compiles");
    let records = racecast_sim::simulated(&adversarial(7, 4, 3), Format::Protobuf);
    let plain = racecast_dataflow::reference::batch(&records);
    let with_suite = racecast_dataflow::reference::batch_with(&records, &suite);
    assert!(
        with_suite.quarantined > plain.quarantined + 1_000,
        "the suite quarantines events: {} against {}",
        with_suite.quarantined,
        plain.quarantined
    );
    assert!(with_suite.silver.len() < plain.silver.len());
    let epochs: Vec<u64> = (0..records.len() as u64).map(|i| i / 7_000).collect();
    let suite = Arc::new(suite);
    for workers in [1, 2, 4] {
        check_with(records.clone(), epochs.clone(), workers, Arc::clone(&suite));
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
