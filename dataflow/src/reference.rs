//! The batch reference (the `testing` feature): silver and gold computed in
//! one pass over a set of records with plain loops, straight from SPEC
//! §2-§3. Deliberately dumb and independent of the dataflow's silver and
//! gold code (it shares only the decoder and the row types): every crate's
//! tests compare what they produce (dataflow output, Delta tables, Kafka
//! folds, query results) with [`batch`].

use std::collections::{BTreeMap, BTreeSet};

use crate::bronze::{Ingested, RecordKind, validate_event};
use crate::event::{Event, Payload};
use crate::expect::Suite;
use crate::gold::{LapRow, SessionRow};
use crate::silver::SilverRow;
use crate::{Entry, Limits, Real, decode_entry};

/// What a batch computation gives for a set of records.
#[derive(Debug, Default, PartialEq)]
pub struct Batch {
    /// Silver rows.
    pub silver: BTreeSet<SilverRow>,
    /// `gold.lap_metrics` rows.
    pub laps: BTreeSet<LapRow>,
    /// `gold.session_metrics` rows.
    pub sessions: BTreeSet<SessionRow>,
    /// Invalid records.
    pub quarantined: usize,
    /// Records (bronze rows).
    pub bronze: usize,
}

fn fixed(v: f64) -> i128 {
    (v * 2f64.powi(72)) as i128
}

fn mean(values: &[f64]) -> Option<Real> {
    if values.is_empty() {
        return None;
    }
    let sum: i128 = values.iter().map(|&v| fixed(v)).sum();
    Some(Real((sum as f64) * 2f64.powi(-72) / values.len() as f64))
}

fn max(values: &[f64]) -> Option<Real> {
    values.iter().map(|&v| Real(v)).max()
}

fn pct(hits: usize, of: usize) -> Option<Real> {
    (of > 0).then(|| Real(100.0 * hits as f64 / of as f64))
}

/// Bronze, quarantine, silver and gold of `records`, computed in one batch.
pub fn batch(records: &[Ingested]) -> Batch {
    batch_with(records, &Suite::default())
}

/// [`batch`] with an expectation suite: an event that fails one of its
/// quarantining expectations is invalid.
pub fn batch_with(records: &[Ingested], suite: &Suite) -> Batch {
    let limits = Limits::default();
    let mut out = Batch {
        bronze: records.len(),
        ..Batch::default()
    };
    let mut winners: BTreeMap<String, Event> = BTreeMap::new();
    let entries = entry_list(records);
    for r in records {
        match r.kind {
            RecordKind::Event => match validate_event(&r.bytes, r.format, &limits, suite, None) {
                Ok(e) => {
                    let id = e.event_id().to_string();
                    let better = winners
                        .get(&id)
                        .is_none_or(|w| (e.revision, &e) > (w.revision, w));
                    if better {
                        winners.insert(id, e);
                    }
                }
                Err(_) => out.quarantined += 1,
            },
            RecordKind::Entry => {
                if decode_entry(&r.bytes, r.format, &limits).is_err() {
                    out.quarantined += 1;
                }
            }
        }
    }
    for e in winners.values() {
        let entry = entries.get(&(e.session_id.to_string(), e.car_number)).cloned();
        out.silver.insert(SilverRow {
            event: e.clone(),
            entry,
        });
    }
    let (laps, sessions) = gold(&out.silver);
    out.laps = laps;
    out.sessions = sessions;
    out
}

/// The entry list: each car's (`session_id`, `car_number`) valid entry
/// record with the highest revision (ties by the records' order).
pub fn entry_list(records: &[Ingested]) -> BTreeMap<(String, u8), Entry> {
    let limits = Limits::default();
    let mut entries: BTreeMap<(String, u8), Entry> = BTreeMap::new();
    for r in records.iter().filter(|r| r.kind == RecordKind::Entry) {
        if let Ok(e) = decode_entry(&r.bytes, r.format, &limits) {
            let key = (e.session_id.to_string(), e.car_number);
            let better = entries
                .get(&key)
                .is_none_or(|w| (e.revision, &e) > (w.revision, w));
            if better {
                entries.insert(key, e);
            }
        }
    }
    entries
}

