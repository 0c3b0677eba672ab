//! The answers of `queries/`'s views computed a second way: in plain Rust
//! from the batch reference (silver and gold of the input, computed from
//! SPEC without the dataflow), the input records and the positions each
//! checkpoint covers, following each view's header rather than its SQL.
//! Rows are JSON objects with nulls left out, as `racecast query --format
//! json` prints them.

use std::collections::BTreeMap;

use racecast_dataflow::Entry;
use racecast_dataflow::event::Payload;
use racecast_dataflow::gold::LapRow;
use racecast_dataflow::reference::Batch;
use racecast_dataflow::silver::SilverRow;
use racecast_testkit::tables::object;
use serde_json::{Map, Value, json};

type Row = Map<String, Value>;
type Car = (String, u8);

/// `entry_list`: one row per car of the entry list, with its winning entry.
pub fn entry_list(entries: &BTreeMap<Car, Entry>) -> Vec<Row> {
    entries
        .iter()
        .map(|((session, car), e)| {
            object(vec![
                ("session_id", json!(session)),
                ("car_number", json!(car)),
                ("driver_code", json!(e.driver_code.to_string())),
                ("team", json!(e.team.to_string())),
                ("track", json!(e.track.to_string())),
                ("session_type", json!(e.session_type.as_str())),
            ])
        })
        .collect()
}

/// One row per car of silver, with the entry its rows carry.
fn silver_cars(b: &Batch) -> Vec<Row> {
    let mut cars: BTreeMap<Car, &SilverRow> = BTreeMap::new();
    for r in &b.silver {
        cars.entry((r.event.session_id.to_string(), r.event.car_number))
            .or_insert(r);
    }
    cars.into_iter()
        .map(|((session, car), r)| {
            let e = r.entry.as_ref();
            object(vec![
                ("session_id", json!(session)),
                ("car_number", json!(car)),
                ("driver_code", json!(e.map(|e| e.driver_code.to_string()))),
                ("team", json!(e.map(|e| e.team.to_string()))),
                ("track", json!(e.map(|e| e.track.to_string()))),
                ("session_type", json!(e.map(|e| e.session_type.as_str()))),
            ])
        })
        .collect()
}

/// Each car's driver code, when it has an entry.
fn drivers(b: &Batch) -> BTreeMap<Car, String> {
    b.silver
        .iter()
        .filter_map(|r| {
            let e = r.entry.as_ref()?;
            Some((
                (r.event.session_id.to_string(), r.event.car_number),
                e.driver_code.to_string(),
            ))
        })
        .collect()
}

/// `classification`: session rows in position order, with the interval to
/// the car ahead when on its lap count.
pub fn classification(b: &Batch) -> Vec<Row> {
    let entries: BTreeMap<Car, Row> = silver_cars(b)
        .into_iter()
        .map(|r| {
            (
                (
                    r["session_id"].as_str().unwrap_or_default().to_owned(),
                    r["car_number"].as_u64().unwrap_or(0) as u8,
                ),
                r,
            )
        })
        .collect();
    let mut sessions: Vec<_> = b.sessions.iter().collect();
    sessions.sort_by_key(|s| (s.session_id.to_string(), s.position));
    let mut out = Vec::new();
    for (i, s) in sessions.iter().enumerate() {
        let ahead = (i > 0 && sessions[i - 1].session_id == s.session_id).then(|| sessions[i - 1]);
        let interval = ahead
            .filter(|a| a.laps_completed == s.laps_completed)
            .map(|a| s.total_time_ms - a.total_time_ms);
        let entry = entries.get(&(s.session_id.to_string(), s.car_number));
        let field = |k: &str| entry.and_then(|e| e.get(k).cloned()).unwrap_or(Value::Null);
        out.push(object(vec![
            ("session_id", json!(s.session_id.to_string())),
            ("position", json!(s.position)),
            ("car_number", json!(s.car_number)),
            ("driver_code", field("driver_code")),
            ("team", field("team")),
            ("laps_completed", json!(s.laps_completed)),
            ("total_time_ms", json!(s.total_time_ms)),
            ("gap_to_leader_ms", json!(s.gap_to_leader_ms)),
            ("interval_ms", json!(interval)),
            (
                "laps_behind_ahead",
                json!(ahead.map_or(0, |a| a.laps_completed - s.laps_completed)),
            ),
            ("best_lap_ms", json!(s.best_lap_ms)),
            ("best_lap", json!(s.best_lap)),
            ("fastest_lap", json!(s.fastest_lap)),
            ("top_speed_kph", json!(s.top_speed_kph.map(|v| v.get()))),
        ]));
    }
    out
}

fn completed(b: &Batch) -> impl Iterator<Item = (&LapRow, i64)> {
    b.laps.iter().filter_map(|l| Some((l, l.lap_time_ms?)))
}

