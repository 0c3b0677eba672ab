//! Shared test helpers: the batch reference, simulated record sets, and a
//! harness that runs the dataflow in-process on N workers.
#![allow(dead_code, unused_imports)]

pub mod broker;
pub mod tables;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use racecast_connectors::simulator::{SimConfig, SimRecord, Simulator, entry_list};
use racecast_dataflow::bronze::{Ingested, RecordKind};
use racecast_dataflow::{Format, Limits, codec::json, pipeline};
use timely::dataflow::operators::{Input, Inspect, Probe};
use timely::dataflow::{InputHandle, ProbeHandle};

pub use racecast_dataflow::reference::{Batch, batch};
pub use racecast_dataflow::testing::{Accumulated, run_dataflow};

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