/// Gold (lap rows, session rows) of a silver collection, straight from
/// SPEC §3.
pub fn gold(silver: &BTreeSet<SilverRow>) -> (BTreeSet<LapRow>, BTreeSet<SessionRow>) {
    let mut out = Batch::default();
    let mut laps: BTreeMap<(String, u8, u8), Vec<&Event>> = BTreeMap::new();
    for row in silver {
        let e = &row.event;
        laps.entry((e.session_id.to_string(), e.car_number, e.lap))
            .or_default()
            .push(e);
    }
    // Lap starts and sector starts.
    let min_ts = |events: &[&Event], sector: Option<u8>| -> Option<i64> {
        events
            .iter()
            .filter(|e| matches!(&e.payload, Payload::Position { sector: s, .. } if sector.is_none_or(|k| k == *s)))
            .map(|e| e.timestamp_ms)
            .min()
    };
    let start_of = |key: &(String, u8, u8)| laps.get(key).and_then(|events| min_ts(events, None));
    for (key, events) in &laps {
        let (session, car, lap) = key;
        let start = min_ts(events, None);
        let next = start_of(&(session.clone(), *car, lap + 1));
        let (s1, s2, s3) = (
            min_ts(events, Some(1)),
            min_ts(events, Some(2)),
            min_ts(events, Some(3)),
        );
        let diff = |a: Option<i64>, b: Option<i64>| Some(a? - b?);
        let mut speeds = vec![];
        let (mut throttles, mut full, mut braking, mut gears) = (vec![], 0, 0, vec![]);
        let (mut rpms, mut temps, mut wears, mut drs, mut aero, mut yellow) =
            (vec![], vec![], vec![], 0, 0, false);
        for e in events {
            match &e.payload {
                Payload::Position { speed_kph, .. } => speeds.push(speed_kph.0),
                Payload::Dynamics {
                    throttle_pct,
                    brake_pct,
                    gear,
                    ..
                } => {
                    throttles.push(throttle_pct.0);
                    full += usize::from(throttle_pct.0 >= 98.0);
                    braking += usize::from(brake_pct.0 > 5.0);
                    gears.push((e.timestamp_ms, e.sequence, *gear));
                }
                Payload::PowerUnit { rpm, .. } => rpms.push(rpm.0),
                Payload::Tire {
                    surface_temp_c,
                    wear_pct,
                    ..
                } => {
                    temps.push(surface_temp_c.0);
                    wears.push(wear_pct.0);
                }
                Payload::Aerodynamics { drs_open, .. } => {
                    aero += 1;
                    drs += usize::from(*drs_open);
                }
                Payload::System(s) => yellow |= s.flag.is_yellow(),
            }
        }
        gears.sort();
        let gear_changes = gears.windows(2).filter(|w| w[0].2 != w[1].2).count() as i64;
        out.laps.insert(LapRow {
            session_id: events[0].session_id,
            car_number: *car,
            lap: *lap,
            session_date: events.iter().map(|e| e.session_date).min(),
            lap_start_ms: start,
            lap_time_ms: diff(next, start),
            sector1_ms: diff(s2, s1),
            sector2_ms: diff(s3, s2),
            sector3_ms: diff(next, s3),
            position_samples: speeds.len() as i64,
            avg_speed_kph: mean(&speeds),
            max_speed_kph: max(&speeds),
            avg_throttle_pct: mean(&throttles),
            full_throttle_pct: pct(full, throttles.len()),
            braking_pct: pct(braking, throttles.len()),
            gear_changes,
            max_rpm: max(&rpms),
            avg_rpm: mean(&rpms),
            max_tire_temp_c: max(&temps),
            max_tire_wear_pct: max(&wears),
            drs_open_pct: pct(drs, aero),
            yellow_flag: yellow,
            events: events.len() as i64,
        });
    }
    // Sessions.
    let mut cars: BTreeMap<(String, u8), Vec<&LapRow>> = BTreeMap::new();
    for row in &out.laps {
        cars.entry((row.session_id.to_string(), row.car_number))
            .or_default()
            .push(row);
    }
    let mut summaries: BTreeMap<String, Vec<SessionRow>> = BTreeMap::new();
    for ((session, car), rows) in &cars {
        let done: Vec<(i64, u8)> = rows
            .iter()
            .filter_map(|r| r.lap_time_ms.map(|t| (t, r.lap)))
            .collect();
        let best = done.iter().min().copied();
        summaries.entry(session.clone()).or_default().push(SessionRow {
            session_id: rows[0].session_id,
            car_number: *car,
            session_date: rows.iter().filter_map(|r| r.session_date).min(),
            laps_completed: done.len() as i64,
            best_lap_ms: best.map(|b| b.0),
            best_lap: best.map(|b| b.1),
            total_time_ms: done.iter().map(|d| d.0).sum(),
            top_speed_kph: rows.iter().filter_map(|r| r.max_speed_kph).max(),
            position: 0,
            gap_to_leader_ms: None,
            fastest_lap: false,
        });
    }
    for (_, mut rows) in summaries {
        rows.sort_by_key(|r| (std::cmp::Reverse(r.laps_completed), r.total_time_ms, r.car_number));
        let leader = (rows[0].laps_completed, rows[0].total_time_ms);
        let fastest = rows
            .iter()
            .filter_map(|r| r.best_lap_ms.map(|t| (t, r.car_number)))
            .min();
        for (i, row) in rows.iter_mut().enumerate() {
            row.position = i as i64 + 1;
            row.gap_to_leader_ms = (row.laps_completed == leader.0).then(|| row.total_time_ms - leader.1);
            row.fastest_lap = fastest.is_some_and(|(_, car)| car == row.car_number);
            out.sessions.insert(row.clone());
        }
    }
    (out.laps, out.sessions)
}