/// `lap_chart`: per lap, the cars in the order they crossed the line.
pub fn lap_chart(b: &Batch) -> Vec<Row> {
    let drivers = drivers(b);
    let mut by_lap: BTreeMap<(String, u8), Vec<(i64, u8)>> = BTreeMap::new();
    for (l, time) in completed(b) {
        let end = l.lap_start_ms.unwrap_or_default() + time;
        by_lap
            .entry((l.session_id.to_string(), l.lap))
            .or_default()
            .push((end, l.car_number));
    }
    let mut out = Vec::new();
    for ((session, lap), mut cars) in by_lap {
        cars.sort_unstable();
        for (i, (end, car)) in cars.into_iter().enumerate() {
            out.push(object(vec![
                ("session_id", json!(session)),
                ("lap", json!(lap)),
                ("position", json!(i + 1)),
                ("car_number", json!(car)),
                ("driver_code", json!(drivers.get(&(session.clone(), car)))),
                ("lap_end_ms", json!(end)),
            ]));
        }
    }
    out
}

/// The least of the values that are there.
fn least(values: impl Iterator<Item = Option<i64>>) -> Option<i64> {
    values.flatten().min()
}

/// `lap_times`: completed laps, marked against the car's and the
/// session's bests (over completed laps).
pub fn lap_times(b: &Batch) -> Vec<Row> {
    let drivers = drivers(b);
    let laps: Vec<&LapRow> = completed(b).map(|(l, _)| l).collect();
    let sectors = |l: &LapRow| [l.sector1_ms, l.sector2_ms, l.sector3_ms];
    let mut out = Vec::new();
    for l in &laps {
        let car: Vec<&&LapRow> = laps
            .iter()
            .filter(|o| o.session_id == l.session_id && o.car_number == l.car_number)
            .collect();
        let session: Vec<&&LapRow> = laps.iter().filter(|o| o.session_id == l.session_id).collect();
        let mut row = vec![
            ("session_id", json!(l.session_id.to_string())),
            ("car_number", json!(l.car_number)),
            (
                "driver_code",
                json!(drivers.get(&(l.session_id.to_string(), l.car_number))),
            ),
            ("lap", json!(l.lap)),
            ("lap_time_ms", json!(l.lap_time_ms)),
            ("sector1_ms", json!(l.sector1_ms)),
            ("sector2_ms", json!(l.sector2_ms)),
            ("sector3_ms", json!(l.sector3_ms)),
            (
                "personal_best",
                json!(l.lap_time_ms == least(car.iter().map(|o| o.lap_time_ms))),
            ),
            (
                "overall_best",
                json!(l.lap_time_ms == least(session.iter().map(|o| o.lap_time_ms))),
            ),
        ];
        const NAMES: [[&str; 2]; 3] = [
            ["sector1_personal_best", "sector1_overall_best"],
            ["sector2_personal_best", "sector2_overall_best"],
            ["sector3_personal_best", "sector3_overall_best"],
        ];
        for (k, [personal, overall]) in NAMES.into_iter().enumerate() {
            let mine = sectors(l)[k];
            let best = |of: &[&&LapRow]| mine.is_some() && mine == least(of.iter().map(|o| sectors(o)[k]));
            row.push((personal, json!(best(&car))));
            row.push((overall, json!(best(&session))));
        }
        out.push(object(row));
    }
    out
}

/// `sector_bests`: each car's best sectors and ideal lap, and the
/// session's.
pub fn sector_bests(b: &Batch) -> Vec<Row> {
    let drivers = drivers(b);
    let mut cars: BTreeMap<Car, [Option<i64>; 4]> = BTreeMap::new();
    for l in &b.laps {
        let bests = cars
            .entry((l.session_id.to_string(), l.car_number))
            .or_insert([None; 4]);
        for (best, value) in bests
            .iter_mut()
            .zip([l.sector1_ms, l.sector2_ms, l.sector3_ms, l.lap_time_ms])
        {
            *best = least([*best, value].into_iter());
        }
    }
    let sum = |s: [Option<i64>; 3]| Some(s[0]? + s[1]? + s[2]?);
    let mut session_bests: BTreeMap<String, [Option<i64>; 3]> = BTreeMap::new();
    for ((session, _), bests) in &cars {
        let s = session_bests.entry(session.clone()).or_insert([None; 3]);
        for k in 0..3 {
            s[k] = least([s[k], bests[k]].into_iter());
        }
    }
    cars.iter()
        .map(|((session, car), b)| {
            let s = session_bests[session];
            object(vec![
                ("session_id", json!(session)),
                ("car_number", json!(car)),
                ("driver_code", json!(drivers.get(&(session.clone(), *car)))),
                ("best_sector1_ms", json!(b[0])),
                ("best_sector2_ms", json!(b[1])),
                ("best_sector3_ms", json!(b[2])),
                ("ideal_lap_ms", json!(sum([b[0], b[1], b[2]]))),
                ("best_lap_ms", json!(b[3])),
                ("session_best_sector1_ms", json!(s[0])),
                ("session_best_sector2_ms", json!(s[1])),
                ("session_best_sector3_ms", json!(s[2])),
                ("session_ideal_lap_ms", json!(sum(s))),
            ])
        })
        .collect()
}

