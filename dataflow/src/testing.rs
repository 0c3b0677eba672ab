//! Test support (the `testing` feature, and this crate's own tests): events
//! to build test collections from, and a harness that runs the whole
//! pipeline in-process on N workers, shared by every crate's tests so that
//! they test against the same rows and the same reference
//! ([`crate::reference`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use timely::dataflow::operators::{Input, Inspect, Probe};
use timely::dataflow::{InputHandle, ProbeHandle};

use crate::bronze::Ingested;
use crate::codec::Limits;
use crate::date::SessionDate;
use crate::event::{Event, EventId, EventType, Payload, StoredId};
use crate::expect::Suite;
use crate::gold::{LapRow, SessionRow};
use crate::pipeline;
use crate::real::Real;
use crate::reference::Batch;
use crate::silver::SilverRow;
use crate::symbol::Symbol;

/// A position event of car `car` with sequence `sequence` (its id, as a
/// canonical id or as text), `revision` and speed `speed`.
pub fn position(car: u8, sequence: u64, text_id: bool, revision: u32, speed: u8) -> Event {
    let session_id = Symbol::intern("2026-test-R");
    let event_id = if text_id {
        EventId::Text(format!("other-{car}-{sequence}").into())
    } else {
        EventId::Canonical {
            session: session_id,
            car,
            event_type: EventType::Position,
            sequence,
        }
    };
    Event {
        id: StoredId::for_id(event_id, session_id, car, EventType::Position, sequence),
        revision,
        session_id,
        session_date: SessionDate::from_ymd(2026, 5, 24).expect("a date"),
        car_number: car,
        lap: 1 + (sequence % 3) as u8,
        timestamp_ms: 1_780_000_000_000 + sequence as i64,
        sequence,
        payload: Payload::Position {
            x_m: Real(0.0),
            y_m: Real(0.0),
            z_m: Real(0.0),
            speed_kph: Real(f64::from(speed)),
            heading_deg: Real(0.0),
            sector: 1,
        },
    }
}

/// Collections accumulated from the dataflow's outputs: row → multiplicity.
#[derive(Debug, Default)]
pub struct Accumulated {
    /// Silver rows.
    pub silver: BTreeMap<SilverRow, isize>,
    /// Lap rows.
    pub laps: BTreeMap<LapRow, isize>,
    /// Session rows.
    pub sessions: BTreeMap<SessionRow, isize>,
    /// Quarantined records.
    pub quarantined: usize,
    /// Bronze rows.
    pub bronze: usize,
}

impl Accumulated {
    /// As a [`Batch`], asserting every multiplicity is exactly 1.
    pub fn into_batch(self) -> Batch {
        fn set<T: Ord + std::fmt::Debug>(map: BTreeMap<T, isize>, what: &str) -> BTreeSet<T> {
            map.into_iter()
                .filter(|(_, c)| *c != 0)
                .map(|(row, c)| {
                    assert_eq!(c, 1, "{what} row with multiplicity {c}: {row:?}");
                    row
                })
                .collect()
        }
        Batch {
            silver: set(self.silver, "silver"),
            laps: set(self.laps, "lap"),
            sessions: set(self.sessions, "session"),
            quarantined: self.quarantined,
            bronze: self.bronze,
        }
    }
}

/// Runs the pipeline on `workers` threads. `epochs` assigns each record its
/// epoch (records are fed in the order given, worker `i % workers` feeding
/// record `i`). Returns what the outputs accumulate to.
pub fn run_dataflow(records: Vec<Ingested>, epochs: Vec<u64>, workers: usize) -> Accumulated {
    run_dataflow_with(records, epochs, workers, Arc::new(Suite::default()))
}

/// [`run_dataflow`] validating with the expectation `suite`.
pub fn run_dataflow_with(
    records: Vec<Ingested>,
    epochs: Vec<u64>,
    workers: usize,
    suite: Arc<Suite>,
) -> Accumulated {
    assert_eq!(records.len(), epochs.len());
    let shared = Arc::new((records, epochs));
    let result = Arc::new(Mutex::new(Accumulated::default()));
    let sink = Arc::clone(&result);
    timely::execute(timely::Config::process(workers), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let mut input = InputHandle::new();
        let probe = ProbeHandle::new();
        let sink = Arc::clone(&sink);
        worker.dataflow::<u64, _, _>(|scope| {
            let records = scope.input_from(&mut input);
            let out = pipeline::build(records, Limits::default(), Arc::clone(&suite), None, None);
            let s = Arc::clone(&sink);
            out.silver.inner.inspect(move |(row, _, d)| {
                *s.lock().expect("lock").silver.entry(row.clone()).or_default() += d;
            });
            let s = Arc::clone(&sink);
            out.lap_metrics.inner.inspect(move |(row, _, d)| {
                *s.lock().expect("lock").laps.entry(row.clone()).or_default() += d;
            });
            let s = Arc::clone(&sink);
            out.session_metrics.inner.inspect(move |(row, _, d)| {
                *s.lock().expect("lock").sessions.entry(row.clone()).or_default() += d;
            });
            let s = Arc::clone(&sink);
            out.quarantine
                .inspect(move |_| s.lock().expect("lock").quarantined += 1);
            let s = Arc::clone(&sink);
            out.bronze
                .inspect(move |_| s.lock().expect("lock").bronze += 1)
                .probe_with(&probe);
        });
        let (records, epochs) = &*shared;
        for (i, (record, &epoch)) in records.iter().zip(epochs).enumerate() {
            if i % peers == index {
                if epoch > *input.time() {
                    input.advance_to(epoch);
                }
                input.send(record.clone());
            }
        }
    })
    .expect("timely runs");
    Arc::try_unwrap(result)
        .map_err(|_| ())
        .expect("workers are done")
        .into_inner()
        .expect("lock")
}

/// A silver row (no entry) of a [`position`] event.
pub fn silver_row(car: u8, sequence: u64, text_id: bool, revision: u32, speed: u8) -> SilverRow {
    SilverRow {
        event: position(car, sequence, text_id, revision, speed),
        entry: None,
    }
}
