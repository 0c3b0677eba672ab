//! Shared test helpers: the batch reference, simulated record sets, and a
//! harness that runs the dataflow in-process on N workers.
#![allow(dead_code, unused_imports)]

pub mod broker;
pub mod tables;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use racecast_dataflow::bronze::{Ingested, RecordKind};
use racecast_dataflow::{Format, Limits, codec::json, pipeline};
use racecast_sim::{SimConfig, SimRecord, Simulator, entry_list};
use timely::dataflow::operators::{Input, Inspect, Probe};
use timely::dataflow::{InputHandle, ProbeHandle};

pub use racecast_dataflow::reference::{Batch, batch};
pub use racecast_dataflow::testing::{Accumulated, run_dataflow};
pub use racecast_sim::simulated;

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