/// The least-squares slope of `y` over `x` (null below two points or when
/// every `x` is the same), as SQL's `regr_slope`.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx != 0.0).then(|| sxy / sxx)
}

/// `tyre_degradation`: per car, stints of laps split where the lap's
/// highest tyre wear drops below the lap before's.
pub fn tyre_degradation(b: &Batch) -> Vec<Row> {
    let drivers = drivers(b);
    let mut cars: BTreeMap<Car, Vec<&LapRow>> = BTreeMap::new();
    for l in &b.laps {
        cars.entry((l.session_id.to_string(), l.car_number))
            .or_default()
            .push(l);
    }
    let mut out = Vec::new();
    for ((session, car), mut laps) in cars {
        laps.sort_by_key(|l| l.lap);
        let mut stints: Vec<Vec<&LapRow>> = Vec::new();
        let mut before: Option<f64> = None;
        for l in laps {
            let wear = l.max_tire_wear_pct.map(|w| w.get());
            let new = matches!((wear, before), (Some(w), Some(p)) if w < p);
            if new || stints.is_empty() {
                stints.push(Vec::new());
            }
            stints.last_mut().expect("a stint").push(l);
            before = wear;
        }
        for (i, stint) in stints.iter().enumerate() {
            let wear: Vec<(f64, f64)> = stint
                .iter()
                .filter_map(|l| Some((f64::from(l.lap), l.max_tire_wear_pct?.get())))
                .collect();
            let times: Vec<(f64, f64)> = stint
                .iter()
                .filter_map(|l| Some((f64::from(l.lap), l.lap_time_ms? as f64)))
                .collect();
            let fold = |f: fn(f64, f64) -> f64| wear.iter().map(|p| p.1).reduce(f);
            out.push(object(vec![
                ("session_id", json!(session)),
                ("car_number", json!(car)),
                ("driver_code", json!(drivers.get(&(session.clone(), car)))),
                ("stint", json!(i + 1)),
                ("first_lap", json!(stint.first().map(|l| l.lap))),
                ("last_lap", json!(stint.last().map(|l| l.lap))),
                ("laps", json!(stint.len())),
                ("start_wear_pct", json!(fold(f64::min))),
                ("end_wear_pct", json!(fold(f64::max))),
                ("wear_per_lap_pct", json!(slope(&wear))),
                ("lap_time_slope_ms", json!(slope(&times))),
                (
                    "avg_lap_time_ms",
                    json!(
                        (!times.is_empty())
                            .then(|| times.iter().map(|p| p.1).sum::<f64>() / times.len() as f64)
                    ),
                ),
            ]));
        }
    }
    out
}

/// `speed_trap`: each car's fastest position sample per sector (earliest,
/// then lowest event id, on ties).
pub fn speed_trap(b: &Batch) -> Vec<Row> {
    let drivers = drivers(b);
    type Sample = (f64, i64, String, u8, f64, f64);
    let mut best: BTreeMap<(String, u8, u8), Sample> = BTreeMap::new();
    for r in &b.silver {
        let e = &r.event;
        let Payload::Position {
            x_m,
            y_m,
            speed_kph,
            sector,
            ..
        } = &e.payload
        else {
            continue;
        };
        let sample = (
            speed_kph.get(),
            e.timestamp_ms,
            e.event_id().to_string(),
            e.lap,
            x_m.get(),
            y_m.get(),
        );
        let slot = best
            .entry((e.session_id.to_string(), e.car_number, *sector))
            .or_insert(sample.clone());
        let better = sample.0 > slot.0 || (sample.0 == slot.0 && (sample.1, &sample.2) < (slot.1, &slot.2));
        if better {
            *slot = sample;
        }
    }
    let mut car_top: BTreeMap<Car, f64> = BTreeMap::new();
    for ((session, car, _), s) in &best {
        let top = car_top.entry((session.clone(), *car)).or_insert(s.0);
        *top = top.max(s.0);
    }
    best.iter()
        .map(|((session, car, sector), (speed, at, _, lap, x, y))| {
            object(vec![
                ("session_id", json!(session)),
                ("car_number", json!(car)),
                ("driver_code", json!(drivers.get(&(session.clone(), *car)))),
                ("sector", json!(sector)),
                ("top_speed_kph", json!(speed)),
                (
                    "car_top_speed",
                    json!(*speed == car_top[&(session.clone(), *car)]),
                ),
                ("lap", json!(lap)),
                ("x_m", json!(x)),
                ("y_m", json!(y)),
                ("timestamp_ms", json!(at)),
            ])
        })
        .collect()
}
