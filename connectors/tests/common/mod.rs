//! Shared test helpers: the batch reference, simulated record sets, and a
//! harness that runs the dataflow in-process on N workers.
#![allow(dead_code, unused_imports)]

pub mod broker;
pub mod reference;
pub mod tables;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use racecast_connectors::simulator::{SimConfig, SimRecord, Simulator, entry_list};
use racecast_dataflow::bronze::{Ingested, RecordKind};
use racecast_dataflow::{Format, Limits, codec::json, pipeline};
use timely::dataflow::operators::{Input, Inspect, Probe};
use timely::dataflow::{InputHandle, ProbeHandle};

pub use reference::{Batch, batch};

/// The records of a simulated race (events in arrival order, entries first).
pub fn simulated(config: &SimConfig, format: Format) -> Vec<Ingested> {
    let mut records = Vec::new();
    for entry in entry_list(config) {
        let mut bytes = Vec::new();
        match format {
            Format::Json => json::encode_entry(&entry, &mut bytes),
            Format::Protobuf => prost::Message::encode(&entry, &mut bytes).expect("vec"),
        }
        records.push((RecordKind::Entry, bytes));
    }
    for d in Simulator::new(config.clone()) {
        let bytes = match d.record {
            SimRecord::Event(e) => {
                let mut bytes = Vec::new();
                match format {
                    Format::Json => json::encode_event(&e, &mut bytes),
                    Format::Protobuf => prost::Message::encode(&e, &mut bytes).expect("vec"),
                }
                bytes
            }
            SimRecord::Garbage(bytes) => bytes,
        };
        records.push((RecordKind::Event, bytes));
    }
    records
        .into_iter()
        .enumerate()
        .map(|(i, (kind, bytes))| Ingested {
            source: 0,
            partition: 0,
            offset: i as u64,
            ingested_ms: 0,
            kind,
            format,
            bytes,
        })
        .collect()
}

/// Collections accumulated from the dataflow's outputs: row → multiplicity.
#[derive(Debug, Default)]
pub struct Accumulated {
    pub silver: BTreeMap<racecast_dataflow::silver::SilverRow, isize>,
    pub laps: BTreeMap<racecast_dataflow::gold::LapRow, isize>,
    pub sessions: BTreeMap<racecast_dataflow::gold::SessionRow, isize>,
    pub quarantined: usize,
    pub bronze: usize,
}

impl Accumulated {
    /// As a [`Batch`], asserting every multiplicity is exactly 1.
    pub fn into_batch(self) -> Batch {
        fn set<T: Ord + std::fmt::Debug>(
            map: BTreeMap<T, isize>,
            what: &str,
        ) -> std::collections::BTreeSet<T> {
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
            let out = pipeline::build(records, Limits::default(), None);
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

/// Runs `config()` as two timely processes (one worker each, threads of
/// this test talking over loopback TCP); returns each process's summary.
pub fn run_two_processes(
    config: impl Fn() -> racecast_connectors::run::RunConfig,
) -> Vec<racecast_connectors::run::RunSummary> {
    let addresses: Vec<String> = (0..2)
        .map(|_| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("address").to_string()
        })
        .collect();
    let handles: Vec<_> = (0..2)
        .map(|process| {
            let config = config();
            let addresses = addresses.clone();
            std::thread::spawn(move || {
                let timely = timely::Config {
                    communication: timely::CommunicationConfig::Cluster {
                        threads: 1,
                        process,
                        addresses,
                        report: false,
                        zerocopy: false,
                    },
                    worker: timely::WorkerConfig::default(),
                };
                racecast_connectors::run::run(
                    config,
                    timely,
                    Arc::new(std::sync::atomic::AtomicBool::new(false)),
                )
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("process thread").expect("run succeeds"))
        .collect()
}

/// Writes the records as an entry file and an event file.
pub fn write_files(dir: &std::path::Path, records: &[Ingested]) -> (std::path::PathBuf, std::path::PathBuf) {
    let (entries, events) = (dir.join("entries.pb"), dir.join("events.pb"));
    let mut e = racecast_connectors::files::RecordWriter::create(&entries).expect("create");
    let mut v = racecast_connectors::files::RecordWriter::create(&events).expect("create");
    for r in records {
        match r.kind {
            RecordKind::Entry => e.write_raw(&r.bytes).expect("write"),
            RecordKind::Event => v.write_raw(&r.bytes).expect("write"),
        }
    }
    e.finish().expect("flush");
    v.finish().expect("flush");
    (entries, events)
}
