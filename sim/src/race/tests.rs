//! Unit tests of the race: determinism, validity and rates of a clean
//! race, the cool-down lap after the flag, and the track's speed profile.

use std::collections::BTreeMap;

use super::*;
use racecast_dataflow::{Format, Limits};

use crate::SimRecord;

fn small(seed: u64) -> SimConfig {
    SimConfig {
        cars: 3,
        laps: 2,
        seed,
        ..SimConfig::default()
    }
}

#[test]
fn same_seed_same_records() {
    let a: Vec<Delivery> = Simulator::new(small(7)).take(5_000).collect();
    let b: Vec<Delivery> = Simulator::new(small(7)).take(5_000).collect();
    let c: Vec<Delivery> = Simulator::new(small(8)).take(5_000).collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn clean_race_is_all_valid_in_order_with_every_type() {
    let mut counts = [0u64; 6];
    let mut last_arrival = i64::MIN;
    let mut laps = 0;
    for d in Simulator::new(small(3)) {
        assert!(d.arrival_ms >= last_arrival, "arrival order");
        last_arrival = d.arrival_ms;
        let SimRecord::Event(e) = d.record else {
            panic!("garbage in a clean race")
        };
        let mut bytes = Vec::new();
        prost::Message::encode(&e, &mut bytes).expect("encode");
        let event = racecast_dataflow::decode_event(&bytes, Format::Protobuf, &Limits::default())
            .unwrap_or_else(|r| panic!("invalid {r}: {e:?}"));
        counts[event.event_type() as usize] += 1;
        laps = laps.max(event.lap);
    }
    assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
    assert_eq!(laps, 3, "two racing laps and the cool-down lap");
    // Nominal rates: power unit 50 Hz vs position 10 Hz.
    let ratio = counts[2] as f64 / counts[0] as f64;
    assert!((4.5..5.5).contains(&ratio), "{ratio}");
}

/// A car's position events per lap: first and last timestamps, and the
/// speed of its last one.
#[derive(Default)]
struct Trace {
    laps: BTreeMap<u32, (i64, i64)>,
    last_speed_kph: f64,
}

fn traces(sim: Simulator) -> BTreeMap<u32, Trace> {
    let mut cars: BTreeMap<u32, Trace> = BTreeMap::new();
    for d in sim {
        let SimRecord::Event(e) = d.record else { continue };
        let Some(PbPayload::Position(p)) = &e.payload else {
            continue;
        };
        let (Some(car), Some(lap), Some(ts)) = (e.car_number, e.lap, e.timestamp_ms) else {
            panic!("a clean race's event lacks a field: {e:?}")
        };
        let trace = cars.entry(car).or_default();
        let span = trace.laps.entry(lap).or_insert((ts, ts));
        *span = (span.0.min(ts), span.1.max(ts));
        trace.last_speed_kph = p.speed_kph.unwrap_or(f64::NAN);
    }
    cars
}

#[test]
fn every_final_racing_lap_is_followed_by_a_cool_down_lap() {
    // Car 0 is far slower: the leader laps it, and it takes the flag a
    // lap down.
    let config = SimConfig { laps: 3, ..small(5) };
    let mut sim = Simulator::new(config.clone());
    sim.cars[0].pace = 0.6;
    let lapped = sim.cars[0].number;
    let cars = traces(sim);
    assert_eq!(cars.len(), 3);
    for (car, trace) in &cars {
        let last = trace.laps.keys().copied().max().unwrap_or_default();
        let laps: Vec<u32> = trace.laps.keys().copied().collect();
        assert_eq!(
            laps,
            (1..=last).collect::<Vec<_>>(),
            "car {car}: a lap without position events"
        );
        // SPEC §3: a lap completes once the next lap has a position
        // event; every lap but the cool-down lap does.
        let completed = laps.iter().filter(|l| trace.laps.contains_key(&(*l + 1))).count() as u32;
        assert_eq!(completed, last - 1, "car {car}");
        let race_distance = if *car == lapped {
            config.laps - 1
        } else {
            config.laps
        };
        assert_eq!(completed, race_distance, "car {car}: classified on its laps");
        // The cool-down lap: a whole lap, slower than the final racing
        // lap, ending stopped or at pit-lane speed.
        let (cool_start, cool_end) = trace.laps[&last];
        let final_lap_ms = cool_start - trace.laps[&(last - 1)].0;
        let cool_ms = cool_end - cool_start;
        let ratio = cool_ms as f64 / final_lap_ms as f64;
        assert!(
            (1.25..1.6).contains(&ratio),
            "car {car}: cool-down {cool_ms} ms vs {final_lap_ms} ms"
        );
        assert!(
            trace.last_speed_kph <= PIT_LANE_KPH,
            "car {car}: {}",
            trace.last_speed_kph
        );
    }
}

#[test]
fn speed_profile_is_plausible() {
    let speeds: Vec<f64> = (0..1000).map(|i| speed_profile(f64::from(i) / 1000.0)).collect();
    let max = speeds.iter().cloned().fold(0.0, f64::max);
    let min = speeds.iter().cloned().fold(1000.0, f64::min);
    assert!(max > 320.0 && max <= 345.0, "{max}");
    assert!((80.0..100.0).contains(&min), "{min}");
}
